"""From engine matches to explained suggestions, and from silence to ``not_evaluated``.

The engine says which rules fired on which facts; this module says why (the
clauses that were true, with values, thresholds and derivations), renders the
messages in both languages, and finds the rules that could not be evaluated
because the data they read is missing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cdss.clearing import (
    Starts,
    band_starts,
    clear_texts,
    clear_when_stepped,
    plans,
    steps,
)
from cdss.derive import Fact, FactSet, fact_types
from cdss.kb import CLASS_PREFIX, KnowledgeBase
from cdss.reasoning import Decision, Undecided, subject_of
from cdss.report import MissingData, NotEvaluated, Suggestion
from cdss.rulelang import CompiledRule, ir
from cdss.rulelang.evaluate import Env, Trace, eval_node
from cdss.rulelang.load import PLACEHOLDER
from cdss.rulelang.ops import OPERATORS

#: facts that exist because of something about this patient (a prescription, a
#: symptom, a diagnosis): a rule bound to one is about this patient
_PATIENT_SPECIFIC = frozenset({"rx", "rx_key", "rx_renal", "rx_hepatic", "rx_allergen",
                               "rx_skin_test", "rx_tier", "slip", "allergy_key",
                               "condition", "symptom", "followup"})
#: facts about one prescribed drug: their ``drug`` is listed in a suggestion's ``drugs``
_OF_DRUG = ("rx", "rx_key", "rx_renal", "rx_hepatic", "rx_allergen", "rx_skin_test",
            "rx_tier", "rx_total")
#: facts of measurements: a rule one of whose clauses a measured value already meets
#: is about this patient (SBP 150 with the DBP missing)
_MEASURED = frozenset({"vitals", "labs", "derived"})

_DOSE_FIELDS = {"dose": "", "max_single": "", "daily_dose": "/d", "max_daily": "/d",
                "min_daily": "/d", "geriatric_max_daily": "/d"}
_TEXT_PARTS = ("title", "message", "recommendation")
#: what separates the six messages of a firing formatted as one text (never in a value
#: formatted into it, else each is formatted alone)
_SEP = "\x00"
#: :meth:`Explainer._about_field` of a field evidence does not show
_NOT_SHOWN = None
#: most input paths whose askability and label are remembered (per explainer)
_MAX_PATHS = 4096


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


def _steps(node: ir.Node) -> tuple[tuple[Any, ...], ...]:
    """The clauses of a condition as :func:`_true_leaves` walks them: the children of a
    top-level ``all`` (or the node alone), each ``("leaf", leaf, field, holds,
    argument)`` for a clause on the fact's own field and a literal (a comparison with a
    value, ``in``, ``contains``, ``matches``: the argument prepared once, as the
    evaluator prepares it per call), ``("exists", leaf, field, holds)``, else
    ``("node", child)`` (an ``any``, a comparison with another field)."""
    children = node.children if type(node) is ir.All else (node,)
    out: list[tuple[Any, ...]] = []
    for c in children:
        kind = type(c)
        if kind is ir.Compare and type(c.operand) is ir.Value:
            out.append(("leaf", c, c.field, c.operator.holds, c.operand.value))
        elif kind is ir.InList or kind is ir.Contains or kind is ir.Matches:
            out.append(("leaf", c, c.field, c.operator.holds, c.operator.prepare(c.argument)))
        elif kind is ir.Exists:
            out.append(("exists", c, c.field, c.operator.holds))
        else:
            out.append(("node", c))
    return tuple(out)


def _true_leaves(steps: tuple[tuple[str, tuple[tuple[Any, ...], ...]], ...], env: Env
                 ) -> list[tuple[str, ir.Node]]:
    """``rulelang.evaluate.explain`` of the rule whose :attr:`_RuleStatics.steps` these
    are: the same Kleene walk (an ``all`` stops at its first False child, a child that
    is unknown or true goes on; an absent field is unknown but for ``exists``; no list
    is known in part), with the clauses of :func:`_steps` evaluated inline and any
    other child by ``eval_node``."""
    found: list[tuple[str, ir.Node]] = []
    trace = None  # made for the first clause the evaluator walks
    for name, clauses in steps:
        fact = env[name]
        for step in clauses:
            kind = step[0]
            if kind == "leaf":
                _, leaf, field, holds, argument = step
                if field not in fact:
                    continue  # unknown: the walk goes on
                ok = holds(fact[field], argument)
                if ok:
                    found.append((name, leaf))
            elif kind == "exists":
                ok = step[3](step[2] in fact, None)
                if ok:
                    found.append((name, step[1]))
            else:
                if trace is None:
                    trace = Trace(found)
                ok = eval_node(step[1], name, fact, env, trace)
            if ok is False:
                break
    return found


def _joined(formats: dict[str, dict[str, str]]) -> str | None:
    """:attr:`_RuleStatics.joined` of these formats (None unless they are exactly zh and
    en, each title, message and recommendation, and none holds :data:`_SEP`)."""
    if list(formats) != ["zh", "en"] or any(list(parts) != list(_TEXT_PARTS)
                                            for parts in formats.values()):
        return None
    texts = [formats[lang][part] for lang in ("zh", "en") for part in _TEXT_PARTS]
    if any(_SEP in text for text in texts):
        return None
    return _SEP.join(texts)


@dataclass(frozen=True)
class _RuleStatics:
    """The parts of a rule's suggestions that do not depend on the facts."""

    rule: CompiledRule
    templates: dict[str, dict[str, _Template]]  # lang -> part -> template
    references: tuple[dict[str, Any], ...]
    specificity: int
    #: every (pattern, field) a message shows, once
    slots: tuple[tuple[str, str], ...] = ()
    #: lang -> part -> the template as a ``str.format`` text over :attr:`slots`
    formats: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    #: per pattern, the fields its condition reads, sorted
    reads: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: ``id(leaf)`` -> what an evidence item says of a clause that reads no fact (a
    #: comparison with a literal, a list, a pattern): the same for every firing; the
    #: leaves are the rule's own, kept alive by :attr:`rule`
    conditions: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    #: the patterns a boundary may make false (:func:`cdss.clearing.plans`)
    clears: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    #: (pattern, field) -> the values its ``contains`` clauses name (an inferred
    #: condition it does not ask about is not an assumption of the rule)
    named: dict[tuple[str, str], frozenset[Any]] = dataclasses.field(default_factory=dict)
    #: per pattern with a condition, its clauses as :func:`_true_leaves` walks them
    steps: tuple[tuple[str, tuple[tuple[Any, ...], ...]], ...] = ()
    #: pattern -> its fact type
    types: dict[str, str] = dataclasses.field(default_factory=dict)
    #: lang -> part -> the message, when no message shows a value (:attr:`slots` empty)
    fixed: dict[str, dict[str, str]] | None = None
    #: the six :attr:`formats` (zh, en; title, message, recommendation) as one text
    #: joined by :data:`_SEP`, formatted in one call; None if a template holds it
    joined: str | None = None
    #: ``id(leaf)`` -> what the evidence of that clause reads (:meth:`Explainer._record`),
    #: filled as clauses are found true; the leaves are the rule's own
    records: dict[int, tuple[Any, ...]] = dataclasses.field(default_factory=dict)
    #: what an explainer works out once per rule from what it alone knows ("clear": the
    #: :func:`cdss.clearing.steps` of :attr:`clears` with its band starts)
    lazy: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, rule: CompiledRule) -> _RuleStatics:
        spec = rule.spec
        templates = {lang: {part: _Template.parse(getattr(spec, part).get(lang))
                            for part in _TEXT_PARTS} for lang in ("zh", "en")}
        slots = tuple(dict.fromkeys(slot for parts in templates.values()
                                    for t in parts.values() for _, slot in t.pieces
                                    if slot is not None))
        index = {slot: i for i, slot in enumerate(slots)}
        formats = {lang: {part: "".join(
            literal.replace("{", "{{").replace("}", "}}")
            + ("" if slot is None else f"{{{index[slot]}}}") for literal, slot in t.pieces)
            for part, t in parts.items()} for lang, parts in templates.items()}
        return cls(rule, templates,
                   tuple(r.model_dump(exclude_none=True) for r in spec.references),
                   _class_literals(rule), slots, formats,
                   tuple((p.name, tuple(sorted(ir.fields_read(p.condition))))
                         for p in rule.patterns),
                   {id(leaf): leaf.accept(_CONDITION, None, None)
                    for p in rule.patterns for leaf in ir.leaves(p.condition)
                    if not isinstance(leaf, ir.Exists) and not (
                        isinstance(leaf, ir.Compare) and not isinstance(leaf.operand, ir.Value))},
                   plans(rule), _contains_named(rule),
                   tuple((p.name, _steps(p.condition)) for p in rule.patterns
                         if p.condition is not None),
                   {p.name: p.fact_type for p in rule.patterns},
                   None if slots else {lang: {part: text.format() for part, text in parts.items()}
                                       for lang, parts in formats.items()},
                   _joined(formats))

    def texts(self, env: Env) -> dict[str, dict[str, str]]:
        """The messages of a firing on ``env``, per language and part (what
        :meth:`_Template.render` gives)."""
        fixed = self.fixed
        if fixed is not None:
            return {lang: dict(parts) for lang, parts in fixed.items()}
        values = []
        for pattern, name in self.slots:
            value = env[pattern].get(name)
            values.append(value if type(value) is str else "?" if value is None
                          else _fmt(value))
        joined = self.joined
        if joined is not None and _SEP not in "".join(values):
            zt, zm, zr, et, em, er = joined.format(*values).split(_SEP)
            return {"zh": {"title": zt, "message": zm, "recommendation": zr},
                    "en": {"title": et, "message": em, "recommendation": er}}
        return {lang: {part: text.format(*values) for part, text in parts.items()}
                for lang, parts in self.formats.items()}


