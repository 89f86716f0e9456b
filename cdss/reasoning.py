"""Reasoning under missing data: does a finding hold whatever the missing values are?

Kleene evaluation (:mod:`cdss.rulelang.evaluate`) says a rule is true, false or
unknown for an assignment of facts. Van records are sparse, so "unknown" is common:
no problem list, no pregnancy status, no glucose context. This module completes the
missing fields of every undecided assignment with each value that could change a
verdict (a case split over a finite domain per field, drawn from the literals of the
rules of the same finding) and sorts each undecided finding into:

``regardless``
    every completion makes some rule of the finding true: the finding is made, with
    the lowest severity that every completion supports; the missing fields are named.
``conditional``
    some completions make it true and every missing field is *context* (declared in
    the fact schema: "is it already diagnosed?", "was the glucose fasting?"): the
    finding is made as conditional, with the condition it rests on.
``undecided``
    anything else: reported in ``not_evaluated`` with the data it lacks.

Kleene logic is monotone (a false clause stays false whatever the unknowns become), so
only assignments that are undecided on the real facts need completing.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cdss.derive import FactSet
from cdss.derive.schema import FactType
from cdss.rulelang import CompiledRule, ir
from cdss.rulelang.bounds import Bounded, bounded, unknown_assignments
from cdss.rulelang.evaluate import Env, Trace, eval_node, explain
from cdss.rulelang.ops import is_number

if TYPE_CHECKING:
    from cdss.backends.compiled import search

Fact = dict[str, Any]
#: (fact id, field)
FieldRef = tuple[str, str]
#: a finding: (group or rule id, subject paths)
FindingKey = tuple[str, frozenset[str]]

#: most combinations of missing values tried for one finding (beyond: undecided)
MAX_COMPLETIONS = 512
#: most literals of a list field split on (2**n subsets)
MAX_LIST_LITERALS = 4
SEVERITY_ORDER = {"info": 0, "warning": 1, "critical": 2}
#: a string no rule literal equals ("some other value")
OTHER = "\x00other"
#: most fact-presence signatures whose candidate rules are kept (per reasoner)
MAX_SIGNATURES = 4096


@dataclass(slots=True)
class Undecided:
    """One assignment of facts that a rule can neither confirm nor rule out (never
    changed once made; not frozen, because a frozen dataclass costs four times as
    much to build, and about 23 are built per check)."""

    rule: CompiledRule
    env: Env
    missing: frozenset[FieldRef]
    #: its finding (worked out once, in :meth:`Reasoner.undecided`)
    key: FindingKey | None = field(default=None, compare=False)
    #: per pattern with a condition (by name): whether its evaluation on the fact bound
    #: to it meets a true clause other than an existence test (generated,
    #: ``cdss.backends.compiled.search``; None: not generated, trace it)
    met: dict[str, Callable[[Fact, Env], bool]] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Decision:
    """A finding made under missing data, to be explained like a firing of ``rule``."""

    rule: CompiledRule
    env: Env
    certainty: str  # "regardless" | "conditional"
    missing: tuple[FieldRef, ...]
    #: for a conditional finding: the clauses on context fields it rests on (``missing``
    #: then lists the other missing fields, on which it does not depend)
    conditions: tuple[tuple[str, ir.Node], ...] = ()
    #: some completions make a more severe finding: collecting the missing data could
    #: raise the severity (it is then worth asking for)
    raises: bool = False


@dataclass
class Reasoned:
    decisions: list[Decision]
    undecided: list[Undecided]


@dataclass(frozen=True)
class _Split:
    """A finding's case split, as far as it does not depend on the values of the facts."""

    kept: tuple[int, ...]  # the assignments completed (indices)
    dropped: int  # highest severity of the others (-1: none)
    context: tuple[FieldRef, ...]
    other: tuple[FieldRef, ...]
    domains: dict[FieldRef, list[Any]]


#: per pattern with a condition: the (pattern, field) pairs its evaluation can find missing
MayMiss = tuple[tuple[ir.Pattern, tuple[tuple[str, str], ...]], ...]


#: the fields a rule reads, per pattern: ((fact type, fields), ...)
Reads = tuple[tuple[str, frozenset[str]], ...]

#: a candidate rule of :meth:`Reasoner.undecided`: (rule, its unknown assignments, its
#: missing-field trace, severity rank, finding id, subject patterns (every pattern when
#: the rule names none), its ``Undecided.met``, its ``contains`` leaves as (pattern,
#: field): the only clauses a list known in part can decide, :func:`_partial_reads`; and
#: the conditions of the patterns those leaves are in, by pattern name)
_Candidate = tuple[CompiledRule, Callable[[dict[str, list[Fact]]], list[Env]],
                   Callable[[Env], frozenset[FieldRef]], int, str, tuple[str, ...],
                   dict[str, Callable[[Fact, Env], bool]] | None, tuple[tuple[str, str], ...],
                   dict[str, ir.Node]]

