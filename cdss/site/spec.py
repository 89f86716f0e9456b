"""The YAML schema of a site layer (pydantic; errors name the file and the path).

A site folder holds up to three layer files, stacked on the bundled national content in
this order: ``province.yaml``, ``county.yaml``, ``clinic.yaml`` (each optional; the later
wins where two set the same thing). See docs/site-layers.md.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: the layers, bottom (first applied) to top; the national content is below them all
LEVELS: tuple[str, ...] = ("province", "county", "clinic")
Level = Literal["province", "county", "clinic"]
Severity = Literal["info", "warning", "critical"]
#: how much an alert interrupts, apart from how severe it is (cds-hooks/docs#22)
Stop = Literal["none", "soft", "hard"]
STOPS: tuple[str, ...] = ("none", "soft", "hard")
#: knowledge tables whose rows a layer may disable (rows referenced by id)
RowTable = Literal["interactions", "duplicates", "allergy_cross", "contraindications",
                   "indications"]


class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Why(Spec):
    """Every change says why; changes that remove an alert also say who decided."""

    reason: str = Field(min_length=1)
    author: str | None = None


class RuleDisable(Why):
    rule: str = Field(min_length=1)
    author: str = Field(min_length=1)


class RuleEnable(Why):
    """Turn back on a rule a lower layer disabled."""

    rule: str = Field(min_length=1)


class RuleSeverity(Why):
    rule: str = Field(min_length=1)
    severity: Severity


class RuleStop(Why):
    rule: str = Field(min_length=1)
    stop: Stop


class MinSeverity(Why):
    """Suggestions of a category (and kind) below this severity are not shown: they are
    listed in the report's ``hidden``, never dropped."""

    category: Literal["diagnosis", "dosing", "quality", "followup"]
    kind: str | None = None
    severity: Severity


class RuleChanges(Spec):
    disable: tuple[RuleDisable, ...] = ()
    enable: tuple[RuleEnable, ...] = ()
    severity: tuple[RuleSeverity, ...] = ()
    stop: tuple[RuleStop, ...] = ()
    min_severity: tuple[MinSeverity, ...] = ()


class RowDisable(Why):
    table: RowTable
    id: str = Field(min_length=1)
    author: str = Field(min_length=1)


class LocalNames(Why):
    """Local drug or brand names of a drug (matched like the bundled aliases)."""

    drug: str = Field(min_length=1)
    names: tuple[str, ...] = Field(min_length=1)
    reason: str = "local name"


class FormularyItem(Spec):
    """A product the site stocks: its local code and name are names of the drug."""

    drug: str = Field(min_length=1)
    name: str = Field(min_length=1)
    code: str | None = None


class DuplicateAllowance(Why):
    """Two drugs of this duplicate class are allowed at this site (the row is off)."""

    duplicate: str = Field(min_length=1)
    author: str = Field(min_length=1)


class FollowupInterval(Why):
    """A province's own follow-up intervals for a programme."""

    programme: str = Field(min_length=1)
    routine_interval_days: int | None = Field(default=None, gt=0)
    after_uncontrolled_days: int | None = Field(default=None, gt=0)


class KnowledgeChanges(Spec):
    disable: tuple[RowDisable, ...] = ()
    names: tuple[LocalNames, ...] = ()
    formulary: tuple[FormularyItem, ...] = ()
    duplicate_allowances: tuple[DuplicateAllowance, ...] = ()
    followup: tuple[FollowupInterval, ...] = ()


class Suppression(Why):
    """An alert the same patient already saw and overrode, for the same rule and drugs,
    within ``window_days`` before this visit is shown one stop level lower."""

    window_days: int = Field(gt=0, le=3650)
    #: override reason codes that count (empty: any reason)
    reasons: tuple[str, ...] = ()


class Layer(Spec):
    """One layer file."""

    level: Level
    name: str = Field(min_length=1)
    author: str = Field(min_length=1)
    description: str | None = None
    rules: RuleChanges = RuleChanges()
    knowledge: KnowledgeChanges = KnowledgeChanges()
    suppression: Suppression | None = None
