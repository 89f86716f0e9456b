"""The YAML schema of rule files, as pydantic models (schema errors get a ``loc``)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cdss.kb.schema import Text

#: The contract's categories and the kinds each allows (contract section 3).
KINDS: dict[str, tuple[str, ...]] = {
    "diagnosis": ("suggest_diagnosis", "risk_alert", "referral", "workup"),
    "dosing": ("dose_high", "dose_low", "frequency", "renal", "hepatic", "interaction",
               "duplicate", "allergy", "contraindication", "pregnancy", "geriatric",
               "pediatric", "duration", "unknown_drug"),
    "quality": ("missing", "inconsistent", "format", "implausible"),
    "followup": ("overdue", "uncontrolled", "due"),
}
SEVERITIES = ("info", "warning", "critical")

#: a rule's life-cycle status (Arden Syntax maintenance slots; CDS Connect's artifact
#: status): only ``production`` and ``testing`` rules run unless an engine asks otherwise
Status = Literal["draft", "research", "testing", "production", "expired"]
STATUSES: tuple[str, ...] = ("draft", "research", "testing", "production", "expired")


class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Reference(Spec):
    title: str = Field(min_length=1)
    url: str | None = None


#: a rule parameter's value: a scalar written once, used in conditions as ``$name`` and in
#: texts as ``{$name}``
Param = bool | int | float | str


class DefinitionSpec(Spec):
    """A named condition on one fact type, used in conditions as ``{use: <name>}``."""

    fact: str
    if_: dict[str, Any] = Field(alias="if", min_length=1)
    description: str | None = None
    references: tuple[Reference, ...] = ()


class DefinitionsFile(Spec):
    """``rules/definitions.yaml``: definitions shared by every rule file."""

    define: dict[str, DefinitionSpec] = Field(default_factory=dict)


class Governance(Spec):
    """Who answers for a rule and until when (a rule file's ``governance:`` block gives
    the defaults of its rules; a rule may override each field)."""

    status: Status = "testing"
    #: who maintains the rule (a person or a team)
    owner: str | None = None
    #: the clinician who last reviewed the rule's content
    clinical_reviewer: str | None = None
    #: the date of that review
    reviewed: date | None = None
    #: after this date the rule is due for review again (lint warns; it still runs)
    expires: date | None = None


class PatternSpec(Spec):
    """``<name>: {fact: <type>, if: <condition>}``: bind one fact of a type."""

    fact: str
    if_: Any = Field(default=None, alias="if")


class RuleSpec(Spec):
    """One rule: metadata (Arden-style) and a declarative condition."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
    version: str
    category: Literal["diagnosis", "dosing", "quality", "followup"]
    kind: str
    severity: Literal["info", "warning", "critical"]
    status: Status = "testing"
    owner: str | None = None
    clinical_reviewer: str | None = None
    reviewed: date | None = None
    expires: date | None = None
    #: rules describing one clinical finding share a group: only the most severe
    #: suggestion of a group is kept for the same facts
    group: str | None = None
    #: the patterns whose facts the finding is about (default: all); with a group, two
    #: rules reporting the same finding about the same subject give one suggestion
    subject: tuple[str, ...] = ()
    #: groups or rule ids this rule's finding replaces when both are made for one
    #: encounter (an urgent referral replaces the routine re-check of the same problem)
    supersedes: tuple[str, ...] = ()
    description: str | None = None
    title: Text
    message: Text
    recommendation: Text
    codes: tuple[str, ...] = ()
    references: tuple[Reference, ...] = Field(min_length=1)
    when: dict[str, PatternSpec] = Field(min_length=1)
    #: the rule's own parameters (thresholds), already substituted into ``when`` and the
    #: texts by :mod:`cdss.rulelang.params`; kept for reviewers and the lint
    params: dict[str, Param] = Field(default_factory=dict)
    #: numbers a text may write although a condition of the rule uses the same number,
    #: each with the reason it means something else ("3 separate days"); see
    #: :func:`cdss.rulelang.params.repeated_thresholds`
    numbers_in_text: dict[float, str] = Field(default_factory=dict)
    #: the texts as written, before ``{$name}`` was rendered (for the lint; not reported)
    texts_as_written: dict[str, Any] = Field(default_factory=dict, exclude=True, repr=False)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int | float) else v

    @model_validator(mode="after")
    def _subject_names_patterns(self) -> RuleSpec:
        unknown = [name for name in self.subject if name not in self.when]
        if unknown:
            raise ValueError(f"subject names unknown patterns {unknown}")
        return self

    @model_validator(mode="after")
    def _kind_in_category(self) -> RuleSpec:
        if self.kind not in KINDS[self.category]:
            allowed = ", ".join(KINDS[self.category])
            raise ValueError(f"kind {self.kind!r} is not a {self.category} kind ({allowed})")
        return self


class TemplateSpec(Spec):
    """A rule expanded once per row of a knowledge table (``{row.<field>}``)."""

    over: Literal["interactions", "drugs", "classes", "duplicates", "allergy_cross",
                  "contraindications", "rows"]
    #: the rows themselves when ``over: rows`` (a small table that is not knowledge,
    #: such as the severity of each renal action)
    rows: tuple[dict[str, Any], ...] = ()
    severity_map: dict[str, Literal["info", "warning", "critical"]] = Field(default_factory=dict)
    #: only the rows where each named column is present (has a value) or absent
    where: dict[str, Literal["present", "absent"]] = Field(default_factory=dict)
    rule: dict[str, Any]

    @model_validator(mode="after")
    def _rows_only_inline(self) -> TemplateSpec:
        if (self.over == "rows") != bool(self.rows):
            raise ValueError("`rows` is given exactly when `over: rows`")
        return self


class RuleFile(Spec):
    """A rule file: named definitions, plain rules and templates."""

    define: dict[str, DefinitionSpec] = Field(default_factory=dict)
    #: defaults of the governance fields of every rule of the file
    governance: Governance | None = None
    rules: tuple[dict[str, Any], ...] = ()
    templates: tuple[TemplateSpec, ...] = ()


class FindingPolicy(Spec):
    """``rules/findings.yaml``: which suggestion of a group is kept for one finding."""

    keep: tuple[Literal["specificity", "severity"], ...] = Field(min_length=1)
    reason: str = Field(min_length=1)

    @field_validator("keep")
    @classmethod
    def _once_each(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError("each order at most once")
        return v