_ID = operator.itemgetter("id")
_NOT_FOUND = object()


class Reasoner:
    """Completes missing data for one rule set (plans are built once per rule set)."""

    def __init__(self, rules: tuple[CompiledRule, ...], types: dict[str, FactType],
                 consistent: Callable[[Fact], bool] | None = None,
                 searches: Callable[[tuple[CompiledRule, ...]], tuple[Any, ...]] | None = None
                 ) -> None:
        """``searches``: per rule, its generated search (``(unknown, missing, lower,
        upper, met)`` as :func:`cdss.backends.compiled.search.load` makes them) or None; the
        engine passes it (this layer does not import the backends). Without it every
        rule is searched by the interpreted bounds."""
        self.rules = rules
        self._load_searches = searches
        self.types = types
        self._consistent = consistent or (lambda fact: True)
        grouped: dict[Reads, list[CompiledRule]] = {}
        for rule in rules:
            grouped.setdefault(tuple(_fields_by_pattern(rule)), []).append(rule)
        self._plan = list(grouped.items())
        # a rule that is alone in its finding and reads no context field can never be
        # decided by completion (one rule true for every value of a missing measurement
        # would be a tautology, which Kleene evaluation already decides): only its
        # not_evaluated entry is worth working out
        size: dict[str, int] = {}
        self._members: dict[str, list[CompiledRule]] = {}
        for rule in rules:
            size[rule.spec.group or rule.id] = size.get(rule.spec.group or rule.id, 0) + 1
            self._members.setdefault(rule.spec.group or rule.id, []).append(rule)
        self._covers: dict[tuple[str, str, str], bool] = {}
        self._literal_cache: dict[tuple[str, str, str], tuple[Any, ...] | None] = {}
        context = {(t.name, name) for t in self.types.values()
                   for name, spec in t.fields.items() if spec.context}
        self._decidable = frozenset(
            rule.action for rule in rules
            if size[rule.spec.group or rule.id] > 1
            or any((p.fact_type, f) in context for p in rule.patterns
                   for f in ir.fields_read(p.condition)))
        # for the rules completion could decide: the fields it could complete (a
        # rule whose facts lack none of them needs no search when not_evaluated is not
        # wanted)
        completable: dict[Reads, list[CompiledRule]] = {}
        for rule in rules:
            if rule.action in self._decidable:
                completable.setdefault(self._completable(rule), []).append(rule)
        self._plan_decidable = list(completable.items())
        #: each rule's patterns with their two-valued bounds (``cdss.rulelang.bounds``)
        self._bounded: dict[str, tuple[Bounded, ...]] = {
            rule.action: bounded(rule.patterns) for rule in rules}
        #: (decidable only, each fact's type and fields) -> candidates
        self._candidates: dict[tuple[bool, frozenset[tuple[str, frozenset[str]]]],
                               list[_Candidate]] = {}
        self._field_names = {name: frozenset(t.fields) for name, t in types.items()}
        #: per rule: each pattern with the (pattern, field) pairs it can find missing
        self._may_miss: dict[str, MayMiss] = {rule.action: _may_miss(rule) for rule in rules}
        #: what a finding's case split needs that no value of the facts changes (see
        #: :meth:`_plan_split`), per presence key of its undecided assignments
        self._splits: dict[tuple[Any, ...], _Split | None] = {}
        #: rule action -> the names of the fields a missing one of which can never be
        #: completed for the rule (:meth:`_never_completed`)
        self._never: dict[str, frozenset[str]] = {}
        #: per rule: its generated search and missing-field trace
        #: (``cdss.backends.compiled.search``; None: interpreted), made on first use
        self._search: dict[str, search.Search | None] | None = None
        self._whole: tuple[dict[str, Callable[[Env], Any]],
                           dict[str, Callable[[Env], Any]]] | None = None

    def _holds(self) -> tuple[dict[str, Callable[[Env], Any]], dict[str, Callable[[Env], Any]]]:
        """Per rule, whether every pattern's lower bound holds for an assignment, and
        whether every upper one does (generated, else from the interpreted bounds)."""
        if self._whole is None:
            lower: dict[str, Callable[[Env], Any]] = {}
            upper: dict[str, Callable[[Env], Any]] = {}
            for action, compiled in self._searches().items():
                if compiled is None:
                    lower[action], upper[action] = _whole(self._bounded[action])
                else:
                    lower[action], upper[action] = compiled[2], compiled[3]
            self._whole = lower, upper
        return self._whole

    def _searches(self) -> dict[str, search.Search | None]:
        if self._search is None:
            found = (self._load_searches(self.rules) if self._load_searches is not None
                     else (None,) * len(self.rules))
            self._search = dict(zip((r.action for r in self.rules), found, strict=True))
        return self._search

    # ---- undecided assignments ------------------------------------------------------
    def undecided(self, fs: FactSet, made: dict[FindingKey, str], *,
                  decidable_only: bool = False) -> list[Undecided]:
        """Every assignment no rule decides, except those of findings already ``made``
        (finding -> severity) at that severity or above (``decidable_only``: only those
        of rules completion could decide, and none of a finding made: what completion
        decides, without what could raise a made finding's severity)."""
        by_type: dict[str, list[Fact]] = {}
        for fact in fs.facts:
            by_type.setdefault(fact["t"], []).append(fact)
        out: list[Undecided] = []
        partial = fs.partial
        subjects, paths = fs.subjects, fs.paths
        single: dict[str, frozenset[str]] = {}
        for candidate in self._candidates_for(fs.facts, by_type, decidable_only):
            envs = candidate[1](by_type)
            if not envs:
                continue  # most candidates: some pattern is false
            rule, _, missing_of, rank, finding, subject, met, lists, conditions = candidate
            for env in envs:
                if partial and lists and _false_given_lists(lists, conditions, env, partial):
                    continue  # a list known in part rules it out (hypertension implied)
                # finding_key(rule, env, fs), inlined
                if len(subject) == 1:  # most rules: no set to build
                    fact_id = env[subject[0]]["id"]
                    # (the paths of one fact, made once per call: the same for every
                    # rule whose subject is that fact)
                    one = single.get(fact_id)
                    if one is None:
                        one = single[fact_id] = frozenset(
                            (subjects.get(fact_id) or paths.get(fact_id) or fact_id,))
                    key = (finding, one)
                else:
                    about = set()
                    for name in subject:
                        fact_id = env[name]["id"]
                        about.add(subjects.get(fact_id) or paths.get(fact_id) or fact_id)
                    key = (finding, frozenset(about))
                severity = made.get(key)
                if severity is not None and (decidable_only
                                             or rank <= SEVERITY_ORDER[severity]):
                    continue
                out.append(Undecided(rule, env, missing_of(env), key, met))
        return out

    def _candidates_for(self, facts: list[Fact], by_type: dict[str, list[Fact]],
                        decidable_only: bool) -> list[_Candidate]:
        """The rules some fact could leave unknown, by action: those whose every pattern
        has facts to bind and some fact lacks a field the rule reads, each with its
        search. Worked out once per fact-presence signature: which fields each fact has
        (with its type), which determines which fields each present type lacks."""
        signature = (decidable_only, frozenset([(f["t"], frozenset(f)) for f in facts]))
        found = self._candidates.get(signature)
        if found is None:
            names = self._field_names
            absent = {t: frozenset().union(*(names[t].difference(f) for f in same))
                      for t, same in by_type.items()}
            plan = self._plan_decidable if decidable_only else self._plan
            rules = sorted((rule for reads, group in plan
                            if _may_be_unknown(reads, absent) for rule in group),
                           key=lambda r: r.action)
            found = [self._candidate(rule) for rule in rules]
            if len(self._candidates) >= MAX_SIGNATURES:
                self._candidates.clear()
            self._candidates[signature] = found
        return found

    def _candidate(self, rule: CompiledRule) -> _Candidate:
        """A rule with its search (generated, else the interpreted bounds and trace),
        its severity rank, its finding's id and its subject patterns."""
        compiled = self._searches()[rule.action]
        subject = rule.spec.subject or tuple(p.name for p in rule.patterns)
        lists = _partial_reads(rule)
        conditions = {p.name: p.condition for p in rule.patterns
                      if p.condition is not None and any(n == p.name for n, _ in lists)}
        if compiled is None:
            patterns, reads = self._bounded[rule.action], self._may_miss[rule.action]
            return (rule, lambda by_type: unknown_assignments(patterns, by_type),
                    lambda env: _missing_fields(reads, env), SEVERITY_ORDER[rule.spec.severity],
                    rule.spec.group or rule.id, subject, None, lists, conditions)
        return (rule, compiled[0], compiled[1], SEVERITY_ORDER[rule.spec.severity],
                rule.spec.group or rule.id, subject, compiled[4], lists, conditions)

    # ---- completion ------------------------------------------------------------------
    def reason(self, fs: FactSet, made: dict[FindingKey, str], *, undecided: bool = True
               ) -> Reasoned:
        """Decide what can be decided among the findings not ``made`` (finding ->
        severity); the rest, and what could make a made finding more severe, stay
        undecided (``undecided`` False: skip working those out, for callers that do not
        report them)."""
        by_finding: dict[FindingKey, list[Undecided]] = {}
        for u in self.undecided(fs, made, decidable_only=not undecided):
            key = u.key or finding_key(u.rule, u.env, fs)
            same = by_finding.get(key)  # (no list made for a finding already seen)
            if same is None:
                by_finding[key] = [u]
            else:
                same.append(u)
        decisions: list[Decision] = []
        left: list[Undecided] = []
        decidable = self._decidable
        for key, items in by_finding.items():
            decision = None
            if key not in made:
                for u in items:  # some rule of the finding completion could decide
                    if u.rule.action in decidable:
                        decision = self._decide(items, fs)
                        break
            if decision is None:
                left.extend(items)
            else:
                decisions.append(decision)
        return Reasoned(decisions, left)

    def _decide(self, items: list[Undecided], fs: FactSet) -> Decision | None:
        """``regardless`` if every completion makes the finding, ``conditional`` if some
        values of the context fields make it whatever the other missing values are."""
        for u in items:
            if not self._never_completed(u):
                break
        else:
            return None  # what _plan_split finds (nothing to complete), without its key
        split = self._split(items, fs)
        if split is None:
            return None
        facts = {f["id"]: f for u in items for f in u.env.values()}
        items = [items[i] for i in split.kept]
        dropped, context, other, domains = split.dropped, split.context, split.other, \
            split.domains
        missing = sorted((*context, *other))
        # for each value of the context fields: the finding in every completion of the
        # other missing fields (None where some completion does not make it)
        outcomes: list[tuple[Undecided, Env] | None] = []
        top = dropped  # the highest severity any completion could make
        # the first values of the other fields, with the context left missing: when
        # every assignment is then false (Kleene, read by the upper bounds), it is false
        # for every context value too (monotone), so each context value whose
        # completion with them is possible fails there, without evaluating it
        first = tuple(domains[m][0] for m in other)
        every = [*context, *other]
        blocked = False
        base: dict[str, Fact] | None = None
        if context and other:
            base = self._complete(facts, list(other), first)
            blocked = base is not None and _all_false(items, base, self._holds()[1])
        lower = self._holds()[0]
        combos = list(itertools.product(*(domains[m] for m in context)))
        # (whether _complete(facts, every, (*ctx_values, *first)) is possible: the
        # facts only ``other`` fills are those of ``base``, found possible)
        possible = (self._possible_each(base, facts, context, combos)  # type: ignore[arg-type]
                    if blocked else None)
        for i, ctx_values in enumerate(combos):
            if possible is not None and possible[i]:
                outcomes.append(None)
                continue
            worst: tuple[Undecided, Env] | None = None
            held = True
            for other_values in itertools.product(*(domains[m] for m in other)):
                completed = self._complete(facts, every, (*ctx_values, *other_values))
                if completed is None:
                    continue  # an impossible combination (a pregnant man)
                hit = _shown_hit(items, completed, lower)
                if hit is None:
                    held = False
                    break
                top = max(top, SEVERITY_ORDER[hit[0].rule.spec.severity])
                # the lowest severity these completions support (first among equals)
                if worst is None or SEVERITY_ORDER[hit[0].rule.spec.severity] < \
                        SEVERITY_ORDER[worst[0].rule.spec.severity]:
                    worst = hit
            outcomes.append(worst if held else None)
        made = [o for o in outcomes if o is not None]
        if not made:
            return None
        chosen, completed_env = min(made, key=lambda h: SEVERITY_ORDER[h[0].rule.spec.severity])
        if len(made) == len(outcomes):
            return Decision(chosen.rule, chosen.env, "regardless", tuple(missing),
                            raises=top > SEVERITY_ORDER[chosen.rule.spec.severity])
        wanted = set(context)
        conditions = tuple((pname, leaf) for pname, leaf in explain(chosen.rule.patterns,
                                                                    completed_env)
                           if (completed_env[pname]["id"], leaf.field) in wanted)
        return Decision(chosen.rule, chosen.env, "conditional", tuple(other), conditions)

    def _split(self, items: list[Undecided], fs: FactSet) -> _Split | None:
        """:meth:`_plan_split`, cached by what it depends on: each assignment's rule, the
        ids of its facts and the fields it lacks, and what is known of those of them that
        are lists known in part; never the values of the facts."""
        partial = fs.partial
        known: tuple[Any, ...] = ()
        if partial:
            missing = set().union(*(u.missing for u in items))
            known = tuple(sorted((ref, partial[ref]) for ref in missing if ref in partial))
        key = (tuple([(u.rule.action, tuple(map(_ID, u.env.values())), u.missing)
                      for u in items]), known)
        found = self._splits.get(key, _NOT_FOUND)
        if found is not _NOT_FOUND:
            return found
        split = self._plan_split(items, {f["id"]: f for u in items for f in u.env.values()}, fs)
        if len(self._splits) >= MAX_SIGNATURES:
            self._splits.clear()
        self._splits[key] = split
        return split

    def _plan_split(self, items: list[Undecided], facts: dict[str, Fact], fs: FactSet
                    ) -> _Split | None:
        """The case split of one finding: the assignments worth completing, the highest
        severity of the others, the missing fields (context first) and the values tried
        for each; None when no split can decide it."""
        # an assignment missing a value no case split can cover (a measurement none of
        # the finding's rules covers, a field compared with another) cannot help decide;
        # it only says the severity could be higher once that value is known
        kept = [i for i, u in enumerate(items)
                if all(self._enumerable(u, ref, facts, fs) for ref in u.missing)]
        if not kept:
            return None
        dropped = max((SEVERITY_ORDER[u.rule.spec.severity] for i, u in enumerate(items)
                       if i not in kept), default=-1)
        chosen = [items[i] for i in kept]
        missing = sorted(set().union(*(u.missing for u in chosen)))
        context = tuple(m for m in missing if self.types[facts[m[0]]["t"]].fields[m[1]].context)
        other = tuple(m for m in missing if m not in context)
        domains: dict[FieldRef, list[Any]] = {}
        for fact_id, name in missing:
            domain = self._domain(fact_id, name, facts[fact_id]["t"], chosen, fs)
            if not domain:
                return None
            domains[(fact_id, name)] = domain
        if _product_size(domains.values()) > MAX_COMPLETIONS:
            return None
        return _Split(tuple(kept), dropped, context, other, domains)

    def _never_completed(self, u: Undecided) -> bool:
        """Whether the assignment lacks a field :meth:`_enumerable` rejects whatever the
        facts: a number, not context, that the rules of the finding do not cover
        between them (so :meth:`_plan_split` does not keep it)."""
        never = self._never.get(u.rule.action)
        if never is None:
            never = self._never_names(u.rule)
        if never:
            for ref in u.missing:
                if ref[1] in never:
                    return True
        return False

    def _never_names(self, rule: CompiledRule) -> frozenset[str]:
        """The names of the fields a missing one of which :meth:`_never_completed` says
        can never be completed for ``rule`` (worked out once per rule)."""
        never = self._never[rule.action] = frozenset(
            name for name in _names_read(rule) if self._never_field(rule, name))
        return never

    def _never_field(self, rule: CompiledRule, name: str) -> bool:
        """Whether a missing field ``name`` is rejected by :meth:`_enumerable` on every
        fact of the rule that could lack it (every pattern reading it, or compared with
        it by another pattern)."""
        types = {p.name: p.fact_type for p in rule.patterns}
        holders = set()
        for p in rule.patterns:
            for leaf in ir.leaves(p.condition):
                if leaf.field == name:
                    holders.add(p.fact_type)
                other = leaf.other_field(p.name)
                if other is not None and other[1] == name:
                    holders.add(types[other[0]])
        finding = rule.spec.group or rule.id
        for fact_type in holders or (None,):
            spec = self.types[fact_type].fields.get(name) if fact_type else None
            if spec is None or spec.kind != "number" or spec.context or self._covered(
                    finding, fact_type, name):  # type: ignore[arg-type]
                return False
        return True

    def _enumerable(self, u: Undecided, ref: FieldRef, facts: dict[str, Fact],
                    fs: FactSet) -> bool:
        fact_id, name = ref
        fact_type = facts[fact_id]["t"]
        spec = self.types[fact_type].fields[name]
        if spec.kind == "number" and not spec.context and not self._covered(
                u.rule.spec.group or u.rule.id, fact_type, name):
            return False
        return bool(self._domain(fact_id, name, fact_type, [u], fs))

    def _completable(self, rule: CompiledRule) -> Reads:
        """Per pattern, the fields a completion could fill: read only in comparisons
        with literals, and (numbers) covered by the finding's rules between them."""
        finding = rule.spec.group or rule.id
        out = []
        refs = {other for p in rule.patterns for leaf in ir.leaves(p.condition)
                if (other := leaf.other_field(p.name)) is not None}
        for p in rule.patterns:
            fields = set()
            for name in ir.fields_read(p.condition):
                kind = self.types[p.fact_type].fields[name].kind
                if (p.name, name) in refs or any(
                        leaf.field == name and leaf.other_field(p.name) is not None
                        for leaf in ir.leaves(p.condition)):
                    continue
                if kind == "number" and not self.types[p.fact_type].fields[name].context \
                        and not self._covered(finding, p.fact_type, name):
                    continue
                fields.add(name)
            out.append((p.fact_type, frozenset(fields)))
        return tuple(out)

    def _covered(self, finding: str, fact_type: str, name: str) -> bool:
        """Whether the rules of a finding, between them, can be true for every value of
        a number field (else a missing value of it always leaves the finding undecided).
        Worked out once per rule set, with every other field unknown."""
        key = (finding, fact_type, name)
        found = self._covers.get(key)
        if found is None:
            rules = self._members[finding]
            thresholds = sorted({float(leaf.operand.value) for r in rules for p in r.patterns
                                 if p.fact_type == fact_type for leaf in ir.leaves(p.condition)
                                 if isinstance(leaf, ir.Compare) and leaf.field == name
                                 and isinstance(leaf.operand, ir.Value)
                                 and isinstance(leaf.operand.value, int | float)})
            found = bool(thresholds) and all(
                any(_possible(r, fact_type, name, v) for r in rules)
                for v in _representatives(thresholds))
            self._covers[key] = found
        return found

    def _domain(self, fact_id: str, name: str, fact_type: str, items: list[Undecided],
                fs: FactSet) -> list[Any] | None:
        """The values of a missing field worth trying: one per region of the literals
        the finding's rules compare it with; None when it cannot be enumerated."""
        kind = self.types[fact_type].fields[name].kind
        literals: list[Any] = []
        for u in items:
            for p in u.rule.patterns:
                if u.env[p.name]["id"] != fact_id:
                    continue
                found = self._literals(u.rule, p.name, name)
                if found is None:
                    return None  # compared with another field: not enumerable
                literals.extend(found)
        if kind == "bool":
            return [False, True]  # "not pregnant" first: among equals its wording is shown
        if kind == "string":
            return [*dict.fromkeys(v for v in literals if isinstance(v, str)), OTHER]
        if kind == "list":
            known = tuple(fs.partial.get((fact_id, name), ()))
            free = sorted({v for v in literals if v not in known}, key=str)
            if len(free) > MAX_LIST_LITERALS:
                return None
            return [sorted((*known, *chosen), key=str)
                    for n in range(len(free) + 1) for chosen in itertools.combinations(free, n)]
        numbers = sorted({float(v) for v in literals if is_number(v)})
        return _representatives(numbers)

    def _literals(self, rule: CompiledRule, pattern: str, name: str) -> tuple[Any, ...] | None:
        """The literals ``rule`` compares field ``name`` of the fact bound to ``pattern``
        with (None: it is compared with another field); worked out once per rule."""
        key = (rule.action, pattern, name)
        if key in self._literal_cache:
            return self._literal_cache[key]
        out: list[Any] | None = []
        for p in rule.patterns:
            for leaf in ir.leaves(p.condition):
                other = leaf.other_field(p.name)
                if other is not None:
                    if other == (pattern, name) or (p.name == pattern and leaf.field == name):
                        out = None
                        break
                    continue
                if p.name == pattern and leaf.field == name:
                    out.extend(leaf.literals())
            if out is None:
                break
        result = None if out is None else tuple(out)
        self._literal_cache[key] = result
        return result

    def _complete(self, facts: dict[str, Fact], missing: Iterable[FieldRef],
                  values: tuple[Any, ...], base: dict[str, Fact] | None = None
                  ) -> dict[str, Fact] | None:
        """Copies of the facts ``missing`` names (taken from ``base`` where it has them)
        with ``values`` filled in; None when one could not describe a real patient."""
        out: dict[str, Fact] = {}
        for (fact_id, name), value in zip(missing, values, strict=True):
            fact = out.get(fact_id)
            if fact is None:
                source = facts[fact_id] if base is None else base.get(fact_id, facts[fact_id])
                fact = out[fact_id] = source.copy()
            fact[name] = value
        consistent = self._consistent
        for fact in out.values():
            if not consistent(fact):
                return None
        return out

    def _possible_over(self, base: dict[str, Fact], facts: dict[str, Fact],
                       refs: tuple[FieldRef, ...], values: tuple[Any, ...]) -> bool:
        """Whether ``_complete`` of ``base``'s fields and ``refs`` (fields ``base`` does not
        fill) with ``values`` is possible, given that ``base`` is (a completion
        ``_complete`` made): only the facts ``refs`` touch can be impossible."""
        return self._complete(facts, refs, values, base) is not None

    def _possible_each(self, base: dict[str, Fact], facts: dict[str, Fact],
                       refs: tuple[FieldRef, ...], combos: list[tuple[Any, ...]]
                       ) -> list[bool]:
        """:meth:`_possible_over` of each of ``combos``, copying each fact ``refs``
        touch once: every combination sets every field of ``refs``, so nothing of an
        earlier one is left in the copies when ``consistent`` reads them."""
        copies: dict[str, Fact] = {}
        for fact_id, _ in refs:
            if fact_id not in copies:
                copies[fact_id] = base.get(fact_id, facts[fact_id]).copy()
        targets = [(copies[fact_id], name) for fact_id, name in refs]
        touched = list(copies.values())
        consistent = self._consistent
        out: list[bool] = []
        for values in combos:
            for (fact, name), value in zip(targets, values, strict=True):
                fact[name] = value
            for fact in touched:
                if not consistent(fact):
                    out.append(False)
                    break
            else:
                out.append(True)
        return out


