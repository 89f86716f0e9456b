"""Stack a site's layers on the national content: knowledge, rules, then alerting.

Layers apply bottom first (province, county, clinic); where two set the same thing the
upper one wins. Every change is checked against what it names (a rule, a drug, a
knowledge row, a programme) and against the never list: a :class:`~cdss.SiteError`
names the layer file and the path of the change. Every change keeps its provenance
(:class:`Change`), so that a report can say which layer changed a suggestion and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cdss.errors import SiteError
from cdss.kb.base import normalise_name
from cdss.rulelang import CompiledRule
from cdss.site.load import LoadedLayer, Site
from cdss.site.policy import AlertPolicy
from cdss.site.spec import STOPS

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class Change:
    """One change a layer made: where, what, why and who."""

    level: str
    file: str
    path: str
    what: str
    reason: str
    author: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"level": self.level, "change": self.what, "reason": self.reason}
        if self.author:
            out["author"] = self.author
        return out


def _change(loaded: LoadedLayer, path: str, what: str, item: Any) -> Change:
    return Change(loaded.level, str(loaded.path), path, what, item.reason,
                  getattr(item, "author", None) or loaded.layer.author)


# ------------------------------------------------------------------ knowledge
def knowledge_edit(site: Site, log: list[Change]):
    """The edit of the knowledge tables the site's layers make (for ``load_knowledge``);
    each change applied is appended to ``log``."""

    def edit(tables: dict[str, Any]) -> dict[str, Any]:
        t = dict(tables)
        for loaded in site.layers:
            _edit_layer(t, loaded, log)
        return t

    return edit


def _names_in_use(drugs: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for drug in drugs.values():
        for name in (drug.id, drug.name.zh, drug.name.en, *drug.aliases, *drug.atc):
            out.setdefault(normalise_name(name), drug.id)
    return out


def _edit_layer(t: dict[str, Any], loaded: LoadedLayer, log: list[Change]) -> None:
    changes = loaded.layer.knowledge
    file = str(loaded.path)
    for i, row in enumerate(changes.disable):
        path = f"knowledge.disable[{i}]"
        rows = t[row.table]
        found = [r for r in rows if r.id == row.id]
        if not found:
            raise SiteError(file, f"{path}.id", f"no {row.table} row {row.id!r}")
        if row.table == "interactions" and found[0].severity == "contraindicated":
            raise SiteError(file, path, f"interaction {row.id!r} is contraindicated: on the "
                            "never list (rules/never_off.yaml), a layer may change how it "
                            "alerts, not turn it off")
        t[row.table] = tuple(r for r in rows if r.id != row.id)
        log.append(_change(loaded, path, f"{row.table} row {row.id} off", row))
    for i, dup in enumerate(changes.duplicate_allowances):
        path = f"knowledge.duplicate_allowances[{i}].duplicate"
        if not any(r.id == dup.duplicate for r in t["duplicates"]):
            raise SiteError(file, path, f"no duplicate row {dup.duplicate!r}")
        t["duplicates"] = tuple(r for r in t["duplicates"] if r.id != dup.duplicate)
        log.append(_change(loaded, path, f"duplicate {dup.duplicate} allowed", dup))
    drugs = dict(t["drugs"])
    in_use = _names_in_use(drugs)
    additions = [(f"knowledge.names[{i}]", n.drug, name, n)
                 for i, n in enumerate(changes.names) for name in n.names]
    additions += [(f"knowledge.formulary[{i}]", item.drug, name, None)
                  for i, item in enumerate(changes.formulary)
                  for name in (item.name, item.code) if name]
    for path, drug_id, name, item in additions:
        if drug_id not in drugs:
            raise SiteError(file, f"{path}.drug", f"no drug {drug_id!r}")
        owner = in_use.get(normalise_name(name))
        if owner is not None and owner != drug_id:
            raise SiteError(file, path, f"name {name!r} already names drug {owner!r}")
        if owner is None:
            drug = drugs[drug_id]
            drugs[drug_id] = drug.model_copy(update={"aliases": (*drug.aliases, name)})
            in_use[normalise_name(name)] = drug_id
            log.append(Change(loaded.level, file, path, f"{name} names {drug_id}",
                              item.reason if item else "local formulary",
                              loaded.layer.author))
    t["drugs"] = drugs
    programmes = {p.id: p for p in t["followup"]}
    for i, f in enumerate(changes.followup):
        path = f"knowledge.followup[{i}]"
        if f.programme not in programmes:
            raise SiteError(file, f"{path}.programme", f"no follow-up programme "
                            f"{f.programme!r} (programmes: {', '.join(programmes)})")
        update = {k: v for k, v in (("routine_interval_days", f.routine_interval_days),
                                    ("after_uncontrolled_days", f.after_uncontrolled_days))
                  if v is not None}
        programmes[f.programme] = programmes[f.programme].model_copy(update=update)
        log.append(_change(loaded, path, f"{f.programme} intervals "
                           + ", ".join(f"{k} {v}" for k, v in update.items()), f))
    t["followup"] = tuple(programmes.values())


# ------------------------------------------------------------------ rules
@dataclass
class SiteRules:
    """The effective rule changes of a site, with provenance."""

    disabled: dict[str, Change] = field(default_factory=dict)
    severity: dict[str, tuple[str, Change]] = field(default_factory=dict)
    stop: dict[str, tuple[str, Change]] = field(default_factory=dict)
    #: (category, kind or None) -> minimum severity shown
    min_severity: dict[tuple[str, str | None], tuple[str, Change]] = field(
        default_factory=dict)
    #: changes of each rule that ran (severity, stop), for the report
    notes: dict[str, list[Change]] = field(default_factory=dict)
    #: the severity each rule has in the national content (before any layer)
    national: dict[str, str] = field(default_factory=dict)


def adjust_rules(rules: list[CompiledRule], site: Site, policy: AlertPolicy,
                 out: SiteRules) -> list[CompiledRule]:
    """The compiled rules with the layers' disables and re-levelled severities."""
    by_id = {r.id: r for r in rules}
    out.national.update({r.id: r.spec.severity for r in rules})
    for loaded in site.layers:
        _rule_layer(loaded, by_id, policy, out)
    kept = []
    for rule in rules:
        if rule.id in out.disabled:
            continue
        if rule.id in out.severity:
            severity, change = out.severity[rule.id]
            rule = CompiledRule(rule.spec.model_copy(update={"severity": severity}),
                                rule.patterns, rule.file, rule.action)
            out.notes.setdefault(rule.id, []).append(change)
        if rule.id in out.stop:
            out.notes.setdefault(rule.id, []).append(out.stop[rule.id][1])
        kept.append(rule)
    return kept


