"""MedicationRequest -> ``prescriptions[]``: drug, dose, frequency, route, duration."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from cdss.fhir import codes as fc
from cdss.fhir.build import Builder, codes, codings, concept_text
from cdss.fhir.ucum import contract_unit, dosage_unit, is_count_unit, quantity
from cdss.models import Frequency

#: Timing.repeat.periodUnit in days (UCUM definitions: mo = 1/12 a, a = 365.25 d)
_PERIOD_DAYS = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1, "wk": 7,
                "mo": 365.25 / 12, "a": 365.25}
#: repeat patterns the contract has a code for: (frequency, period, unit) -> code
_REPEAT_CODES = {(1, 1, "d"): "qd", (2, 1, "d"): "bid", (3, 1, "d"): "tid",
                 (4, 1, "d"): "qid", (1, 4, "h"): "q4h", (1, 6, "h"): "q6h",
                 (1, 8, "h"): "q8h", (1, 12, "h"): "q12h", (1, 2, "d"): "qod",
                 (1, 1, "wk"): "qw"}


def map_medication_request(b: Builder, res: dict[str, Any], path: str,
                           medications: dict[str, dict[str, Any]]) -> None:
    """A current MedicationRequest as a prescription; a stopped one is a note."""
    status = res.get("status")
    if status in fc.NOT_CURRENT:
        b.note(f"{path}.status", f"{status}: not a current prescription")
        return
    concept, where = _medication(res, path, medications)
    drug = _drug_name(b, concept)
    if drug is None:
        b.note(where, "no medication name or code: not used")
        return
    rx: dict[str, Any] = {"drug": drug}
    if isinstance(res.get("id"), str):  # for the service's card actions on this order
        rx["fhir_ref"] = f"MedicationRequest/{res['id']}"
    dosages = [d for d in res.get("dosageInstruction") or [] if isinstance(d, dict)]
    if len(dosages) > 1:
        b.note(f"{path}.dosageInstruction[1]", "only the first dosage instruction is checked")
    if dosages:
        _dosage(b, rx, dosages[0], f"{path}.dosageInstruction[0]")
    supply = (res.get("dispenseRequest") or {}).get("expectedSupplyDuration")
    bounds = ((dosages[0].get("timing") or {}).get("repeat") or {}).get(
        "boundsDuration") if dosages else None
    duration = quantity(supply) or quantity(bounds)
    if duration is not None:
        rx["duration"] = duration
    b.sources[f"prescriptions[{len(b.prescriptions)}]"] = path
    b.prescriptions.append(rx)


def _medication(res: dict[str, Any], path: str, medications: dict[str, dict[str, Any]]
                ) -> tuple[dict[str, Any] | None, str]:
    if "medicationCodeableConcept" in res:
        return res["medicationCodeableConcept"], f"{path}.medicationCodeableConcept"
    ref = (res.get("medicationReference") or {}).get("reference")
    if isinstance(ref, str):
        key = ref[1:] if ref.startswith("#") else ref
        for med in res.get("contained") or []:
            if isinstance(med, dict) and med.get("id") == key:
                return med.get("code"), f"{path}.contained"
        if key in medications:
            return medications[key].get("code"), ref
    return None, f"{path}.medicationReference"


def _drug_name(b: Builder, concept: Any) -> str | None:
    """The first name the knowledge knows (the text as written, then ATC codes, then
    displays and codes); failing that the text (reported as an unknown drug)."""
    if not isinstance(concept, dict):
        return None
    candidates = [concept["text"].strip()] if isinstance(concept.get("text"), str) else []
    candidates += codes(concept, fc.ATC)
    for c in codings(concept):
        candidates += [c[k].strip() for k in ("display", "code") if isinstance(c.get(k), str)]
    candidates = [c for c in candidates if c]
    known = next((c for c in candidates if b.kb.resolve_drug(c) is not None), None)
    return known or concept_text(concept)


def _dosage(b: Builder, rx: dict[str, Any], dosage: dict[str, Any], path: str) -> None:
    dose_and_rate = [d for d in dosage.get("doseAndRate") or [] if isinstance(d, dict)]
    dose = next((d["doseQuantity"] for d in dose_and_rate if d.get("doseQuantity")), None)
    if dose is not None:
        _dose(b, rx, dose, f"{path}.doseAndRate[0].doseQuantity")
    elif any("doseRange" in d for d in dose_and_rate):
        b.note(f"{path}.doseAndRate[0].doseRange", "a dose range is not checked")
    route = _route(dosage.get("route"))
    if route:
        rx["route"] = route
    frequency = _frequency(b, dosage, path)
    as_needed = dosage.get("asNeededBoolean") is True or "asNeededCodeableConcept" in dosage
    if as_needed and frequency is None:
        frequency = "prn"
    elif as_needed:
        b.note(f"{path}.asNeeded", "as needed: checked at the most frequent use its timing "
                                   "allows")
    if frequency is not None:
        rx["frequency"] = frequency


def _dose(b: Builder, rx: dict[str, Any], dose: dict[str, Any], path: str) -> None:
    if is_count_unit(dose.get("code")) or is_count_unit(dose.get("unit")):
        unit = dosage_unit(dose.get("code"), dose.get("unit"))
        if unit is None or dose.get("value") is None:
            b.note(path, "a dose in dosage units the contract does not name (tablets, "
                         "capsules, sachets, ampoules, pills are): not used")
            return
        # converted through the product's strength where the knowledge has one
        rx["dose"] = {"value": dose["value"], "unit": unit}
        return
    value = quantity(dose)
    if value is None:
        return
    if contract_unit(dose.get("code"), dose.get("unit")) in ("mL", "ml", "L"):
        b.note(path, "a dose by volume without the product's strength: the dose cannot be "
                     "checked against mg limits")
    rx["dose"] = value


def _route(route: Any) -> str | None:
    for code in codes(route, fc.SNOMED):
        if code in fc.ROUTE_SNOMED:
            return fc.ROUTE_SNOMED[code]
    return concept_text(route)


def _frequency(b: Builder, dosage: dict[str, Any], path: str) -> Any:
    """The timing as a contract frequency: ``timing.code`` text the contract reads,
    else its TimingAbbreviation coding, else ``timing.repeat``."""
    timing = dosage.get("timing") or {}
    code = timing.get("code") or {}
    text = code.get("text") if isinstance(code.get("text"), str) else None
    gts = next((fc.GTS_FREQUENCY[c] for c in codes(code, fc.GTS) if c in fc.GTS_FREQUENCY),
               None)
    if any(c == "MO" for c in codes(code, fc.GTS)) and not timing.get("repeat"):
        b.note(f"{path}.timing.code", "monthly: no fixed number of days, frequency not used")
    from_text = _parse(text) if text else None
    if from_text is not None and (gts is None or _per_day(gts) == _per_day(from_text)):
        return from_text
    if gts is not None:
        if from_text is not None:
            b.note(f"{path}.timing.code", "text and coding disagree: the coding used")
        return gts
    repeat = timing.get("repeat")
    if isinstance(repeat, dict) and repeat.get("period") is not None:
        return _from_repeat(b, repeat, f"{path}.timing.repeat")
    if isinstance(repeat, dict) and repeat.get("count") == 1:
        return "once"
    if text:
        b.note(f"{path}.timing.code.text", "a frequency cdss cannot read: not used")
    return None


def _parse(text: str) -> Any:
    try:
        Frequency.model_validate(text)
    except ValidationError:
        return None
    return text


def _per_day(frequency: Any) -> float | None:
    try:
        return Frequency.model_validate(frequency).times_per_day
    except ValidationError:
        return None


def _from_repeat(b: Builder, repeat: dict[str, Any], path: str) -> Any:
    """``frequency`` (or ``frequencyMax``: the most often it may be taken) per
    ``period`` (or ``periodMax``'s shorter ``period``) ``periodUnit``."""
    unit = repeat.get("periodUnit")
    if unit not in _PERIOD_DAYS:
        b.note(f"{path}.periodUnit", "missing or unknown period unit: frequency not used")
        return None
    freq = repeat.get("frequencyMax") or repeat.get("frequency") or 1
    if repeat.get("frequencyMax"):
        b.note(f"{path}.frequencyMax", "checked at the most frequent use allowed")
    period = repeat["period"]
    key = (freq, period, unit)
    if key in _REPEAT_CODES:
        return _REPEAT_CODES[key]
    if not period or period <= 0:
        b.note(f"{path}.period", "a period that is not positive: frequency not used")
        return None
    return {"times_per_day": freq / (period * _PERIOD_DAYS[unit])}
