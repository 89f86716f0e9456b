"""Does a report reproduce? Re-evaluate its encounter and compare (``cdss verify``).

The report's receipt (:mod:`cdss.receipt`) names the backend, the rules, the knowledge,
the input and the time of evaluation. :func:`verify` builds an engine with that backend
and a clock fixed at that time, checks the encounter again in the report's language,
and compares the two reports field by field. It also says why a difference is expected
(other rules, other knowledge, another engine version, another input), so a reviewer
can tell "this engine would now say something else" from "this report was altered".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cdss.engine import EncounterInput, Engine
from cdss.errors import FieldProblem, InputError
from cdss.receipt import fixed_clock, input_sha256

_PINNED = ("engine_version", "rules_sha256", "knowledge_sha256")


@dataclass(frozen=True)
class Verification:
    """The outcome of re-evaluating one report."""

    reproduces: bool
    #: receipt fields that differ from this engine or input (field, in report, now)
    mismatches: list[tuple[str, str, str]] = field(default_factory=list)
    #: JSON paths where the re-evaluated report differs (at most ``LIMIT``)
    differences: list[str] = field(default_factory=list)
    #: the report text is byte-identical to the re-evaluated one (None: no text given)
    byte_identical: bool | None = None

    def to_text(self) -> str:
        lines = ["reproduces" if self.reproduces else "does NOT reproduce"]
        if self.byte_identical is not None:
            lines.append(f"byte-identical: {'yes' if self.byte_identical else 'no'}")
        lines += [f"receipt {name}: report {was}, now {now}"
                  for name, was, now in self.mismatches]
        lines += [f"differs at {path}" for path in self.differences]
        return "\n".join(lines)


LIMIT = 20


def _receipt(report: dict[str, Any]) -> dict[str, Any]:
    value = report.get("receipt") if isinstance(report, dict) else None
    if not isinstance(value, dict):
        raise InputError([FieldProblem("receipt", "the report has no receipt object")])
    for name in (*_PINNED, "backend", "input_sha256", "evaluated_at"):
        if not isinstance(value.get(name), str):
            raise InputError([FieldProblem(f"receipt.{name}", "missing or not a string")])
    return value


def _instant(text: str) -> datetime:
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise InputError([FieldProblem("receipt.evaluated_at",
                                       f"not an ISO 8601 date-time: {text!r}")]) from None
    if instant.tzinfo is None:
        raise InputError([FieldProblem("receipt.evaluated_at", "has no time zone")])
    return instant


def differences(a: Any, b: Any, path: str = "$") -> list[str]:
    """The JSON paths where two JSON values differ (first ``LIMIT``)."""
    out: list[str] = []
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                out.append(f"{path}.{key}")
            else:
                out += differences(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += differences(x, y, f"{path}[{i}]")
    elif a != b or type(a) is not type(b):
        out.append(path)
    return out[:LIMIT]


def verify(report: dict[str, Any], encounter: EncounterInput, *,
           report_text: str | None = None, rules_dir: str | Path | None = None,
           knowledge_dir: str | Path | None = None,
           site: str | Path | None = None) -> Verification:
    """Re-evaluate ``encounter`` as the report's receipt says and compare.

    :raises cdss.InputError: when the report has no usable receipt or the encounter
        cannot be read.
    """
    receipt = _receipt(report)
    lang = report.get("lang", "zh")
    engine = Engine(lang=lang if lang in ("zh", "en") else "zh", rules_dir=rules_dir,
                    knowledge_dir=knowledge_dir, backend=receipt["backend"], site=site,
                    clock=fixed_clock(_instant(receipt["evaluated_at"])))
    now = {"engine_version": engine.pins.version, "rules_sha256": engine.pins.rules_sha256,
           "knowledge_sha256": engine.pins.knowledge_sha256,
           "input_sha256": input_sha256(encounter, engine.parse(encounter))}
    mismatches = [(name, receipt[name], value) for name, value in now.items()
                  if receipt[name] != value]
    again = engine.check(encounter)
    diff = differences(report, again.to_dict())
    byte_identical = (None if report_text is None
                      else report_text.strip() == again.to_json().strip())
    return Verification(reproduces=not diff and not mismatches, mismatches=mismatches,
                        differences=diff, byte_identical=byte_identical)


def load_report(text: str) -> dict[str, Any]:
    """A report JSON text as a dict (an :class:`InputError` naming the problem)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InputError([FieldProblem("$", f"the report is not JSON: {exc}")]) from None
    if not isinstance(value, dict):
        raise InputError([FieldProblem("$", "the report is not a JSON object")])
    return value
