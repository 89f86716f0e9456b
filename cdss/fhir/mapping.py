"""FHIR R4 resources -> the contract's Encounter JSON (:func:`to_encounter`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from cdss.errors import InputError
from cdss.fhir import codes as fc
from cdss.fhir.build import Builder
from cdss.fhir.conditions import map_allergy, map_condition
from cdss.fhir.inputs import Collected, Located, collect
from cdss.fhir.medications import map_medication_request
from cdss.fhir.observations import map_observation
from cdss.fhir.patient import map_patient
from cdss.fhir.record import map_composition
from cdss.fhir.result import FhirMapping, Problem
from cdss.fhir.validate import upgrade, validate
from cdss.fhir.visit import map_encounter
from cdss.kb import KnowledgeBase, load_knowledge
from cdss.models import Encounter

_SIMPLE: dict[str, Callable[[Builder, dict[str, Any], str], None]] = {
    "Patient": map_patient, "Observation": map_observation, "Condition": map_condition,
    "AllergyIntolerance": map_allergy, "Composition": map_composition,
}


#: rounds of parse-and-remove in _check (each removes at least one part)
_ROUNDS = 16


@cache
def _default_kb() -> KnowledgeBase:
    return load_knowledge()


def to_encounter(data: Any, *, encounter_id: str | None = None,
                 kb: KnowledgeBase | None = None, now: datetime | None = None
                 ) -> FhirMapping:
    """Map FHIR R4 resources to the contract's Encounter JSON.

    ``data`` is a Bundle, a list of resources, one resource, or a CDS Hooks request
    (``context`` with ``draftOrders``, ``prefetch`` of resources or Bundles). Each
    resource is validated with the fhir.resources R4B model of its type; a malformed
    one is an error naming its FHIR path and is left out. ``kb`` is the knowledge that
    maps LOINC codes and drug names (``engine.kb``; default: the bundled knowledge).
    The visit time is the Encounter's ``period.start``, else ``now`` (default: the
    current time, with a note). Never raises for bad data.
    """
    b = Builder(kb or _default_kb())
    found = collect(data)
    errors = list(found.errors)
    b.notes.extend(found.notes)
    valid: list[Located] = []
    for item in found.resources:
        rtype = item.resource["resourceType"]
        if rtype not in fc.MAPPED_TYPES:
            kind = "an order type other than MedicationRequest" if (
                rtype in fc.OTHER_ORDERS) else "a resource type cdss does not read"
            b.note(item.path, f"{rtype}: {kind}; ignored")
            continue
        resource, notes = upgrade(item.resource, item.path)
        b.notes.extend(notes)
        problems = validate(resource, item.path)
        if problems:
            errors.extend(problems)
            continue
        valid.append(Located(item.path, resource, item.draft))
    _map_all(b, valid, found, encounter_id)
    encounter = _assemble(b, found, encounter_id, now)
    encounter, more = _check(encounter, b)
    return FhirMapping(encounter, b.notes, errors + more)


def _map_all(b: Builder, valid: list[Located], found: Collected,
             encounter_id: str | None) -> None:
    wanted = encounter_id or found.encounter_id
    medications = {f"Medication/{r.resource['id']}": r.resource for r in valid
                   if r.resource["resourceType"] == "Medication" and r.resource.get("id")}
    encounters = [r for r in valid if r.resource["resourceType"] == "Encounter"]
    encounters.sort(key=lambda r: r.resource.get("id") != wanted)  # the one in context first
    for item in encounters:
        map_encounter(b, item.resource, item.path, wanted)
    # draft orders first: prescriptions[0..] are what is being ordered now
    for item in sorted(valid, key=lambda r: not r.draft):
        rtype = item.resource["resourceType"]
        if rtype in _SIMPLE:
            _SIMPLE[rtype](b, item.resource, item.path)
        elif rtype == "MedicationRequest":
            map_medication_request(b, item.resource, item.path, medications)
    if b.conditions is None and "Condition" in found.empty_searches:
        b.conditions = []  # an empty problem list was sent


def _assemble(b: Builder, found: Collected, encounter_id: str | None,
              now: datetime | None) -> dict[str, Any]:
    patient = dict(b.patient)
    if "id" not in patient and found.patient_id:
        patient["id"] = found.patient_id
    if b.allergies:
        patient["allergies"] = b.allergies
        patient["allergies_reviewed"] = True
        if b.no_known_allergy:
            b.note(b.no_known_allergy, "'no known allergy' beside recorded allergies: the "
                                       "recorded allergies used")
    elif b.no_known_allergy:
        patient["allergies"] = []
        patient["allergies_reviewed"] = True
    if b.conditions is not None:
        patient["conditions"] = b.conditions
    enc: dict[str, Any] = {}
    enc_id = encounter_id or b.top.get("id") or found.encounter_id
    if enc_id is None:
        enc_id = f"fhir-{patient.get('id', 'unknown')}"
        b.note("Encounter.id", f"no Encounter id: {enc_id!r} used")
    enc["id"] = enc_id
    if "time" in b.top:
        enc["time"] = b.top["time"]
    else:
        enc["time"] = (now or datetime.now(UTC)).isoformat()
        b.note("Encounter.period.start", "no Encounter start: the time of the mapping used")
    if "site" in b.top:
        enc["site"] = b.top["site"]
    enc["patient"] = patient
    if b.vitals:
        enc["vitals"] = b.vitals
    if b.labs:
        enc["labs"] = b.labs
    if b.diagnoses or b.record:
        enc["record"] = {**b.record, **({"diagnoses": b.diagnoses} if b.diagnoses else {})}
    if b.prescriptions:
        enc["prescriptions"] = b.prescriptions
    return enc


def _check(enc: dict[str, Any], b: Builder) -> tuple[dict[str, Any], list[Problem]]:
    """Parse the encounter; a value the contract refuses (a unit of the wrong
    dimension) is an error at its FHIR path and is left out, and the rest parsed
    again. A required part that cannot be left out (the patient id) stays an error."""
    errors: list[Problem] = []
    sources = dict(b.sources)
    for _ in range(_ROUNDS):
        try:
            Encounter.parse(enc)
            return enc, errors
        except InputError as exc:
            keys: set[str] = set()
            for problem in exc.problems:
                key = _source_key(problem.path, sources)
                errors.append(Problem(sources[key] if key else _fallback_path(problem.path),
                                      problem.problem))
                if key and key not in ("patient.id", "time"):
                    keys.add(key)
            if not keys:
                return enc, errors
            sources = _remove(enc, keys, sources)
    return enc, errors


def _source_key(field: str, sources: dict[str, str]) -> str | None:
    matches = [k for k in sources if field == k or field.startswith((k + ".", k + "["))]
    return max(matches, key=len) if matches else None


def _fallback_path(field: str) -> str:
    return {"patient.id": "Patient.id", "time": "Encounter.period.start",
            "id": "Encounter.id"}.get(field, f"(encounter) {field}")


def _remove(enc: dict[str, Any], keys: set[str], sources: dict[str, str]) -> dict[str, str]:
    """Remove the parts at ``keys``; the sources re-keyed to the shifted list indexes."""
    dropped: dict[str, set[int]] = {}
    for key in keys:
        head, sep, tail = key.rpartition("[")
        if sep and tail.endswith("]") and tail[:-1].isdigit():
            dropped.setdefault(head, set()).add(int(tail[:-1]))
            continue
        parent, last = _locate(enc, key)
        if isinstance(parent, dict):
            parent.pop(last, None)
    for head, indexes in dropped.items():
        parent, last = _locate(enc, head)
        if isinstance(parent, dict) and isinstance(parent.get(last), list):
            parent[last] = [x for i, x in enumerate(parent[last]) if i not in indexes]
    out: dict[str, str] = {}
    for key, path in sources.items():
        if key in keys:
            continue
        head, sep, tail = key.rpartition("[")
        if sep and head in dropped and tail[:-1].isdigit():
            i = int(tail[:-1])
            key = f"{head}[{i - sum(1 for j in dropped[head] if j < i)}]"
        out[key] = path
    return out


def _locate(enc: dict[str, Any], key: str) -> tuple[Any, Any]:
    node: Any = enc
    parts = key.replace("]", "").replace("[", ".").split(".")
    steps: list[Any] = [int(p) if p.isdigit() else p for p in parts]
    for step in steps[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None, None
    return node, steps[-1]