def _rule_layer(loaded: LoadedLayer, by_id: dict[str, CompiledRule], policy: AlertPolicy,
                out: SiteRules) -> None:
    changes = loaded.layer.rules
    file = str(loaded.path)

    def rule_of(path: str, rule_id: str) -> CompiledRule:
        if rule_id not in by_id:
            raise SiteError(file, f"{path}.rule", f"no rule {rule_id!r}")
        return by_id[rule_id]

    def never(rule: CompiledRule, path: str, what: str) -> None:
        entry = policy.never_entry(rule.id, rule.spec.severity)
        if entry is not None:
            raise SiteError(file, path, f"rule {rule.id!r} is on the never list "
                            f"(rules/never_off.yaml: {entry.reason.en}); a layer may not "
                            f"{what}")

    for i, item in enumerate(changes.disable):
        path = f"rules.disable[{i}]"
        never(rule_of(path, item.rule), path, "turn it off")
        out.disabled[item.rule] = _change(loaded, path, "off", item)
    for i, item in enumerate(changes.enable):
        path = f"rules.enable[{i}]"
        rule_of(path, item.rule)
        out.disabled.pop(item.rule, None)
    for i, item in enumerate(changes.severity):
        path = f"rules.severity[{i}]"
        rule = rule_of(path, item.rule)
        if SEVERITY_RANK[item.severity] < SEVERITY_RANK[rule.spec.severity]:
            never(rule, path, f"lower its severity to {item.severity}")
        out.severity[item.rule] = (item.severity, _change(
            loaded, path, f"severity {rule.spec.severity} -> {item.severity}", item))
    for i, item in enumerate(changes.stop):
        path = f"rules.stop[{i}]"
        rule = rule_of(path, item.rule)
        if item.stop == "none":
            never(rule, path, "set its stop level to none")
        out.stop[item.rule] = (item.stop, _change(loaded, path, f"stop {item.stop}", item))
    for i, item in enumerate(changes.min_severity):
        path = f"rules.min_severity[{i}]"
        out.min_severity[(item.category, item.kind)] = (item.severity, _change(
            loaded, path, f"{item.category}/{item.kind or '*'} shown from {item.severity}",
            item))


# ------------------------------------------------------------------ alerting
#: most suggestion kinds whose alerting :meth:`Alerting.decide` remembers
MAX_DECIDED = 4096


def lower_stop(stop: str) -> str:
    """One stop level less interruptive (hard -> soft -> none)."""
    return STOPS[max(0, STOPS.index(stop) - 1)]


@dataclass(frozen=True)
class Alerting:
    """Stop levels and what a site hides, decided per suggestion."""

    policy: AlertPolicy
    rules: SiteRules = field(default_factory=SiteRules)
    #: (rule id, category, kind, severity) -> :meth:`decide`'s answer: it reads only
    #: the policy and the site's rule changes, both fixed once the engine is built
    _decided: dict[tuple[str, str, str, str], tuple[Change | None, str, list[Change]]] = \
        field(default_factory=dict, compare=False, repr=False)

    def decide(self, rule_id: str, category: str, kind: str, severity: str
               ) -> tuple[Change | None, str, list[Change]]:
        """(:meth:`hiding`, :meth:`stop`, :meth:`notes`) of a suggestion, remembered
        (at most :data:`MAX_DECIDED` keys)."""
        key = (rule_id, category, kind, severity)
        found = self._decided.get(key)
        if found is None:
            found = (self.hiding(rule_id, category, kind, severity),
                     self.stop(rule_id, severity), self.notes(rule_id))
            if len(self._decided) >= MAX_DECIDED:
                self._decided.clear()
            self._decided[key] = found
        return found

    def stop(self, rule_id: str, severity: str) -> str:
        if rule_id in self.rules.stop:
            return self.rules.stop[rule_id][0]
        return self.policy.default_stop(severity)

    def hiding(self, rule_id: str, category: str, kind: str, severity: str) -> Change | None:
        """The change that hides this suggestion, or None (never-list rules are shown)."""
        national = self.rules.national.get(rule_id, severity)
        if self.policy.never_entry(rule_id, national) is not None:
            return None
        for key in ((category, kind), (category, None)):
            if key in self.rules.min_severity:
                floor, change = self.rules.min_severity[key]
                if SEVERITY_RANK[severity] < SEVERITY_RANK[floor]:
                    return change
                return None
        return None

    def notes(self, rule_id: str) -> list[Change]:
        return self.rules.notes.get(rule_id, [])
