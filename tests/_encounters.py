"""Building blocks for rule tests: a complete, normal adult encounter and overrides.

``encounter()`` is an encounter on which no rule has anything to say: a 45-year-old
man, all vital signs normal (NEWS2 0, BP 120/80, glucose 5.5 mmol/L), a complete and
signed record, allergies reviewed (none), an empty problem list and no prescriptions.
Tests change only what they are about with ``encounter(**overrides)``: dicts are
merged key by key, anything else (lists included) replaces the base value, and an
override of ``None`` removes the key.
"""

from __future__ import annotations

import json
from typing import Any

from cdss.ruletest.normal import NORMAL as _BASE  # noqa: F401 - the normal encounter
from cdss.ruletest.normal import deep_merge, encounter  # noqa: F401 - re-exported

#: Sentinel-free deletion: an override value of ``DELETE`` (or None) drops the key.
DELETE = None


def rx(drug: str, dose: str, frequency: str = "qd", route: str = "oral",
       duration: str = "7 d") -> dict[str, Any]:
    """One prescription entry."""
    return {"drug": drug, "dose": dose, "route": route, "frequency": frequency,
            "duration": duration}


def with_rx(*prescriptions: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The normal encounter with these prescriptions (and any other overrides)."""
    return encounter(overrides, prescriptions=list(prescriptions))


def without_backend(report: Any) -> str:
    """A report's JSON without the receipt's backend name, to compare two backends."""
    data = report.to_dict()
    if "receipt" in data:
        data["receipt"] = {k: v for k, v in data["receipt"].items() if k != "backend"}
    return json.dumps(data, ensure_ascii=False, indent=2)