def _partial_reads(rule: CompiledRule) -> tuple[tuple[str, str], ...]:
    """The (pattern, field) of each ``contains`` leaf of the rule: the only clauses a
    list known in part decides (``evaluate._Kleene.visit_contains``; every other node
    ignores ``partial``)."""
    return tuple(sorted({(p.name, leaf.field) for p in rule.patterns
                         for leaf in ir.leaves(p.condition) if type(leaf) is ir.Contains}))


def _partly_known(lists: tuple[tuple[str, str], ...], env: Env,
                  partial: dict[tuple[str, str], tuple[Any, ...]]) -> bool:
    """Whether some ``contains`` leaf reads a list of the assignment known in part: if
    none does, evaluating with ``partial`` is evaluating without it, and an assignment
    the search found is false for no pattern then (:func:`_false_given` is False).
    :func:`_false_given_lists` makes this test as it goes."""
    for name, field_name in lists:
        if (env[name]["id"], field_name) in partial:
            return True
    return False


def _false_given_lists(lists: tuple[tuple[str, str], ...], conditions: dict[str, ir.Node],
                       env: Env, partial: dict[tuple[str, str], tuple[Any, ...]]) -> bool:
    """:func:`_false_given` for an assignment the search found (no pattern is false
    without ``partial``), evaluating only the patterns with a ``contains`` leaf
    (``lists``, conditions by pattern name: ``conditions``) that reads a list of the
    assignment known in part: only those leaves read ``partial``, so every other
    pattern evaluates as without it, not false."""
    for name, field_name in lists:
        if (env[name]["id"], field_name) in partial and eval_node(
                conditions[name], name, env[name], env, None, partial) is False:
            return True
    return False


