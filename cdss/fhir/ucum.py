"""UCUM unit codes as the contract's quantity units (read by cdss.units with pint)."""

from __future__ import annotations

import re
from typing import Any

#: UCUM codes whose contract spelling differs (brackets, special units, powers of 10)
_UCUM: dict[str, str] = {
    "mm[Hg]": "mmHg", "Cel": "degC", "[degF]": "degF", "/min": "/min",
    "[lb_av]": "lb", "[in_i]": "inch", "[IU]": "IU", "[iU]": "IU",
    "10*9/L": "10^9/L", "10*3/uL": "10^9/L", "10*3/mm3": "10^9/L", "10*12/L": "10^12/L",
    "10*6/uL": "10^12/L", "mo": "month", "a": "year", "wk": "wk", "d": "d", "h": "hour",
    "min": "minute", "s": "second",
}
#: contract canonical units -> UCUM, for from_encounter
TO_UCUM: dict[str, str] = {
    "mmHg": "mm[Hg]", "degC": "Cel", "1/min": "/min", "/min": "/min", "percent": "%",
    "%": "%", "IU": "[IU]", "1/nL": "10*9/L", "1/pL": "10*12/L", "day": "d",
    "dimensionless": "1",
}
_ANNOTATION = re.compile(r"\{[^}]*\}")
#: the contract's dosage units as UCUM annotations (a count of dosage units: "{tbl}" is
#: the HL7 examples' tablet) and the annotations read back as each
DOSAGE_UCUM: dict[str, str] = {"tablet": "{tbl}", "capsule": "{capsule}",
                               "sachet": "{sachet}", "ampoule": "{ampule}", "pill": "{pill}"}
_DOSAGE_ANNOTATIONS: dict[str, str] = {
    "tbl": "tablet", "tab": "tablet", "tablet": "tablet", "tablets": "tablet",
    "capsule": "capsule", "cap": "capsule", "capsules": "capsule",
    "sachet": "sachet", "ampule": "ampoule", "ampoule": "ampoule", "pill": "pill"}


def dosage_unit(code: str | None, text: str | None = None) -> str | None:
    """The contract's dosage unit (``tablet``...) of a count unit such as ``{tbl}``
    (or of its human ``text``, ``tablet``); None when it names none of them."""
    for raw in (code, text):
        if raw:
            key = raw.strip().strip("{}").strip().lower()
            if key in _DOSAGE_ANNOTATIONS:
                return _DOSAGE_ANNOTATIONS[key]
    return None


def contract_unit(code: str | None, text: str | None = None) -> str | None:
    """The contract spelling of a UCUM ``code`` (else the human ``text``); ``""`` for a
    unitless value (``1``, ``{INR}``, ``{ratio}``); None when neither is given."""
    raw = code if code else text
    if raw is None:
        return None
    raw = raw.strip()
    if raw in _UCUM:
        return _UCUM[raw]
    stripped = _ANNOTATION.sub("", raw).strip()
    if stripped in ("", "1"):
        return "" if raw.startswith("{") or raw == "1" else raw
    if stripped in _UCUM:  # {beats}/min -> /min
        return _UCUM[stripped]
    return stripped


def is_count_unit(code: str | None) -> bool:
    """A dose unit such as ``{tbl}`` or ``{capsule}``: a count of dosage units."""
    return bool(code) and _ANNOTATION.sub("", code or "").strip() in ("", "1") and bool(
        _ANNOTATION.search(code or ""))


def quantity(q: dict[str, Any] | None) -> dict[str, Any] | None:
    """A FHIR Quantity as a contract quantity object; None without a value."""
    if not q or q.get("value") is None:
        return None
    unit = contract_unit(q.get("code"), q.get("unit"))
    if not unit:  # unitless (INR)
        return {"value": q["value"]}
    return {"value": q["value"], "unit": unit}


def ucum(unit: str) -> str:
    """The UCUM code of a contract unit (canonical units of cdss; a dosage unit as its
    annotation, ``{tbl}``)."""
    return DOSAGE_UCUM.get(unit) or TO_UCUM.get(unit, unit)
