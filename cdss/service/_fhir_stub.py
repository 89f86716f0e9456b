"""STUB: a minimal FHIR R4 -> encounter mapping, until ``cdss.fhir`` (issue #14) lands.

**Replace on merge**: ``cdss.service.mapping`` uses ``cdss.fhir.to_encounter`` when it
can be imported and falls back to this module otherwise. It reads only the commonest
shapes (Patient; vital-sign and lab Observations by LOINC; Condition ICD-10;
AllergyIntolerance; MedicationRequest with timing.repeat, doseAndRate or doseQuantity,
expectedSupplyDuration; Encounter period and location; Composition sections).
"""

from __future__ import annotations

import re
from typing import Any

_VITALS = {"8867-4": "heart_rate", "9279-1": "resp_rate", "8310-5": "temperature",
           "59408-5": "spo2", "2708-6": "spo2", "8480-6": "sbp", "8462-4": "dbp"}
_BODY = {"29463-7": "weight", "8302-2": "height"}
_UCUM = {"Cel": "degC", "mm[Hg]": "mmHg", "/min": "/min", "%": "%", "kg": "kg", "cm": "cm"}
_SECTIONS = {"10154-3": "chief_complaint", "10164-2": "present_illness",
             "11348-0": "past_history", "48765-2": "allergy_history",
             "29545-1": "physical_exam", "30954-2": "auxiliary_exams",
             "18776-5": "treatment_plan"}
_PERIOD_DAYS = {"h": 1 / 24, "d": 1, "wk": 7, "mo": 30, "min": 1 / 1440}
_TAG = re.compile(r"<[^>]*>")


