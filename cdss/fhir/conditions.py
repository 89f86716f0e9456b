"""Condition -> ``patient.conditions`` or ``record.diagnoses``; AllergyIntolerance ->
``patient.allergies``."""

from __future__ import annotations

from typing import Any

from cdss.fhir import codes as fc
from cdss.fhir.build import Builder, codes, codings, concept_text, status_code

_NOT_TRUE = frozenset({"refuted", "entered-in-error"})
_ALLERGY_INACTIVE = frozenset({"inactive", "resolved"})


def map_condition(b: Builder, res: dict[str, Any], path: str) -> None:
    """An ICD-10 coded Condition that is active, recurring or relapsed (or has no
    clinicalStatus, as encounter diagnoses often have none). Category
    ``encounter-diagnosis`` goes to ``record.diagnoses``, others to the problem list."""
    categories = {c for cat in res.get("category") or []
                  for c in codes(cat, fc.CONDITION_CATEGORY)}
    diagnosis = "encounter-diagnosis" in categories
    if b.conditions is None and not diagnosis:
        b.conditions = []  # a problem-list Condition was sent: the list is known
    verification = status_code(res.get("verificationStatus"))
    if verification in _NOT_TRUE:
        b.note(f"{path}.verificationStatus", f"{verification}: not used")
        return
    clinical = status_code(res.get("clinicalStatus"))
    if clinical is not None and clinical not in fc.ACTIVE_CONDITION:
        b.note(f"{path}.clinicalStatus", f"{clinical}: not on the problem list")
        return
    icd = codings(res.get("code"), fc.ICD10_SYSTEMS)
    icd = [c for c in icd if isinstance(c.get("code"), str)]
    if not icd:
        b.note(f"{path}.code", "no ICD-10 coding (system http://hl7.org/fhir/sid/icd-10 or "
                               "icd-10-cn): not used")
        return
    item: dict[str, Any] = {"code": icd[0]["code"]}
    name = (res.get("code") or {}).get("text") or icd[0].get("display")
    if name:
        item["name"] = name
    if diagnosis:
        b.sources[f"record.diagnoses[{len(b.diagnoses)}]"] = path
        b.diagnoses.append(item)
    else:
        assert b.conditions is not None
        b.sources[f"patient.conditions[{len(b.conditions)}]"] = path
        b.conditions.append(item)


def map_allergy(b: Builder, res: dict[str, Any], path: str) -> None:
    """Substance from ``code`` (text, else a coding's display), reaction from the first
    manifestation; a refuted or resolved one is not used. "No known (drug) allergy"
    marks the allergy history as taken (``allergies_reviewed``)."""
    verification = status_code(res.get("verificationStatus"))
    if verification in _NOT_TRUE:
        b.note(f"{path}.verificationStatus", f"{verification}: not used")
        return
    clinical = status_code(res.get("clinicalStatus"))
    if clinical in _ALLERGY_INACTIVE:
        b.note(f"{path}.clinicalStatus", f"{clinical}: not used")
        return
    if set(codes(res.get("code"), fc.SNOMED)) & fc.NO_KNOWN_ALLERGY:
        b.no_known_allergy = path
        return
    substance = concept_text(res.get("code"))
    if substance is None:
        b.note(f"{path}.code", "no substance: not used")
        return
    item: dict[str, Any] = {"substance": substance}
    for i, reaction in enumerate(res.get("reaction") or []):
        manifestations = (reaction or {}).get("manifestation") or []
        text = next((t for t in map(concept_text, manifestations) if t), None)
        if text:
            item["reaction"] = text
            if i:
                b.note(f"{path}.reaction[{i}]", "the first reaction with a manifestation used")
            break
    b.sources[f"patient.allergies[{len(b.allergies)}]"] = path
    b.allergies.append(item)