def _false_given(rule: CompiledRule, env: Env, partial: dict[tuple[str, str], tuple[Any, ...]]
                 ) -> bool:
    """Whether what is known of partly known lists already makes the rule false."""
    return any(p.condition is not None and
               eval_node(p.condition, p.name, env[p.name], env, None, partial) is False
               for p in rule.patterns)


def _shown_hit(items: list[Undecided], completed: dict[str, Fact],
               lower: dict[str, Callable[[Env], Any]]) -> tuple[Undecided, Env] | None:
    """Among the assignments true in one completion, the one the report would show: the
    most specific, then the most severe (as ``report.deduplicate`` keeps). True is read
    with the patterns' lower bounds (``lower``: per rule, whether they all hold; true
    exactly when Kleene evaluation says True)."""
    best: tuple[Undecided, Env] | None = None
    rank = -1
    for u in items:
        severity = SEVERITY_ORDER[u.rule.spec.severity]
        if severity <= rank:
            continue  # it could not replace the one found (first among equals)
        env = {}  # (a loop: a comprehension is a function call in 3.11)
        for name, fact in u.env.items():
            env[name] = completed.get(fact["id"], fact)
        if lower[u.rule.action](env):
            best, rank = (u, env), severity
    return best


def _all_false(items: list[Undecided], completed: dict[str, Fact],
               upper: dict[str, Callable[[Env], Any]]) -> bool:
    """Whether every assignment is false (some pattern's upper bound fails; ``upper``:
    per rule, whether they all hold) once the ``completed`` facts replace theirs."""
    for u in items:
        env = {}
        for name, fact in u.env.items():
            env[name] = completed.get(fact["id"], fact)
        if upper[u.rule.action](env):
            return False
    return True


