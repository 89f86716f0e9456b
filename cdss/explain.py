"""From engine matches to explained suggestions, and from silence to ``not_evaluated``.

The engine says which rules fired on which facts; this module says why (the
clauses that were true, with values, thresholds and derivations), renders the
messages in both languages, and finds the rules that could not be evaluated
because the data they read is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cdss.derive import FactSet, fact_types
from cdss.kb import CLASS_PREFIX, KnowledgeBase
from cdss.report import NotEvaluated, Suggestion
from cdss.rulelang import CompiledRule, ir
from cdss.rulelang.evaluate import Env, evaluate_rule, explain, missing_fields
from cdss.rulelang.load import PLACEHOLDER

#: the fields a rule reads, per pattern: ((fact type, fields), ...)
Reads = tuple[tuple[str, frozenset[str]], ...]

_DOSE_FIELDS = {"dose": "", "max_single": "", "daily_dose": "/d", "max_daily": "/d",
                "min_daily": "/d", "geriatric_max_daily": "/d"}
_TEXT_PARTS = ("title", "message", "recommendation")
_OP_TEXT = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class _Template:
    """A message with ``{pattern.field}`` placeholders, split once: literal text and
    the (pattern, field) to put after each piece; an absent value shows as "?"."""

    pieces: tuple[tuple[str, tuple[str, str] | None], ...]

    @classmethod
    def parse(cls, text: str) -> _Template:
        pieces: list[tuple[str, tuple[str, str] | None]] = []
        at = 0
        for m in PLACEHOLDER.finditer(text):
            pieces.append((text[at:m.start()], (m.group(1), m.group(2))))
            at = m.end()
        pieces.append((text[at:], None))
        return cls(tuple(pieces))

    def render(self, env: Env) -> str:
        if len(self.pieces) == 1:
            return self.pieces[0][0]
        out = []
        for literal, slot in self.pieces:
            out.append(literal)
            if slot is not None:
                value = env[slot[0]].get(slot[1])
                out.append("?" if value is None else _fmt(value))
        return "".join(out)


@dataclass(frozen=True)
class _RuleStatics:
    """The parts of a rule's suggestions that do not depend on the facts."""

    rule: CompiledRule
    templates: dict[str, dict[str, _Template]]  # lang -> part -> template
    references: tuple[dict[str, Any], ...]
    specificity: int

    @classmethod
    def of(cls, rule: CompiledRule) -> _RuleStatics:
        spec = rule.spec
        return cls(rule,
                   {lang: {part: _Template.parse(getattr(spec, part).get(lang))
                           for part in _TEXT_PARTS} for lang in ("zh", "en")},
                   tuple(r.model_dump(exclude_none=True) for r in spec.references),
                   _class_literals(rule))


