"""Vital signs, in canonical units (mmHg, /min, degC, %, mmol/L)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ValidationInfo

from cdss import units
from cdss.models._base import Celsius, Flag, MmHg, Model, Percent, PerMinute
from cdss.models.catalogue import analytes

#: the contract's words as Chinese EMRs write them (ACVPU; glucose timing)
_WORDS = {"清醒": "alert", "神清": "alert", "意识清楚": "alert", "空腹": "fasting",
          "随机": "random", "餐后2小时": "2h_postprandial", "餐后2h": "2h_postprandial"}


def _word(value: Any) -> Any:
    return _WORDS.get(value.strip(), value) if isinstance(value, str) else value


Consciousness = Annotated[Literal["alert", "confusion", "voice", "pain", "unresponsive"],
                          BeforeValidator(_word)]
GlucoseContext = Annotated[Literal["fasting", "random", "2h_postprandial"],
                           BeforeValidator(_word)]


def _glucose(raw: Any, info: ValidationInfo) -> Any:
    if raw is None:
        return None
    analyte = analytes(info).get("glucose")
    if analyte is None:
        raise ValueError("the knowledge in use has no glucose analyte to read it with")
    return units.to_canonical(
        raw, units.Dimension("a glucose concentration", analyte.canonical),
        molar_mass=analyte.molar_mass,
    )


#: Glucose must carry its unit (mg/dL and mmol/L are both common).
Glucose = Annotated[float, BeforeValidator(_glucose)]


class VitalSigns(Model):
    """Vital signs measured at this visit; every field may be absent."""

    sbp: MmHg | None = None
    dbp: MmHg | None = None
    heart_rate: PerMinute | None = None
    resp_rate: PerMinute | None = None
    temperature: Celsius | None = None
    spo2: Percent | None = None
    consciousness: Consciousness | None = None
    on_oxygen: Flag | None = None
    glucose: Glucose | None = None
    glucose_context: GlucoseContext | None = None