class Explainer:
    """Builds suggestions for one rule set and knowledge base."""

    def __init__(self, kb: KnowledgeBase, rules: tuple[CompiledRule, ...] = ()) -> None:
        self.kb = kb
        self.types = fact_types(kb)
        self._static: dict[str, _RuleStatics] = {}
        #: where bands start, per group (a boundary must not cross into a worse finding)
        self._rules = rules
        self._starts: dict[str | None, Starts] = {}
        #: per rule, what makes it about this patient (see :func:`_about`)
        self._about: dict[str, bool | tuple[ir.Pattern, ...]] = {}
        #: per input path: whether a clinician can collect it (:meth:`_askable`)
        self._askable_paths: dict[str, bool] = {}
        #: per input path: its label (:meth:`label`), which reads only the knowledge
        self._labels: dict[str, dict[str, str]] = {}
        #: (fact type, field) -> what evidence reads of its spec (:meth:`_about_field`)
        self._field_info: dict[tuple[str, str], Any] = {}
        #: unknown drug name -> the closest known drugs (:meth:`_suggest_drugs`)
        self._did_you_mean: dict[str, tuple[str, ...]] = {}

    def _band_starts(self, group: str | None) -> Starts:
        starts = self._starts.get(group)
        if starts is None:
            starts = self._starts[group] = band_starts(self._rules, group)
        return starts

    def _clearing_about(self, fact_type: str, field: str
                        ) -> tuple[bool, str, str | None] | None:
        """What :meth:`_changeable` and :meth:`_unit` say of a ``fact_type`` fact's
        ``field`` (:data:`cdss.clearing.About`); None for a field the type lacks."""
        t = self.types.get(fact_type)
        spec = t.fields.get(field) if t is not None else None
        if spec is None:
            return None
        dose = _DOSE_FIELDS[field] if not spec.unit and fact_type == "rx" \
            and field in _DOSE_FIELDS else None
        return self._changeable(fact_type, field), spec.unit, dose

    def _changeable(self, fact_type: str, field: str) -> bool:
        """A field a clinician's action or the patient's course can change: not the
        patient's own (age, sex), nor an identity or join field."""
        if fact_type in ("patient", "rx_key", "rx_allergen", "allergy_key", "condition"):
            return False  # who the patient is, and the identity and join facts
        spec = self.types[fact_type].fields.get(field)
        return bool(spec is not None and spec.source)

    def clear_when(self, rule: CompiledRule, env: Env, fs: FactSet
                   ) -> tuple[tuple[dict[str, Any], ...], dict[str, dict[str, str]]]:
        """What would clear this firing (:mod:`cdss.clearing`), and the clinician's name
        of each field it names."""
        return self._clearing(rule, env, fs, self.label)

    def _clearing(self, rule: CompiledRule, env: Env, fs: FactSet,
                  label: Callable[[str], dict[str, str]], statics: _RuleStatics | None = None
                  ) -> tuple[tuple[dict[str, Any], ...], dict[str, dict[str, str]]]:
        """:meth:`clear_when`, the names given by ``label`` (:meth:`label`, or the
        remembered names themselves when they are only read)."""
        labels: dict[str, dict[str, str]] = {}
        if statics is None:
            statics = self._statics(rule)
        if statics.clears:
            field_path = self.field_path

            def path_of(fact: dict[str, Any], name: str) -> str:
                path = field_path(fs, fact, name)
                labels[path] = label(f"labs.{name}" if fact["t"] == "labs" else path)
                return path

            starts = self._band_starts(rule.spec.group)
            planned = statics.lazy.get("clear")
            if planned is None:
                planned = statics.lazy["clear"] = steps(rule, statics.clears, starts,
                                                        self._clearing_about)
            found = list(clear_when_stepped(rule, env, planned, starts, path_of, self._unit,
                                            self._changeable, statics.types))
        else:
            found = []
        if not fs.clears:
            return tuple(found), labels
        for pattern, names in statics.reads:  # verdicts computed from input
            fact = env[pattern]                             # values (controlled)
            for name in names:
                conditions = fs.clears.get((fact["id"], name))
                if conditions:
                    labels.update({c["field"]: label(c["field"]) for c in conditions})
                    found.insert(0, {"all": [dict(c) for c in conditions]})
        return tuple(found), labels

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

    def _evidence(self, rule: CompiledRule, env: Env, fs: FactSet,
                  statics: _RuleStatics | None = None) -> list[dict[str, Any]]:
        """The evidence items of a firing, each ending with the ``clause`` it comes from
        (the id of the rule's clause that was true, ``v/0/1``; a pattern's name for the
        fact it bound)."""
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        types = self.types
        field_path = self.field_path
        for pattern in rule.patterns:
            fact = env[pattern.name]
            t = fact["t"]
            headline = types[t].headline
            if headline is not None:
                path = field_path(fs, fact, headline.field)
                if path not in seen:
                    seen.add(path)
                    item = {"field": path, "value": fact.get(headline.field)}
                    if headline.condition:
                        item["condition"] = headline.condition.format(**fact)
                    if fact.get("known") is False:  # an unknown drug: the closest known ones
                        item["did_you_mean"] = self._suggest_drugs(str(fact.get("drug")))
                    item["clause"] = pattern.name
                    out.append(item)
            if t == "implausible":  # its evidence is the withheld input field
                out.append({"field": fact["field"], "value": fact.get("value"),
                            "unit": fact.get("unit", ""),
                            "condition": f"outside {_fmt(fact['low'])}–{_fmt(fact['high'])}",
                            "clause": pattern.name})
        if statics is None:
            statics = self._statics(rule)
        records = statics.records
        overrides = fs.field_paths
        paths = fs.paths
        derived_of = fs.derived
        inferences = fs.inferred
        for name, leaf in _true_leaves(statics.steps, env):
            fact = env[name]
            t = fact["t"]
            record = records.get(id(leaf))
            if record is None or record[0] != t:
                record = self._record(statics, leaf, t)
            _, shown, field, source, shows, unit, dose_unit, exists, extra, clause = record
            if not shown:
                continue  # identity and join fields; the drug itself is already listed
            fact_id = fact["id"]
            # :meth:`field_path`, inline
            path = overrides.get((fact_id, field)) if overrides else None
            if not path:
                if t == "derived":
                    path = f"derived.{field}"
                else:
                    base = paths.get(fact_id, t)
                    path = f"{base}.{source}" if base else source
            if exists is not None:
                if exists:
                    continue  # "the knowledge has this limit": the comparison says the rest
                out.append({"field": path, "value": None,
                            "condition": leaf.operator.evidence,
                            "missing": list(self.missing_paths(fs, fact, field)),
                            "clause": clause})
                continue
            if path in seen:
                continue
            seen.add(path)
            item = {"field": path, "value": fact.get(shows)}
            if dose_unit is not None:
                unit = fact.get("dose_unit", "") + dose_unit
            if unit:
                item["unit"] = unit
            item.update(extra if extra is not None else leaf.accept(_CONDITION, fact, env))
            derived = derived_of.get(path)
            if derived is None and path.startswith("derived."):
                derived = derived_of.get(path[8:])
            if derived is not None:
                item["derivation"] = derived.to_dict()
            if inferences:
                inferred = inferences.get((fact_id, field))
                if inferred:
                    item["inferred_from"] = [i["from"] for i in inferred]
            item["clause"] = clause
            out.append(item)
        return out

    def _record(self, statics: _RuleStatics, leaf: ir.Node, t: str) -> tuple[Any, ...]:
        """What the evidence of a true clause ``leaf`` of a ``t`` fact reads of the rule
        and the fact types, remembered in :attr:`_RuleStatics.records` (keyed by the
        leaf, one of the rule's own; checked against the fact type on every use):
        ``(t, shown, field, source, shows, unit, dose suffix, exists, fixed wording,
        clause id)``, where ``exists`` is None for a clause other than ``exists``, else
        whether it asks for presence."""
        field = leaf.field
        about = self._field_info.get((t, field))
        if about is None:
            about = self._field_info[(t, field)] = self._about_field(t, field)
        source, shows, unit, dose = about if about is not _NOT_SHOWN else ("", "", "", None)
        record = (t, about is not _NOT_SHOWN, field, source, shows, unit, dose,
                  leaf.present if isinstance(leaf, ir.Exists) else None,
                  statics.conditions.get(id(leaf)), leaf.id)
        statics.records[id(leaf)] = record
        return record

    def _about_field(self, t: str, field: str) -> tuple[str, str, str, str | None] | None:
        """What the evidence of a true clause on field ``field`` of a ``t`` fact reads of
        the fact types: its source, the field whose value it shows, its unit and (an rx
        dose field without a unit) the suffix after the fact's ``dose_unit``;
        :data:`_NOT_SHOWN` for an identity or join field."""
        spec = self.types[t].fields[field]
        if not spec.source or (t in ("rx_key", "rx_allergen") and field in ("key", "drug")):
            return _NOT_SHOWN
        dose = _DOSE_FIELDS[field] if not spec.unit and t == "rx" and field in _DOSE_FIELDS \
            else None
        return spec.source, spec.shows or field, spec.unit, dose

    def _suggest_drugs(self, name: str) -> list[str]:
        """``kb.suggest_drugs(name)``, remembered per name (bounded; a new list per call)."""
        found = self._did_you_mean.get(name)
        if found is None:
            found = tuple(self.kb.suggest_drugs(name))
            if len(self._did_you_mean) >= _MAX_PATHS:
                self._did_you_mean.clear()
            self._did_you_mean[name] = found
        return list(found)

    def _statics(self, rule: CompiledRule) -> _RuleStatics:
        """What a suggestion of ``rule`` shares with every other firing (built once)."""
        statics = self._static.get(rule.action)
        if statics is None or statics.rule is not rule:
            statics = self._static[rule.action] = _RuleStatics.of(rule)
        return statics

    def suggestion(self, rule: CompiledRule, env: Env, fs: FactSet, *,
                   evidence: bool = True, decision: Decision | None = None) -> Suggestion:
        """The explained suggestion for one firing of ``rule`` on ``env`` (``evidence``
        False: without its evidence, for tallies that do not show it); ``decision``: a
        finding made under missing data (``cdss.reasoning``), with what it assumed."""
        spec = rule.spec
        statics = self._statics(rule)
        texts = statics.texts(env)
        codes = list(spec.codes)
        drugs: list[str] = []
        for fact in env.values():
            if fact["t"] == "condition" and fact.get("code") not in codes:
                codes.append(fact["code"])
            if fact["t"] in _OF_DRUG and \
                    fact.get("known", True):
                drug = fact.get("drug")
                if drug and not drug.startswith(CLASS_PREFIX) and drug not in drugs:
                    drugs.append(drug)
        inferred = self._inferences(rule, env, fs, decision)
        assumptions = inferred
        certainty = "complete"
        if decision is not None:
            certainty = decision.certainty
            assumptions = self._assumed(decision, fs) + inferred
            _qualify(texts, decision.certainty, assumptions)
        elif inferred:
            for lang, sep, head in (("zh", "；", "（推断："), ("en", "; ", " (Inferred: ")):
                texts[lang]["message"] += head + sep.join(
                    dict.fromkeys(a["assumed"][lang] for a in inferred)) + (
                    "）" if lang == "zh" else ".)")
        clears: tuple[dict[str, Any], ...] = ()
        labels: dict[str, dict[str, str]] = {}
        if evidence:  # worked out with the evidence (a bare tally has neither)
            clears, labels = self._clearing(rule, env, fs, self._read_label, statics)
        if clears:
            texts["zh"]["clear"], texts["en"]["clear"] = clear_texts(clears, labels)
        else:
            texts["zh"]["clear"] = texts["en"]["clear"] = ""
        return Suggestion._from_literal({
            "rule_id": spec.id, "rule_version": spec.version, "category": spec.category,
            "kind": spec.kind, "severity": spec.severity, "texts": texts,
            "evidence": tuple(self._evidence(rule, env, fs, statics)) if evidence else (),
            "codes": tuple(codes), "drugs": tuple(drugs),
            "references": tuple([dict(r) for r in statics.references]),
            "subject": subject_of(rule, env, fs), "group": spec.group,
            "specificity": statics.specificity, "certainty": certainty,
            "assumptions": assumptions, "supersedes": spec.supersedes, "stop": None,
            "site": (), "repeat": None, "clear_when": clears})

    # ---- what a finding rests on ------------------------------------------------
    def label(self, path: str) -> dict[str, str]:
        """The clinician's name of an input path, in both languages (a new dict: the
        callers keep it in suggestions and reports)."""
        return dict(self._read_label(path))

    def _read_label(self, path: str) -> dict[str, str]:
        """:meth:`label`, the remembered dict itself: for callers that only read it."""
        found = self._labels.get(path)
        if found is None:
            found = self._label(path)
            if len(self._labels) >= _MAX_PATHS:
                self._labels.clear()
            self._labels[path] = found
        return found

    def _label(self, path: str) -> dict[str, str]:
        head = path.split(" (")[0]
        if head.startswith("labs.") and head[5:] in self.kb.analytes:
            name = self.kb.analytes[head[5:]].name
            return {"zh": name.zh, "en": name.en}
        found = self.kb.labels.label(head)
        if found is None:
            return {"zh": head, "en": head}
        text = {"zh": found.zh, "en": found.en}
        prefix = head.split(".")[0]
        if prefix.startswith("prescriptions["):
            text = {"zh": f"处方{int(prefix[14:-1]) + 1}的{found.zh}",
                    "en": f"{found.en} of prescription {int(prefix[14:-1]) + 1}"}
        return text

    def _inferences(self, rule: CompiledRule, env: Env, fs: FactSet,
                    decision: Decision | None = None) -> tuple[dict[str, Any], ...]:
        """What the record did not say but was inferred, for the fields the rule read
        (a list known in part, such as a problem list not sent but implied by a drug,
        among them)."""
        if not fs.inferred:
            return ()
        out = []
        statics = self._statics(rule)
        for pattern, names in statics.reads:
            fact = env[pattern]
            for name in names:
                if name not in fact and (decision is None or (fact["id"], name)
                                         not in decision.missing):
                    continue
                hows = fs.inferred.get((fact["id"], name))
                if not hows:
                    continue
                named = statics.named.get((pattern, name))
                for how in hows:
                    if named and how["value"] not in named:
                        continue  # an inferred condition the rule does not ask about
                    path = self.missing_paths(fs, fact, name)[0]
                    out.append({"field": path, "label": self.label(path),
                                "assumed": {"zh": how["zh"], "en": how["en"]},
                                "inferred": True})
        return tuple(out)

    def _assumed(self, decision: Decision, fs: FactSet) -> tuple[dict[str, Any], ...]:
        facts = {f["id"]: f for f in decision.env.values()}
        out: list[dict[str, Any]] = []
        if decision.certainty == "conditional":
            for name, leaf in decision.conditions:
                fact = decision.env[name]
                path = self.missing_paths(fs, fact, leaf.field)[0]
                out.append({"field": path, "label": self.label(path),
                            "assumed": self._condition_text(path, leaf)})
        else:
            facts = _facts_missing(decision, fs)
            paths = dict.fromkeys(p for fid, name in decision.missing
                                  for p in self.missing_paths(fs, facts[fid], name))
            for path in paths:
                out.append({"field": path, "label": self.label(path),
                            "assumed": {"zh": "无论其为何值", "en": "whatever it is"},
                            "missing": True})
        return tuple(out)

    def _condition_text(self, path: str, leaf: ir.Node) -> dict[str, str]:
        """A clause on a context field, as a clinician would say the condition."""
        return leaf.accept(_SAID, self, path)

    def value_text(self, path: str, value: Any) -> dict[str, str]:
        """``path`` having ``value``, in words: its name in the labels (``fasting``) or
        the ``eq`` wording of the operator table."""
        found = self.kb.labels.label(path)
        key = str(value).lower() if isinstance(value, bool) else str(value)
        named = found.values.get(key) if found else None
        if named is not None:
            return {"zh": named.zh, "en": named.en}
        label = self.label(path)
        return {lang: text.format(label=label[lang], value=_fmt(value))
                for lang, text in OPERATORS["eq"].said.items()}  # type: ignore[union-attr]

    # ---- not evaluated ---------------------------------------------------------
    def not_evaluated(self, undecided: list[Undecided], fs: FactSet) -> list[NotEvaluated]:
        """Rules that could not be decided for some facts because data is missing, each
        marked ``ask`` when collecting the data would settle a suggestion about this
        patient (see :meth:`_worth_asking`)."""
        # action -> [rule, the input paths its assignments lack (sorted, distinct), ask]
        by_rule: dict[str, list[Any]] = {}
        # (fact id, field) -> its input paths, sorted and distinct
        paths_of: dict[tuple[str, str], tuple[str, ...]] = {}
        for u in undecided:
            if len(u.missing) == 1:  # most assignments lack one field
                for ref in u.missing:
                    paths = paths_of.get(ref)
                    if paths is None:
                        paths = paths_of[ref] = self._input_paths(fs, u, ref)
            else:
                union: set[str] = set()
                for ref in u.missing:
                    named = paths_of.get(ref)
                    if named is None:
                        named = paths_of[ref] = self._input_paths(fs, u, ref)
                    union.update(named)
                paths = tuple(sorted(union))
            entry = by_rule.get(u.rule.action)
            if entry is None:
                by_rule[u.rule.action] = [u.rule, paths, self._worth_asking(u, paths)]
            else:
                if paths != entry[1]:
                    entry[1] = tuple(sorted({*entry[1], *paths}))
                entry[2] = entry[2] or self._worth_asking(u, paths)
        # one entry per group and missing data: the 18 anaemia rules lacking a
        # haemoglobin are one "could not check anaemia", the other rule ids in ``also``
        merged: dict[tuple[str, tuple[str, ...]], list[Any]] = {}  # -> [rule id, also, ask]
        for action in sorted(by_rule):
            rule, paths, ask = by_rule[action]
            if paths:
                key = (rule.spec.group or rule.id, paths)
                same = merged.get(key)
                if same is None:
                    merged[key] = [rule.id, (), ask]
                else:
                    same[1] += (rule.id,)
                    same[2] = same[2] or ask
        out = [_entry(rule_id, missing, also, ask)
               for (_, missing), (rule_id, also, ask) in merged.items()]
        out.sort(key=lambda n: n.rule_id)
        return out

    def _input_paths(self, fs: FactSet, u: Undecided, ref: tuple[str, str]
                     ) -> tuple[str, ...]:
        """The input paths whose absence left a field of an assignment's fact missing
        (:meth:`missing_paths`), sorted and distinct."""
        named = self.missing_paths(fs, _fact_of(u, ref[0]), ref[1])
        return named if len(named) == 1 else tuple(sorted(set(named)))

    def _worth_asking(self, u: Undecided, paths: tuple[str, ...]) -> bool:
        """The missing data would change a suggestion for this patient: the rule warns
        (not merely informs), every missing item is data a clinician can collect (not a
        knowledge gap, not a value withheld as implausible), and the rule is about this
        patient because of something other than age and sex (a prescription, a symptom,
        a measured value that already meets part of it; not merely its age, sex or an
        absent diagnosis)."""
        about = self._about.get(u.rule.action)
        if about is None:
            about = self._about[u.rule.action] = _about(u.rule)
        if about is False:
            return False  # record quality is the auditors' concern, not a question now
        known = self._askable_paths
        for path in paths:
            if not (known.get(path) or self._askable(path)):
                return False  # a knowledge gap, a withheld value, or not the clinician's
        if about is True:
            return True  # bound to a fact about this patient (a prescription, a symptom)
        env, met = u.env, u.met
        for p in about:  # a measured value that already meets one of its clauses
            if met is not None:  # generated (cdss.backends.compiled.search): the same
                if met[p.name](env[p.name], env):
                    return True
                continue
            trace = Trace()
            eval_node(p.condition, p.name, env[p.name], env, trace)
            if any(not isinstance(leaf, ir.Exists) for _, leaf in trace.true_leaves):
                return True
        return False

    def _askable(self, path: str) -> bool:
        found = self._askable_paths.get(path)
        if found is None:
            if path.startswith("labs."):
                found = path[5:] in self.kb.analytes
            else:
                label = self.kb.labels.label(path)
                found = label is not None and label.ask
            if len(self._askable_paths) >= _MAX_PATHS:
                self._askable_paths.clear()
            self._askable_paths[path] = found
        return found

    def missing_data(self, entries: list[NotEvaluated], decisions: list[Decision],
                     fs: FactSet, shown: list[Suggestion]) -> list[MissingData]:
        """The data worth collecting now, one item per input field, with its rules: what
        the ``ask`` entries of ``not_evaluated`` lack, and what could raise the severity
        of a finding made whatever the missing values are; not what a ``shown``
        suggestion already asks for (its evidence names it as missing)."""
        rules: dict[str, list[str]] = {}
        for n in entries:
            if n.ask:
                for path in n.missing:
                    if self._askable(path):
                        rules.setdefault(path, []).extend((n.rule_id, *n.also))
        for d in decisions:
            if d.raises:
                facts = _facts_missing(d, fs)
                for fid, name in d.missing:
                    for path in self.missing_paths(fs, facts[fid], name):
                        if self._askable(path):
                            rules.setdefault(path, []).append(d.rule.id)
        told = {path for s in shown for e in s.evidence for path in e.get("missing", ())}
        return [MissingData(path, self.label(path), tuple(sorted(set(ids))))
                for path, ids in sorted(rules.items()) if path not in told]


