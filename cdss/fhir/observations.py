"""Observation -> vitals, weight and height, pregnancy status, and labs (by LOINC)."""

from __future__ import annotations

from typing import Any

from cdss.fhir import codes as fc
from cdss.fhir.build import Builder, codes, codings, effective
from cdss.fhir.ucum import quantity

_GLUCOSE_CONTEXTS = frozenset({"fasting", "random", "2h_postprandial"})


def map_observation(b: Builder, res: dict[str, Any], path: str) -> None:
    """Map one Observation by its LOINC code(s); anything else is a note."""
    if res.get("status") in fc.NO_RESULT:
        b.note(path, f"status {res['status']}: no result to use")
        return
    loincs = codes(res.get("code"), fc.LOINC)
    when_text, when = effective(res)
    components = [c for c in res.get("component") or [] if isinstance(c, dict)]
    bp = [(i, c) for i, c in enumerate(components)
          if set(codes(c.get("code"), fc.LOINC)) & {"8480-6", "8462-4"}]
    if bp:
        for i, comp in bp:
            name = "sbp" if "8480-6" in codes(comp.get("code"), fc.LOINC) else "dbp"
            _vital(b, name, comp, when, f"{path}.component[{i}]")
        return
    if fc.PREGNANCY_STATUS in loincs:
        _pregnancy(b, res, path)
        return
    vital = next((fc.VITAL_LOINC[c] for c in loincs if c in fc.VITAL_LOINC), None)
    if vital is not None:
        target = b.patient if vital in fc.PATIENT_VITALS else None
        _vital(b, vital, res, when, path, target)
        return
    analyte = next((a for c in loincs for a in b.kb.analytes.values() if c in a.loinc), None)
    if analyte is None:
        b.note(f"{path}.code", "no LOINC code cdss reads (vital signs, pregnancy status or a "
                               "lab analyte of knowledge/analytes.yaml): not used")
        return
    value = quantity(res.get("valueQuantity"))
    if value is None:
        b.note(path, "no valueQuantity (a result not yet available?): not used")
        return
    if analyte.code == "glucose" and _is_vital_sign(res):
        here = f"{path}.valueQuantity"
        b.set_vital("glucose", value, when, here)
        if b.sources.get("vitals.glucose") == here:
            context = _glucose_context(res)
            if context:
                b.vitals["glucose_context"] = context
            else:
                b.vitals.pop("glucose_context", None)
        return
    lab: dict[str, Any] = {"code": analyte.code, "value": value}
    if when_text:
        lab["time"] = when_text
    b.sources[f"labs[{len(b.labs)}]"] = path
    b.labs.append(lab)


def _vital(b: Builder, name: str, element: dict[str, Any], when: Any, path: str,
           target: dict[str, Any] | None = None) -> None:
    value = quantity(element.get("valueQuantity"))
    if value is None:
        b.note(path, f"{name} without a valueQuantity: not used")
        return
    b.set_vital(name, value, when, f"{path}.valueQuantity", target)


def _pregnancy(b: Builder, res: dict[str, Any], path: str) -> None:
    answers = [c.get("code") for c in codings(res.get("valueCodeableConcept"))]
    status = next((fc.PREGNANT[a] for a in answers if a in fc.PREGNANT), None)
    if status is None:
        b.note(f"{path}.valueCodeableConcept", "pregnancy status unknown or not coded: "
                                               "not recorded")
        return
    b.patient["pregnant"] = status
    b.sources["patient.pregnant"] = path


def _is_vital_sign(res: dict[str, Any]) -> bool:
    return any("vital-signs" in codes(cat, fc.OBSERVATION_CATEGORY)
               for cat in res.get("category") or [])


def _glucose_context(res: dict[str, Any]) -> str | None:
    for ext in res.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == fc.GLUCOSE_CONTEXT_URL and ext.get(
                "valueCode") in _GLUCOSE_CONTEXTS:
            return ext["valueCode"]
    return None
