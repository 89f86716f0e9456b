"""Age and body-size derivations."""

from __future__ import annotations

from datetime import date, datetime

from cdss.derive.values import Derived, Missing


def age_years(birth_date: date | None, at: datetime) -> int | Missing:
    """Completed years at the visit's local date; Missing if unknown or after the visit."""
    if birth_date is None:
        return Missing("age_years", ("patient.birth_date",))
    day = at.date()
    if birth_date > day:
        return Missing("age_years", ("patient.birth_date",), "birth date is after the visit")
    years = day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))
    return years


def age_decimal(birth_date: date | None, at: datetime) -> float | None:
    """Age in years with two decimals (days / 365.25), for infants' age limits."""
    if birth_date is None or birth_date > at.date():
        return None
    return round((at.date() - birth_date).days / 365.25, 2)


def bmi(weight_kg: float | None, height_cm: float | None, source: str) -> Derived | Missing:
    """Body-mass index, kg/m², rounded to one decimal."""
    absent = tuple(p for p, v in (("patient.weight", weight_kg), ("patient.height", height_cm))
                   if v is None)
    if absent:
        return Missing("bmi", absent)
    assert weight_kg is not None and height_cm is not None
    metres = height_cm / 100
    value = round(weight_kg / (metres * metres), 1)
    return Derived("bmi", value, "weight / height²",
                   {"weight": f"{weight_kg:g} kg", "height": f"{height_cm:g} cm"},
                   source, "kg/m²")