def _facts_missing(decision: Decision, fs: FactSet) -> dict[str, Fact]:
    """The facts of a decision by id, with those whose fields it lists as missing: the
    missing fields of every assignment of the finding, some of them of facts the chosen
    assignment does not bind (another drug's renal rule, issue #17's fuzz test)."""
    facts = {f["id"]: f for f in decision.env.values()}
    if any(fid not in facts for fid, _ in decision.missing):
        facts = {f["id"]: f for f in fs.facts}
    return facts


class _Condition(ir.Visitor[dict[str, Any]]):
    """What an evidence item says of the clause that was true: ``condition`` (the
    operator's ``evidence`` wording) and, for comparisons, ``threshold``; each method
    takes the fact and the assignment."""

    def visit_compare(self, leaf: ir.Compare, fact: dict[str, Any], env: Env
                      ) -> dict[str, Any]:
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
        if leaf.op == "eq" and isinstance(threshold, str | bool):
            return {}  # the value says it: sex = female
        return {"condition": f"{leaf.operator.evidence} {label}", "threshold": threshold}

    def visit_in_list(self, leaf: ir.InList, fact: dict[str, Any], env: Env) -> dict[str, Any]:
        return {"condition": f"{leaf.operator.evidence} " + ", ".join(map(str, leaf.values))}

    def visit_leaf(self, leaf: ir.Leaf, fact: dict[str, Any], env: Env) -> dict[str, Any]:
        return {"condition": f"{leaf.operator.evidence} {leaf.argument}"}