def _whole(patterns: tuple[Bounded, ...]
           ) -> tuple[Callable[[Env], bool], Callable[[Env], bool]]:
    """Whether every pattern's lower bound holds, and every upper one, from the
    interpreted bounds (for a rule the generator could not write)."""
    def lower(env: Env) -> bool:
        return all(test(env[name], env) for name, _, test, _ in patterns)

    def upper(env: Env) -> bool:
        return all(test(env[name], env) for name, _, _, test in patterns)
    return lower, upper


def _possible(rule: CompiledRule, fact_type: str, name: str, value: float) -> bool:
    """Whether ``rule`` can be true when ``name`` is ``value`` and all else is unknown."""
    env: Env = {p.name: ({"t": p.fact_type, "id": p.name, name: value}
                         if p.fact_type == fact_type else {"t": p.fact_type, "id": p.name})
                for p in rule.patterns}
    return all(p.condition is None or
               eval_node(p.condition, p.name, env[p.name], env, None) is not False
               for p in rule.patterns)


def _representatives(thresholds: list[float]) -> list[float]:
    """A value in every region the thresholds cut the line into (each threshold is its
    own region, for ``gte``/``gt`` alike)."""
    if not thresholds:
        return []
    lo = thresholds[0]
    out = [lo / 2 if lo > 0 else lo - 1]
    for a, b in itertools.pairwise(thresholds):
        out += [a, (a + b) / 2]
    out += [thresholds[-1], thresholds[-1] * 2 if thresholds[-1] > 0 else thresholds[-1] + 1]
    return out


