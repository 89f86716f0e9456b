"""Laboratory results, converted by the analyte catalogue into canonical units."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from cdss import units
from cdss.kb.analytes import analytes_by_code
from cdss.models._base import Model


class LabResult(Model):
    """One lab result. ``code`` is a contract code or a LOINC code.

    Known analytes are converted to their canonical unit (``unit``); an unknown code
    is kept as sent (``known`` is false) and reported as a note, not an error.
    """

    code: str = Field(min_length=1)
    value: float | str | None = None
    unit: str | None = None
    time: datetime | date | None = None
    known: bool = True
    #: the code as sent, when it was a LOINC code
    source_code: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalise_code(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("code"), str):
            return data
        analyte = analytes_by_code().get(data["code"].strip())
        data = dict(data)
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

    @field_validator("value", mode="before")
    @classmethod
    def _convert(cls, raw: Any, info: ValidationInfo) -> Any:
        code = info.data.get("code")
        analyte = analytes_by_code().get(code) if isinstance(code, str) else None
        if analyte is None:
            if raw is None or (isinstance(raw, str | int | float) and not isinstance(raw, bool)):
                return raw if not isinstance(raw, int) else float(raw)
            return str(raw)
        if raw is None:
            raise ValueError("a lab result needs a value with its unit")
        value, unit = units.split_quantity(raw)
        if unit is not None and unit in analyte.alt_units:
            alt = analyte.alt_units[unit]
            return alt.scale * value + alt.offset
        dimension = units.Dimension(f"the unit of {analyte.name.en}", analyte.canonical)
        return units.to_canonical(
            raw, dimension, bare_ok=analyte.bare_ok, molar_mass=analyte.molar_mass
        )