_CONDITION = _Condition()


class _Said(ir.Visitor[dict[str, str]]):
    """An assumed condition in words, per language, from the operator's ``said``
    wording; each method takes the explainer and the input path of the field."""

    def visit_contains(self, leaf: ir.Contains, ex: Explainer, path: str) -> dict[str, str]:
        group = ex.kb.condition_groups.get(str(leaf.value))
        name = ({"zh": group.name.zh, "en": group.name.en} if group
                else {"zh": leaf.value, "en": leaf.value})
        return {lang: text.format(value=name[lang])
                for lang, text in leaf.operator.said.items()}  # type: ignore[union-attr]

    def visit_compare(self, leaf: ir.Compare, ex: Explainer, path: str) -> dict[str, str]:
        if not isinstance(leaf.operand, ir.Value):
            return self.visit_leaf(leaf, ex, path)
        if leaf.op == "eq":
            return ex.value_text(path, leaf.operand.value)
        label = ex.label(path)
        return {lang: text.format(label=label[lang], symbol=leaf.operator.symbol,
                                  value=_fmt(leaf.operand.value))
                for lang, text in leaf.operator.said.items()}  # type: ignore[union-attr]

    def visit_in_list(self, leaf: ir.InList, ex: Explainer, path: str) -> dict[str, str]:
        if leaf.operator.joins is None:
            return self.visit_leaf(leaf, ex, path)
        parts = [ex.value_text(path, v) for v in leaf.values]
        return {lang: word.join(p[lang] for p in parts)
                for lang, word in leaf.operator.joins.items()}

    def visit_leaf(self, leaf: ir.Leaf, ex: Explainer, path: str) -> dict[str, str]:
        label = ex.label(path)
        return {"zh": label["zh"], "en": label["en"]}


