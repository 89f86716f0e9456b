"""A derived value together with how it was derived."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Derived:
    """A computed value, its formula, the inputs used, and the source."""

    name: str
    value: float
    formula: str
    inputs: dict[str, Any]
    source: str = ""
    unit: str = ""
    parts: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "unit": self.unit, "formula": self.formula,
                               "inputs": self.inputs}
        if self.parts:
            out["parts"] = self.parts
        if self.source:
            out["source"] = self.source
        return out


@dataclass(frozen=True)
class Missing:
    """Why a derived value could not be computed: the input fields that are absent."""

    name: str
    missing: tuple[str, ...]
    reason: str = ""