class Explainer:
    """Builds suggestions for one rule set and knowledge base."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.types = fact_types()
        self._plans: dict[int, list[tuple[Reads, list[CompiledRule]]]] = {}
        self._static: dict[str, _RuleStatics] = {}

    # ---- paths -----------------------------------------------------------------
    def field_path(self, fs: FactSet, fact: dict[str, Any], name: str) -> str:
        """The input path of a fact field (``prescriptions[0].dose``, ``labs[2].value``)."""
        override = fs.field_paths.get((fact["id"], name))
        if override:
            return override
        base = fs.paths.get(fact["id"], fact["t"])
        source = self.types[fact["t"]].fields[name].source
        if fact["t"] in ("derived",):
            return f"derived.{name}"
        if not source:
            return base or name
        return f"{base}.{source}" if base else source

    def missing_paths(self, fs: FactSet, fact: dict[str, Any], name: str) -> tuple[str, ...]:
        """Why a field is absent: the input fields whose absence left it missing."""
        t = self.types[fact["t"]]
        key = f"{fact['t']}.{name}" if not t.many else f"{fs.paths[fact['id']]}.{name}"
        if key in fs.missing:
            return fs.missing[key]
        return (self.field_path(fs, fact, name),)

    # ---- suggestions -----------------------------------------------------------
    def _unit(self, fact: dict[str, Any], name: str) -> str:
        unit = self.types[fact["t"]].fields[name].unit
        if not unit and fact["t"] == "rx" and name in _DOSE_FIELDS:
            unit = fact.get("dose_unit", "") + _DOSE_FIELDS[name]
        return unit

    def _evidence(self, rule: CompiledRule, env: Env, fs: FactSet) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        seen: set[str] = set()

        def add(fact: dict[str, Any], name: str, extra: dict[str, Any]) -> None:
            path = self.field_path(fs, fact, name)
            if path in seen:
                return
            seen.add(path)
            shows = self.types[fact["t"]].fields[name].shows
            item: dict[str, Any] = {"field": path, "value": fact.get(shows or name)}
            unit = self._unit(fact, name)
            if unit:
                item["unit"] = unit
            item.update(extra)
            derived = fs.derived.get(path)
            if derived is None and path.startswith("derived."):
                derived = fs.derived.get(path.removeprefix("derived."))
            if derived is not None:
                item["derivation"] = derived.to_dict()
            out.append(item)

        for pattern in rule.patterns:
            fact = env[pattern.name]
            headline = self.types[fact["t"]].headline
            if headline is not None:
                path = self.field_path(fs, fact, headline.field)
                if path not in seen:
                    seen.add(path)
                    item: dict[str, Any] = {"field": path, "value": fact.get(headline.field)}
                    if headline.condition:
                        item["condition"] = headline.condition.format(**fact)
                    if fact.get("known") is False:  # an unknown drug: the closest known ones
                        item["did_you_mean"] = self.kb.suggest_drugs(str(fact.get("drug")))
                    out.append(item)
            if fact["t"] == "implausible":  # its evidence is the withheld input field
                out.append({"field": fact["field"], "value": fact["value"],
                            "unit": fact.get("unit", ""),
                            "condition": f"outside {_fmt(fact['low'])}–{_fmt(fact['high'])}"})
        for name, leaf in explain(rule.patterns, env):
            fact = env[name]
            spec = self.types[fact["t"]].fields[leaf.field]
            if not spec.source or (fact["t"] in ("rx_key", "rx_allergen")
                                   and leaf.field in ("key", "drug")):
                continue  # identity and join fields; the drug itself is already listed
            extra: dict[str, Any] = {}
            if isinstance(leaf, ir.Compare):
                operand = leaf.operand
                if isinstance(operand, ir.Value):
                    threshold = operand.value
                    label = _fmt(threshold)
                elif isinstance(operand, ir.SameFact):
                    threshold = fact.get(operand.field)
                    label = f"{operand.field} {_fmt(threshold)}"
                else:
                    threshold = env[operand.pattern].get(operand.field)
                    label = f"{operand.pattern}.{operand.field} {_fmt(threshold)}"
                if leaf.op not in ("eq",) or not isinstance(threshold, str | bool):
                    extra = {"condition": f"{_OP_TEXT[leaf.op]} {label}",
                             "threshold": threshold}
            elif isinstance(leaf, ir.Contains):
                extra = {"condition": ("does not contain " if leaf.negate else "contains ")
                         + str(leaf.value)}
            elif isinstance(leaf, ir.Matches):
                extra = {"condition": f"matches {leaf.pattern}"}
            elif isinstance(leaf, ir.InList):
                extra = {"condition": ("not in " if leaf.negate else "in ")
                         + ", ".join(map(str, leaf.values))}
            if isinstance(leaf, ir.Exists) and not leaf.present:
                out.append({"field": self.field_path(fs, fact, leaf.field), "value": None,
                            "condition": "absent",
                            "missing": list(self.missing_paths(fs, fact, leaf.field))})
                continue
            if isinstance(leaf, ir.Exists):
                continue  # "the knowledge has this limit": the comparison says the rest
            add(fact, leaf.field, extra)
        return out

    def _statics(self, rule: CompiledRule) -> _RuleStatics:
        """What a suggestion of ``rule`` shares with every other firing (built once)."""
        statics = self._static.get(rule.action)
        if statics is None or statics.rule is not rule:
            statics = self._static[rule.action] = _RuleStatics.of(rule)
        return statics

    def suggestion(self, rule: CompiledRule, env: Env, fs: FactSet, *,
                   evidence: bool = True) -> Suggestion:
        """The explained suggestion for one firing of ``rule`` on ``env`` (``evidence``
        False: without its evidence, for tallies that do not show it)."""
        spec = rule.spec
        statics = self._statics(rule)
        texts = {lang: {part: template.render(env) for part, template in parts.items()}
                 for lang, parts in statics.templates.items()}
        codes = list(spec.codes)
        drugs: list[str] = []
        for fact in env.values():
            if fact["t"] == "condition" and fact.get("code") not in codes:
                codes.append(fact["code"])
            if fact["t"] in ("rx", "rx_key", "rx_allergen", "rx_renal", "rx_hepatic") and \
                    fact.get("known", True):
                drug = fact.get("drug")
                if drug and not drug.startswith(CLASS_PREFIX) and drug not in drugs:
                    drugs.append(drug)
        subject = self.subject(env, fs, rule)
        return Suggestion(
            rule_id=spec.id, rule_version=spec.version, category=spec.category, kind=spec.kind,
            severity=spec.severity, texts=texts,
            evidence=tuple(self._evidence(rule, env, fs)) if evidence else (),
            codes=tuple(codes), drugs=tuple(drugs),
            references=tuple(dict(r) for r in statics.references),
            subject=subject, group=spec.group, specificity=statics.specificity)

    # ---- not evaluated ---------------------------------------------------------
    def not_evaluated(self, rules: tuple[CompiledRule, ...], fs: FactSet,
                      fired: list[Suggestion]) -> list[NotEvaluated]:
        """Rules that could not be decided for some facts because data is missing.

        An undecided assignment is skipped when the finding it would report is already
        made (a rule of the same group fired on the same facts).
        """
        by_type: dict[str, list[dict[str, Any]]] = {}
        for fact in fs.facts:
            by_type.setdefault(fact["t"], []).append(fact)
        by_id = {f["id"]: f for f in fs.facts}
        made = {(s.group or s.rule_id, frozenset(s.subject)) for s in fired}
        # fields absent from at least one fact of each type
        absent = {t: {name for name in self.types[t].fields for f in facts if name not in f}
                  for t, facts in by_type.items()}
        candidates = [rule for reads, group in self._reads_of(rules)
                      if _may_be_unknown(reads, absent) for rule in group]
        out = []
        for rule in sorted(candidates, key=lambda r: r.action):
            outcome = evaluate_rule(rule.patterns, by_type)
            missing: set[str] = set()
            for env in outcome.unknown:
                subject = frozenset(self.subject(env, fs, rule))
                if (rule.spec.group or rule.id, subject) in made:
                    continue
                for fact_id, name in missing_fields(rule.patterns, env):
                    missing.update(self.missing_paths(fs, by_id[fact_id], name))
            if missing:
                out.append((rule.spec.group, NotEvaluated(rule.id, tuple(sorted(missing)))))
        return _collapse(out)

    def _reads_of(self, rules: tuple[CompiledRule, ...]) -> list[tuple[Reads, list[CompiledRule]]]:
        """Rules grouped by the fields they read per pattern (computed once per rule set):
        the 50 interaction rules read the same fields, so they are checked together."""
        key = id(rules)
        plan = self._plans.get(key)
        if plan is None:
            grouped: dict[Reads, list[CompiledRule]] = {}
            for rule in rules:
                grouped.setdefault(tuple(_fields_by_pattern(rule)), []).append(rule)
            plan = list(grouped.items())
            self._plans = {key: plan}
        return plan

    @staticmethod
    def subject(env: Env, fs: FactSet, rule: CompiledRule) -> tuple[str, ...]:
        """The input paths of the facts a finding is about (the rule's ``subject``
        patterns, or every pattern)."""
        names = rule.spec.subject or tuple(env)
        return tuple(sorted({fs.paths.get(env[n]["id"]) or env[n]["id"] for n in names}))


def _may_be_unknown(reads: Reads, absent: dict[str, set[str]]) -> bool:
    """Cheap pre-check: some fact the rule could bind lacks a field the rule reads."""
    for fact_type, _ in reads:
        if fact_type not in absent:
            return False  # a pattern has nothing to bind: the rule is false, not unknown
    return any(not fields.isdisjoint(absent[fact_type]) for fact_type, fields in reads)


def _fields_by_pattern(rule: CompiledRule) -> list[tuple[str, frozenset[str]]]:
    """For each pattern, its fact type and every field of that fact the rule reads."""
    reads: dict[str, set[str]] = {p.name: set(ir.fields_read(p.condition)) for p in rule.patterns}
    for p in rule.patterns:
        for leaf in ir.leaves(p.condition):
            if isinstance(leaf, ir.Compare) and isinstance(leaf.operand, ir.Ref):
                reads[leaf.operand.pattern].add(leaf.operand.field)
    return [(p.fact_type, frozenset(reads[p.name])) for p in rule.patterns]


def _collapse(entries: list[tuple[str | None, NotEvaluated]]) -> list[NotEvaluated]:
    """One entry per group and missing data: the 18 anaemia rules lacking a haemoglobin
    are one "could not check anaemia", listing the other rule ids in ``also``."""
    merged: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for group, entry in entries:
        key = (group or entry.rule_id, entry.missing)
        merged.setdefault(key, []).append(entry.rule_id)
    out = [NotEvaluated(ids[0], missing, tuple(ids[1:]))
           for (_, missing), ids in merged.items()]
    return sorted(out, key=lambda n: n.rule_id)


def _class_literals(rule: CompiledRule) -> int:
    """How many drug-class keys a rule names: fewer means a more specific rule."""
    count = 0
    for p in rule.patterns:
        for leaf in ir.leaves(p.condition):
            if isinstance(leaf, ir.Compare) and isinstance(leaf.operand, ir.Value) and \
                    isinstance(leaf.operand.value, str) and \
                    leaf.operand.value.startswith(CLASS_PREFIX):
                count += 1
    return count