def _product_size(domains: Iterable[list[Any]]) -> int:
    size = 1
    for d in domains:
        size *= len(d)
    return size


def subject_of(rule: CompiledRule, env: Env, fs: FactSet) -> tuple[str, ...]:
    """The input paths of the facts a finding is about (the rule's ``subject`` patterns,
    or every pattern)."""
    names = rule.spec.subject or tuple(env)
    return tuple(sorted({fs.subjects.get(env[n]["id"]) or fs.paths.get(env[n]["id"])
                         or env[n]["id"] for n in names}))


def finding_key(rule: CompiledRule, env: Env, fs: FactSet) -> FindingKey:
    """(group or rule id, the paths of :func:`subject_of`)."""
    subjects, paths = fs.subjects, fs.paths
    out = set()
    for name in rule.spec.subject or env:
        fact_id = env[name]["id"]
        out.add(subjects.get(fact_id) or paths.get(fact_id) or fact_id)
    return (rule.spec.group or rule.id, frozenset(out))


def _names_read(rule: CompiledRule) -> set[str]:
    """The names of every field the rule's patterns read, or compare with."""
    out: set[str] = set()
    for p in rule.patterns:
        for leaf in ir.leaves(p.condition):
            out.add(leaf.field)
            other = leaf.other_field(p.name)
            if other is not None:
                out.add(other[1])
    return out