def _resources(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        if value.get("resourceType") == "Bundle":
            return [e["resource"] for e in value.get("entry") or []
                    if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
        if "resourceType" in value:
            return [value]
    if isinstance(value, list):
        return [r for v in value for r in _resources(v)]
    return []


def _codes(concept: Any) -> list[tuple[str, str]]:
    return [(c.get("system", ""), str(c.get("code", "")))
            for c in (concept or {}).get("coding") or [] if isinstance(c, dict)]


def _text(concept: Any) -> str | None:
    concept = concept or {}
    if concept.get("text"):
        return str(concept["text"])
    for c in concept.get("coding") or []:
        if c.get("display"):
            return str(c["display"])
    return None


def _quantity(q: Any) -> str | None:
    if not isinstance(q, dict) or q.get("value") is None:
        return None
    unit = _UCUM.get(q.get("code") or "", q.get("unit") or q.get("code") or "")
    return f"{q['value']} {unit}".strip()


def _medication(mr: dict[str, Any]) -> dict[str, Any]:
    rx: dict[str, Any] = {"fhir_ref": f"MedicationRequest/{mr.get('id', '')}"}
    concept = mr.get("medicationCodeableConcept") or {}
    atc = [c for s, c in _codes(concept) if "atc" in s.lower()]
    rx["drug"] = atc[0] if atc else (_text(concept) or "unknown")
    dosage = (mr.get("dosageInstruction") or [{}])[0]
    dose = dosage.get("doseQuantity")
    for dr in dosage.get("doseAndRate") or []:
        dose = dr.get("doseQuantity") or dose
    if _quantity(dose):
        rx["dose"] = _quantity(dose)
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    if repeat.get("frequency") and repeat.get("periodUnit") in _PERIOD_DAYS:
        days = float(repeat.get("period") or 1) * _PERIOD_DAYS[repeat["periodUnit"]]
        rx["frequency"] = {"times_per_day": round(float(repeat["frequency"]) / days, 4)}
    if dosage.get("asNeededBoolean"):
        rx["frequency"] = "prn"
    route = _text(dosage.get("route"))
    if route:
        rx["route"] = route
    supply = (mr.get("dispenseRequest") or {}).get("expectedSupplyDuration")
    if isinstance(supply, dict) and supply.get("value") is not None:
        rx["duration"] = f"{supply['value']} d"
    return rx


def to_encounter(context: dict[str, Any], prefetch: dict[str, Any]
                 ) -> tuple[dict[str, Any], list[str], list[str]]:
    """(encounter dict, notes, errors) from a hook's context and prefetch (STUB)."""
    notes: list[str] = []
    errors: list[str] = []
    enc: dict[str, Any] = {"id": str(context.get("encounterId") or "hook"),
                           "patient": {"id": str(context.get("patientId") or "unknown")}}
    resources = [r for v in prefetch.values() for r in _resources(v)]
    orders = _resources(context.get("draftOrders"))
    vitals: dict[str, Any] = {}
    labs: list[dict[str, Any]] = []
    patient = enc["patient"]
    for r in resources:
        kind = r.get("resourceType")
        if kind == "Patient":
            if r.get("gender"):
                patient["sex"] = r["gender"]
            if r.get("birthDate"):
                patient["birth_date"] = r["birthDate"]
        elif kind == "Observation":
            codes = [c for s, c in _codes(r.get("code")) if "loinc" in s]
            parts = [(c, r.get("valueQuantity")) for c in codes]
            for comp in r.get("component") or []:
                parts += [(c, comp.get("valueQuantity")) for s, c in _codes(comp.get("code"))
                          if "loinc" in s]
            for code, q in parts:
                if code in _VITALS and _quantity(q):
                    vitals[_VITALS[code]] = _quantity(q)
                elif code in _BODY and _quantity(q):
                    patient[_BODY[code]] = _quantity(q)
                elif code != "85354-9" and _quantity(q):
                    labs.append({"code": code, "value": _quantity(q)})
        elif kind == "Condition":
            icd = [c for s, c in _codes(r.get("code")) if "icd" in s.lower()]
            if icd:
                item = {"code": icd[0], "name": _text(r.get("code")) or icd[0]}
                cats = {c for cat in r.get("category") or [] for _, c in _codes(cat)}
                key = "diagnoses" if "encounter-diagnosis" in cats else "conditions"
                (enc.setdefault("record", {}).setdefault("diagnoses", []) if key == "diagnoses"
                 else patient.setdefault("conditions", [])).append(item)
            else:
                notes.append(f"Condition/{r.get('id', '')}: no ICD-10 coding")
        elif kind == "AllergyIntolerance":
            name = _text(r.get("code"))
            if name:
                patient.setdefault("allergies", []).append({"substance": name})
                patient["allergies_reviewed"] = True
        elif kind == "MedicationRequest":
            orders.append(r)
        elif kind == "Encounter":
            start = (r.get("period") or {}).get("start")
            if start:
                enc["time"] = start
            for loc in r.get("location") or []:
                name = (loc.get("location") or {}).get("display")
                if name:
                    enc["site"] = name
        elif kind == "Composition":
            record = enc.setdefault("record", {})
            for sec in r.get("section") or []:
                for _, code in _codes(sec.get("code")):
                    if code in _SECTIONS:
                        div = (sec.get("text") or {}).get("div", "")
                        record[_SECTIONS[code]] = _TAG.sub("", div).strip()
            if r.get("author"):
                record["physician"] = r["author"][0].get("display", "")
        elif kind != "OperationOutcome":
            notes.append(f"{kind}: not used")
    seen: set[str] = set()
    for i, mr in enumerate(orders):
        if mr.get("resourceType") != "MedicationRequest":
            continue  # NutritionOrder, ServiceRequest...: not screened here
        ref = f"MedicationRequest/{mr.get('id', '')}"
        if ref in seen:
            continue
        seen.add(ref)
        try:
            enc.setdefault("prescriptions", []).append(_medication(mr))
        except (AttributeError, TypeError, ValueError, IndexError):
            errors.append(f"draftOrders.entry[{i}].resource (MedicationRequest): unreadable")
    if vitals:
        enc["vitals"] = vitals
    if labs:
        enc["labs"] = labs
    return enc, notes, errors
