"""Vital signs, in canonical units (mmHg, /min, degC, %, mmol/L)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, model_validator

from cdss import units
from cdss.models._base import (
    Celsius,
    Flag,
    MmHg,
    Model,
    Percent,
    PerMinute,
    analyte_catalogue,
    sent_quantity,
)

#: the contract's words as Chinese EMRs write them (ACVPU; glucose timing)
_WORDS = {"清醒": "alert", "神清": "alert", "意识清楚": "alert", "空腹": "fasting",
          "随机": "random", "餐后2小时": "2h_postprandial", "餐后2h": "2h_postprandial"}


def _word(value: Any) -> Any:
    return _WORDS.get(value.strip(), value) if isinstance(value, str) else value


Consciousness = Annotated[Literal["alert", "confusion", "voice", "pain", "unresponsive"],
                          BeforeValidator(_word)]
GlucoseContext = Annotated[Literal["fasting", "random", "2h_postprandial"],
                           BeforeValidator(_word)]


#: the analyte code of a glucose value (the catalogue's canonical unit and molar mass)
GLUCOSE = "glucose"


def _glucose(raw: Any, info: ValidationInfo) -> Any:
    """In the catalogue's canonical unit, when parsed with an analyte catalogue that has
    glucose (its dimension checked); otherwise None, and only ``glucose_sent`` is kept
    (the facts convert it with the engine's knowledge)."""
    analyte = (analyte_catalogue(info) or {}).get(GLUCOSE)
    if raw is None or analyte is None:
        return None
    return units.to_canonical(
        raw, units.Dimension("a glucose concentration", analyte.canonical),
        molar_mass=analyte.molar_mass,
    )


#: Glucose must carry its unit (mg/dL and mmol/L are both common).
Glucose = Annotated[float | None, BeforeValidator(_glucose)]
#: a glucose as sent: (number, unit), None if it is not a quantity
SentGlucose = tuple[float, str | None] | None


def keep_sent_glucose(data: Any, *names: str) -> Any:
    """``data`` with ``glucose_sent`` set from the first of ``names`` present."""
    if not isinstance(data, dict):
        return data
    raw = next((data[n] for n in names if n in data), None)
    return {**data, "glucose_sent": sent_quantity(raw)}


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
    #: the glucose as sent (see :data:`Glucose`)
    glucose_sent: SentGlucose = Field(default=None, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _sent(cls, data: Any) -> Any:
        return keep_sent_glucose(data, "glucose")