def _may_be_unknown(reads: Reads, absent: dict[str, frozenset[str]]) -> bool:
    """Cheap pre-check: some fact the rule could bind lacks a field the rule reads."""
    for fact_type, _ in reads:
        if fact_type not in absent:
            return False  # a pattern has nothing to bind: the rule is false, not unknown
    return any(not fields.isdisjoint(absent[fact_type]) for fact_type, fields in reads)


def _may_miss(rule: CompiledRule) -> MayMiss:
    """Each pattern with a condition, and the (pattern, field) pairs it reads: its own
    fields and those of other patterns it compares with."""
    out = []
    for p in rule.patterns:
        if p.condition is None:
            continue
        pairs = {(p.name, name) for name in ir.fields_read(p.condition)}
        for leaf in ir.leaves(p.condition):
            other = leaf.other_field(p.name)
            if other is not None:
                pairs.add(other)
        out.append((p, tuple(sorted(pairs))))
    return tuple(out)


def _missing_fields(reads: MayMiss, env: Env) -> frozenset[FieldRef]:
    """``evaluate.missing_fields``, evaluating only the patterns some of whose fields are
    absent (the others find nothing missing)."""
    out: set[FieldRef] = set()
    for p, pairs in reads:
        for name, field_name in pairs:
            if field_name not in env[name]:
                break
        else:
            continue
        trace = Trace()
        eval_node(p.condition, p.name, env[p.name], env, trace)  # type: ignore[arg-type]
        for name, field_name in trace.missing:
            out.add((env[name]["id"], field_name))
    return frozenset(out)


def _fields_by_pattern(rule: CompiledRule) -> list[tuple[str, frozenset[str]]]:
    """For each pattern, its fact type and every field of that fact the rule reads."""
    reads: dict[str, set[str]] = {p.name: set(ir.fields_read(p.condition)) for p in rule.patterns}
    for p in rule.patterns:
        for leaf in ir.leaves(p.condition):
            other = leaf.other_field(p.name)
            if other is not None and other[0] != p.name:
                reads[other[0]].add(other[1])
    return [(p.fact_type, frozenset(reads[p.name])) for p in rule.patterns]
