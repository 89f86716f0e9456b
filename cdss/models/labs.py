"""Laboratory results, converted by the analyte catalogue into canonical units."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from cdss import limits, units
from cdss.models._base import Code, InRange, Model
from cdss.models.catalogue import analytes

_DATE_ONLY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")


class LabResult(Model):
    """One lab result. ``code`` is a contract code or a LOINC code.

    Known analytes are converted to their canonical unit (``unit``) with the analyte
    catalogue passed to the parse (:mod:`cdss.models.catalogue`), which also checks
    the unit's dimension; an unknown code is kept as sent (``known`` is false) and
    reported as a note, not an error. A result without a value (a test ordered, no
    result yet) is kept with ``value`` None and is not used (a note). The number and
    unit as sent are kept (``sent_value``, ``sent_unit``): derive converts them with
    the engine's knowledge.
    """

    code: Code = Field(min_length=1)
    value: float | str | None = None
    unit: Code | None = None
    #: a date without a time ("2026-11-01") stays a date: a day, not midnight
    time: Annotated[datetime | date | None, InRange] = None
    known: bool = True
    #: the code as sent, when it was a LOINC code
    source_code: str | None = None
    #: the number as sent, before conversion (None without a readable number)
    sent_value: float | None = Field(default=None, repr=False)
    #: the unit as sent (None for a bare number)
    sent_unit: str | None = Field(default=None, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _normalise_code(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("code"), str):
            return data
        analyte = analytes(info).get(data["code"].strip())
        data = dict(data)
        data["sent_value"], data["sent_unit"] = _sent(data.get("value"))
        if analyte is None:
            data["known"] = False
            data.setdefault("unit", None)
        else:
            data["known"] = True
            if analyte.code != data["code"].strip():
                data["source_code"] = data["code"].strip()
            data["code"] = analyte.code
            data["unit"] = analyte.canonical
        return data

    @field_validator("time", mode="before")
    @classmethod
    def _date_only(cls, raw: Any) -> Any:
        """Keep "YYYY-MM-DD" a date (pydantic would read it as midnight)."""
        if isinstance(raw, str) and _DATE_ONLY.match(raw):
            try:
                return date.fromisoformat(raw.strip())
            except ValueError:
                return raw  # pydantic names the field
        return raw

    @field_validator("value", mode="before")
    @classmethod
    def _convert(cls, raw: Any, info: ValidationInfo) -> Any:
        code = info.data.get("code")
        analyte = analytes(info).get(code) if isinstance(code, str) else None
        if raw is None:
            return None  # no result: kept, not used (derive notes it)
        if analyte is None:  # kept as sent: a number, or a short text
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                return units.bounded(raw)
            text = raw if isinstance(raw, str) else _as_text(raw)
            if len(text) > limits.MAX_SHORT_TEXT_LENGTH:
                raise ValueError(f"a result given as text is longer than the limit of "
                                 f"{limits.MAX_SHORT_TEXT_LENGTH} characters")
            return text
        value, unit = units.split_quantity(raw)
        if unit is not None and unit in analyte.alt_units:
            alt = analyte.alt_units[unit]
            return units.bounded(alt.scale * value + alt.offset)
        dimension = units.Dimension(f"the unit of {analyte.name.en}", analyte.canonical)
        return units.to_canonical(
            raw, dimension, bare_ok=analyte.bare_ok, molar_mass=analyte.molar_mass
        )


def _as_text(raw: Any) -> str:
    """A value of another type as text (a quantity object of an unknown analyte)."""
    if isinstance(raw, dict) and set(raw) <= {"value", "unit"} and all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in raw.values()):
        return str(raw)
    raise ValueError("expected a number, a quantity such as '5 mmol/L' or a short text")


def _sent(raw: Any) -> tuple[float | None, str | None]:
    """The number and unit of a value as sent; (None, None) if it is not a quantity."""
    if raw is None:
        return None, None
    try:
        return units.split_quantity(raw)
    except units.UnitProblem:
        return None, None
