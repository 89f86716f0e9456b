"""Laboratory results, converted by the analyte catalogue into canonical units."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from cdss import units
from cdss.kb.analytes import analytes_by_code
from cdss.models._base import Model

_DATE_ONLY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")


class LabResult(Model):
    """One lab result. ``code`` is a contract code or a LOINC code.

    Known analytes are converted to their canonical unit (``unit``) with the bundled
    analyte table, which also checks the unit's dimension; an unknown code is kept as
    sent (``known`` is false) and reported as a note, not an error. A result without
    a value (a test ordered, no result yet) is kept with ``value`` None and is not
    used (a note). The number and unit as sent are kept (``sent_value``,
    ``sent_unit``) so that an engine with its own knowledge converts them with its
    own analyte table.
    """

    code: str = Field(min_length=1)
    value: float | str | None = None
    unit: str | None = None
    #: a date without a time ("2026-11-01") stays a date: a day, not midnight
    time: datetime | date | None = None
    known: bool = True
    #: the code as sent, when it was a LOINC code
    source_code: str | None = None
    #: the number as sent, before conversion (None without a readable number)
    sent_value: float | None = Field(default=None, repr=False)
    #: the unit as sent (None for a bare number)
    sent_unit: str | None = Field(default=None, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _normalise_code(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("code"), str):
            return data
        analyte = analytes_by_code().get(data["code"].strip())
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
        analyte = analytes_by_code().get(code) if isinstance(code, str) else None
        if raw is None:
            return None  # no result: kept, not used (derive notes it)
        if analyte is None:
            if isinstance(raw, str | int | float) and not isinstance(raw, bool):
                return raw if not isinstance(raw, int) else float(raw)
            return str(raw)
        value, unit = units.split_quantity(raw)
        if unit is not None and unit in analyte.alt_units:
            alt = analyte.alt_units[unit]
            return alt.scale * value + alt.offset
        dimension = units.Dimension(f"the unit of {analyte.name.en}", analyte.canonical)
        return units.to_canonical(
            raw, dimension, bare_ok=analyte.bare_ok, molar_mass=analyte.molar_mass
        )


def _sent(raw: Any) -> tuple[float | None, str | None]:
    """The number and unit of a value as sent; (None, None) if it is not a quantity."""
    if raw is None:
        return None, None
    try:
        return units.split_quantity(raw)
    except units.UnitProblem:
        return None, None