_SAID = _Said()


def _qualify(texts: dict[str, dict[str, str]], certainty: str,
             assumptions: tuple[dict[str, Any], ...]) -> None:
    """Say in the texts what a finding made under missing data rests on: the fields not
    recorded, what was inferred in their place, and (conditional) the condition."""
    missing = [a for a in assumptions if a.get("missing")]
    inferred = [a for a in assumptions if a.get("inferred")]
    conditions = [a for a in assumptions if a not in missing and a not in inferred]

    def join(items: list[dict[str, Any]], key: str, lang: str) -> str:
        sep = {"zh": "、", "en": ", "}[lang] if key == "label" else {"zh": "；", "en": "; "}[lang]
        return sep.join(dict.fromkeys(a[key][lang] for a in items))

    named = missing if certainty == "regardless" else conditions
    zh = f"（未记录：{join(named, 'label', 'zh')}；"
    en = f" (Not recorded: {join(named, 'label', 'en')}; "
    if inferred:
        zh += f"推断：{join(inferred, 'assumed', 'zh')}；"
        en += f"inferred: {join(inferred, 'assumed', 'en')}; "
    if certainty == "regardless":
        texts["zh"]["message"] += zh + "此结论不论其为何值均成立。）"
        texts["en"]["message"] += en + "this holds whatever the missing values are.)"
        return
    when = {"zh": "且".join(dict.fromkeys(a["assumed"]["zh"] for a in conditions)),
            "en": " and ".join(dict.fromkeys(a["assumed"]["en"] for a in conditions))}
    texts["zh"]["message"] += zh + f"仅在{when['zh']}时成立。）"
    texts["en"]["message"] += en + f"this applies only if {when['en']}.)"
    texts["zh"]["recommendation"] = f"若{when['zh']}：{texts['zh']['recommendation']}"
    texts["en"]["recommendation"] = f"If {when['en']}: {texts['en']['recommendation']}"
    texts["zh"]["title"] = f"待确认：{texts['zh']['title']}"
    texts["en"]["title"] = f"To confirm: {texts['en']['title']}"


