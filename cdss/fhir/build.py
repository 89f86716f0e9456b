"""The encounter being built: its parts, where each came from, and the notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from cdss.fhir.result import Problem
from cdss.kb import KnowledgeBase


@dataclass
class Builder:
    """Parts of the encounter JSON and, per contract path, the FHIR path it came from."""

    kb: KnowledgeBase
    patient: dict[str, Any] = field(default_factory=dict)
    vitals: dict[str, Any] = field(default_factory=dict)
    labs: list[dict[str, Any]] = field(default_factory=list)
    conditions: list[dict[str, Any]] | None = None
    diagnoses: list[dict[str, Any]] = field(default_factory=list)
    #: record texts from a Composition (``chief_complaint``, ...)
    record: dict[str, Any] = field(default_factory=dict)
    allergies: list[dict[str, Any]] = field(default_factory=list)
    prescriptions: list[dict[str, Any]] = field(default_factory=list)
    #: the top level: id, time, site
    top: dict[str, Any] = field(default_factory=dict)
    #: contract path (``prescriptions[0]``, ``vitals.sbp``) -> FHIR path
    sources: dict[str, str] = field(default_factory=dict)
    #: when each vital was measured, to keep the latest
    vital_times: dict[str, tuple[datetime, int]] = field(default_factory=dict)
    no_known_allergy: str | None = None
    notes: list[Problem] = field(default_factory=list)

    def note(self, path: str, message: str) -> None:
        self.notes.append(Problem(path, message))

    def set_vital(self, name: str, value: Any, when: tuple[datetime, int], path: str,
                  target: dict[str, Any] | None = None) -> None:
        """Keep ``value`` if it is the latest measurement of ``name`` so far."""
        target = self.vitals if target is None else target
        prefix = "patient" if target is self.patient else "vitals"
        old = self.vital_times.get(name)
        if old is not None and _before(when, old):
            self.note(path, f"an earlier {name} than the one used: not used")
            return
        if old is not None:
            self.note(self.sources[f"{prefix}.{name}"], f"an earlier {name}: not used")
        target[name] = value
        self.vital_times[name] = when
        self.sources[f"{prefix}.{name}"] = path


def _before(a: tuple[datetime, int], b: tuple[datetime, int]) -> bool:
    try:
        return a < b
    except TypeError:  # naive and aware: compare the wall clocks
        return (a[0].replace(tzinfo=None), a[1]) < (b[0].replace(tzinfo=None), b[1])


def effective(resource: dict[str, Any]) -> tuple[str | None, tuple[datetime, int]]:
    """The time of an Observation (effective[x], else issued) as sent, and a sort key
    (no time sorts first; a date counts as its start)."""
    raw = (resource.get("effectiveDateTime") or resource.get("effectiveInstant")
           or (resource.get("effectivePeriod") or {}).get("end")
           or (resource.get("effectivePeriod") or {}).get("start") or resource.get("issued"))
    if not isinstance(raw, str):
        return None, (datetime.min, 0)
    try:
        if len(raw) == 10:
            return raw, (datetime.combine(date.fromisoformat(raw), datetime.min.time()), 1)
        return raw, (datetime.fromisoformat(raw.replace("Z", "+00:00")), 1)
    except ValueError:  # a partial date (2026-11): kept as sent, sorted first
        return raw, (datetime.min, 1)


def codings(concept: Any, system: str | frozenset[str] | None = None) -> list[dict[str, Any]]:
    """The codings of a CodeableConcept, optionally of one system (or a set of them)."""
    if not isinstance(concept, dict):
        return []
    out = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
    if system is None:
        return out
    systems = {system} if isinstance(system, str) else system
    return [c for c in out if c.get("system") in systems]


def codes(concept: Any, system: str) -> list[str]:
    return [c["code"] for c in codings(concept, system) if isinstance(c.get("code"), str)]


def concept_text(concept: Any) -> str | None:
    """The text of a CodeableConcept, else the display (or code) of its first coding."""
    if not isinstance(concept, dict):
        return None
    if isinstance(concept.get("text"), str) and concept["text"].strip():
        return concept["text"].strip()
    for c in codings(concept):
        for key in ("display", "code"):
            if isinstance(c.get(key), str) and c[key].strip():
                return c[key].strip()
    return None


def status_code(concept: Any) -> str | None:
    """The code of a status CodeableConcept (clinicalStatus, verificationStatus)."""
    for c in codings(concept):
        if isinstance(c.get("code"), str):
            return c["code"]
    return None
