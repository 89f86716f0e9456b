"""The result of a FHIR mapping: the encounter JSON, notes and errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """A note or error about one place of the FHIR input, named by its FHIR path."""

    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class FhirMapping:
    """What :func:`cdss.fhir.to_encounter` made of the FHIR input.

    ``encounter`` is the contract's Encounter JSON (a dict ``cdss.Encounter.parse``
    accepts); ``notes`` name resources or elements that were read but not mapped
    (ignored order types, resolved conditions, units cdss cannot check); ``errors``
    name malformed resources (left out of the encounter) by their FHIR path.
    """

    encounter: dict[str, Any]
    notes: list[Problem] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no resource was malformed."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {"encounter": self.encounter, "notes": [n.to_dict() for n in self.notes],
                "errors": [e.to_dict() for e in self.errors]}