def _about(rule: CompiledRule) -> bool | tuple[ir.Pattern, ...]:
    """What makes an undecided ``rule`` about this patient (:meth:`Explainer._worth_asking`):
    False if never (it informs, or is about record quality), True if always (it binds a
    fact that exists because of this patient), else its patterns on measurements, one of
    whose clauses must already be met."""
    if rule.spec.severity == "info" or rule.spec.category == "quality":
        return False
    if any(p.fact_type in _PATIENT_SPECIFIC for p in rule.patterns):
        return True
    return tuple(p for p in rule.patterns
                 if p.fact_type in _MEASURED and p.condition is not None)


def _contains_named(rule: CompiledRule) -> dict[tuple[str, str], frozenset[Any]]:
    """(pattern, field) -> the values the pattern's ``contains`` clauses on it name."""
    out: dict[tuple[str, str], set[Any]] = {}
    for p in rule.patterns:
        for leaf in ir.leaves(p.condition):
            if isinstance(leaf, ir.Contains):
                out.setdefault((p.name, leaf.field), set()).add(leaf.value)
    return {key: frozenset(values) for key, values in out.items()}


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


def _fact_of(u: Undecided, fact_id: str) -> dict[str, Any]:
    """The fact of an assignment with this id (:meth:`Explainer.not_evaluated`)."""
    for fact in u.env.values():
        if fact["id"] == fact_id:
            return fact
    raise KeyError(fact_id)


#: NotEvaluated entries already made, by all their fields (frozen: one instance can be
#: in many reports); bounded
_ENTRIES: dict[tuple[str, tuple[str, ...], tuple[str, ...], bool], NotEvaluated] = {}


def _entry(rule_id: str, missing: tuple[str, ...], also: tuple[str, ...], ask: bool
           ) -> NotEvaluated:
    """``NotEvaluated(rule_id, missing, also, ask)``, made once per distinct value."""
    key = (rule_id, missing, also, ask)
    found = _ENTRIES.get(key)
    if found is None:
        if len(_ENTRIES) >= _MAX_PATHS:
            _ENTRIES.clear()
        found = _ENTRIES[key] = NotEvaluated(rule_id, missing, also, ask)
    return found
