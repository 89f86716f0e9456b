"""Rule cases: YAML files of encounters with what the rules must (not) say about them.

A case file is a list of cases; each case is about one rule::

    - rule: dosing.dose_high.max_daily        # the rule the case is about
      title: amlodipine 11 mg qd is above 10 mg/day
      fires: true                             # true: the rule must fire; false: a near miss
      encounter:                              # merged into the normal encounter (normal.py)
        prescriptions: [{drug: amlodipine, dose: 11 mg, route: oral, frequency: qd}]
      now: "2026-11-20T09:30:00+08:00"        # optional: pins the visit's time ("now")
      severity: warning                       # optional (fires only): its severity
      codes: [I10]                            # optional (fires only): its codes
      drugs: [amlodipine]                     # optional (fires only): its drugs
      also: []                                # optional: the exact OTHER rules of the
                                              #   same category the report may hold
      silent: [dosing.renal.egfr_below]       # optional: rules that must not fire
      not_evaluated: [dosing.renal.egfr_below]  # optional: rules that must be reported
                                              #   as not evaluated (data missing)
      base: normal                            # optional: normal (default) or empty: the
                                              #   encounter is then complete as written
      xfail: "why"                            # optional: a known defect; the case must fail
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cdss.errors import FieldProblem, InputError, KnowledgeError
from cdss.kb._files import read_yaml, validation_message
from cdss.ruletest.normal import deep_merge, encounter


class Case(BaseModel):
    """One rule case (see the module docstring for the keys)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str = Field(min_length=1)
    title: str = Field(min_length=1)
    fires: bool
    encounter: dict[str, Any] = Field(default_factory=dict)
    now: str | None = None
    base: Literal["normal", "empty"] = "normal"
    severity: Literal["info", "warning", "critical"] | None = None
    codes: list[str] | None = None
    drugs: list[str] | None = None
    also: list[str] | None = None
    silent: list[str] = Field(default_factory=list)
    not_evaluated: list[str] = Field(default_factory=list)
    xfail: str | bool | None = None
    #: where the case was read: ``<file>#<index>``
    source: str = ""

    @field_validator("now")
    @classmethod
    def _now_is_an_instant(cls, value: str | None) -> str | None:
        if value is not None and datetime.fromisoformat(value).tzinfo is None:
            raise ValueError("`now` needs a time zone (an instant, e.g. +08:00)")
        return value

    @property
    def id(self) -> str:
        return f"{self.rule}: {self.title}"

    def build(self) -> dict[str, Any]:
        """The encounter the case checks."""
        enc = encounter(self.encounter) if self.base == "normal" else \
            deep_merge({}, self.encounter)
        if self.now is not None:
            enc["time"] = self.now
        return enc


def load_cases(folder: Path) -> list[Case]:
    """Every case of ``folder/*.yaml`` (sorted), each validated.

    :raises cdss.InputError: naming the file, the case and the field of every problem.
    """
    if not folder.is_dir():
        raise InputError([FieldProblem(str(folder), "not a folder of case files")])
    cases: list[Case] = []
    problems: list[FieldProblem] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = read_yaml(path) or []
        except KnowledgeError as exc:  # not YAML, too large...: name it, go on
            problems.append(FieldProblem(path.name, exc.problem))
            continue
        if not isinstance(data, list):
            problems.append(FieldProblem(path.name, "expected a list of cases"))
            continue
        for i, raw in enumerate(data):
            where = f"{path.name}#{i}"
            try:
                if not isinstance(raw, dict):
                    raise ValueError("a case is a mapping")
                cases.append(Case.model_validate(dict(raw, source=where)))
            except ValidationError as exc:
                problems.append(FieldProblem(where, validation_message(exc)))
            except ValueError as exc:
                problems.append(FieldProblem(where, str(exc)))
    if problems:
        raise InputError(problems)
    return cases
