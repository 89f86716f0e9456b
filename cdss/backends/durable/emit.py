"""Emit durable-rules JSON from the IR, and refuse what would hit its limits.

durable-rules crashes or silently misbehaves past certain limits (reference notes,
"Hazards"). The IR has no arithmetic, so integer division by zero cannot be
written; the remaining limits are checked here, before any patient is seen.
"""

from __future__ import annotations

import functools
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cdss.rulelang import ir

#: Appended to every list field of a fact (see ``host.py``): durable-rules
#: treats "all items" of an empty list as false, so ``not_contains`` on an empty
#: list needs one item that is never a real value.
LIST_PLACEHOLDER = "$none"

MAX_PATTERNS_PER_RULE = 16
MAX_SIMULTANEOUS_CONDITIONS = 60  # durable-rules fails above 64 true at once for one fact
MAX_IDENTICAL_CONDITIONS = 255  # 256 identical conditions crash registration
#: 513 distinct sibling conditions on one fact type hang registration; every branch
#: of an ``any`` or value of an ``in`` counts (durable-rules expands them to
#: alternatives: 150 conditions + an ``in`` of 370 values hung, measured here)
MAX_SIBLING_CONDITIONS = 500
#: alternatives of one pattern (``any`` branches multiplied out, ``in`` values)
MAX_ALTERNATIVES = 128


class LimitProblem(ValueError):
    """A rule set that durable-rules could not run safely."""


def _number(value: Any, where: str) -> Any:
    if isinstance(value, float) and "e" in json.dumps(value):
        raise LimitProblem(f"{where}: {value!r} would be written with an exponent, which "
                           "durable-rules rejects (error 204); write it in plain decimals")
    return value


def _operand(op: ir.Operand, where: str) -> Any:
    if isinstance(op, ir.Value):
        return _number(op.value, where)
    if isinstance(op, ir.SameFact):
        return {"$m": op.field}
    return {op.pattern: op.field}


#: durable-rules' name of each operator of the rule language (``cdss.rulelang.ops``);
#: None: written as ``{field: value}`` (eq) or expanded into other operators below (in,
#: not_in). A new operator without an entry here fails ``test_ops``.
DURABLE_NAMES: dict[str, str | None] = {
    "eq": None, "ne": "$neq", "gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte",
    "in": None, "not_in": None, "contains": "$iany", "not_contains": "$iall",
    "matches": "$mt", "exists": "$ex", "absent": "$nex",
    "all": "$and", "any": "$or"}
_EXISTS = DURABLE_NAMES["exists"]
_NOT_EQUAL = DURABLE_NAMES["ne"]
_AND, _OR = DURABLE_NAMES["all"], DURABLE_NAMES["any"]


class _Emitter(ir.Visitor[dict[str, Any]]):
    """One IR node as a durable-rules condition (each method takes ``where``), with
    durable-rules' names of the operators (``DURABLE_NAMES``)."""

    def visit_all(self, node: ir.All, where: str) -> dict[str, Any]:
        return {_AND: [c.accept(self, where) for c in node.children]}

    def visit_any(self, node: ir.Any_, where: str) -> dict[str, Any]:
        return {_OR: [c.accept(self, where) for c in node.children]}

    def visit_compare(self, node: ir.Compare, where: str) -> dict[str, Any]:
        operand = _operand(node.operand, where)
        durable = DURABLE_NAMES[node.operator.name]
        cond = {node.field: operand} if durable is None else {durable: {node.field: operand}}
        if isinstance(node.operand, ir.SameFact):
            # durable-rules may compare with a stale value when the other field is
            # absent (seen here: a prescription without max_daily matched daily > max)
            return {_AND: [{_EXISTS: {node.operand.field: 1}}, cond]}
        return cond

    def visit_in_list(self, node: ir.InList, where: str) -> dict[str, Any]:
        # durable-rules has no list membership: in is an or of equalities, not_in an and
        # of inequalities
        if node.negate:
            return {_AND: [{_NOT_EQUAL: {node.field: _number(v, where)}}
                                                 for v in node.values]}
        return {_OR: [{node.field: _number(v, where)}
                                             for v in node.values]}

    def visit_contains(self, node: ir.Contains, where: str) -> dict[str, Any]:
        item = {"$i": node.value}
        if node.negate:  # every item differs from the value
            return {DURABLE_NAMES[node.operator.name]: {node.field: {_NOT_EQUAL: item}}}
        return {DURABLE_NAMES[node.operator.name]: {node.field: item}}

    def visit_matches(self, node: ir.Matches, where: str) -> dict[str, Any]:
        return {DURABLE_NAMES[node.operator.name]: {node.field: node.pattern}}

    def visit_exists(self, node: ir.Exists, where: str) -> dict[str, Any]:
        return {DURABLE_NAMES[node.operator.name]: {node.field: 1}}

    def visit_leaf(self, node: ir.Leaf, where: str) -> dict[str, Any]:
        raise LimitProblem(f"{where}: unsupported node {type(node).__name__}")


_EMITTER = _Emitter()


def emit_node(node: ir.Node, where: str) -> dict[str, Any]:
    """One IR node as a durable-rules condition."""
    return node.accept(_EMITTER, where)


def referenced_fields(patterns: tuple[ir.Pattern, ...]) -> dict[str, set[str]]:
    """Fields of each pattern that later patterns compare against (``{ref: p.f}``)."""
    out: dict[str, set[str]] = {}
    for p in patterns:
        for leaf in ir.leaves(p.condition):
            other = leaf.other_field(p.name)
            if other is not None and other[0] != p.name:
                out.setdefault(other[0], set()).add(other[1])
    return out


def fields_by_type(patterns_of_rules: Sequence[tuple[ir.Pattern, ...]]
                   ) -> dict[str, tuple[str, ...]]:
    """Per fact type, every field a rule reads of it: in its own pattern's condition or
    in another pattern's comparison with it, with ``t`` and ``id`` (the host asserts a
    fact with these fields alone: the others cannot change what matches)."""
    out: dict[str, set[str]] = {}
    for patterns in patterns_of_rules:
        referenced = referenced_fields(patterns)
        for p in patterns:
            fields = out.setdefault(p.fact_type, {"t", "id"})
            fields |= ir.fields_read(p.condition)
            fields |= referenced.get(p.name, set())
    return {t: tuple(sorted(fields)) for t, fields in out.items()}


def emit_pattern(pattern: ir.Pattern, where: str, required: set[str] | None = None
                 ) -> dict[str, Any]:
    """A pattern, with the discriminator ``t`` first as the recipe asks.

    ``required`` fields get an existence test: durable-rules raises error 311 when a
    later pattern compares with a field that this fact lacks.
    """
    parts: list[dict[str, Any]] = [{"t": pattern.fact_type}]
    parts += [{_EXISTS: {name: 1}} for name in sorted(required or ())]
    if pattern.condition is not None:
        parts.append(emit_node(pattern.condition, where))
    return {pattern.name: {_AND: parts}}


def emit_rule(patterns: tuple[ir.Pattern, ...], action: str, where: str) -> dict[str, Any]:
    """A whole rule; ``action`` is the name the engine's recorder is looked up by."""
    if len(patterns) > MAX_PATTERNS_PER_RULE:
        raise LimitProblem(f"{where}: {len(patterns)} patterns; durable-rules allows "
                           f"{MAX_PATTERNS_PER_RULE}")
    for p in patterns:
        n = alternatives(p.condition)
        if n > MAX_ALTERNATIVES:
            raise LimitProblem(f"{where}: pattern '{p.name}' expands to {n} alternatives "
                               f"(any-branches times in-values); at most {MAX_ALTERNATIVES}")
    required = referenced_fields(patterns)
    return {"all": [emit_pattern(p, where, required.get(p.name)) for p in patterns],
            "run": action}


class _Alternatives(ir.Visitor[int]):
    """How many alternatives durable-rules makes of a condition (``$or`` expanded)."""

    def visit_all(self, node: ir.All) -> int:
        n = 1
        for child in node.children:
            n *= child.accept(self)
        return n

    def visit_any(self, node: ir.Any_) -> int:
        return sum(c.accept(self) for c in node.children)

    def visit_in_list(self, node: ir.InList) -> int:
        return 1 if node.negate else len(node.values)

    def visit_leaf(self, node: ir.Leaf) -> int:
        return 1


_ALTERNATIVES = _Alternatives()


def _joined(pattern: ir.Pattern) -> bool:
    """Whether a pattern compares with a field of an earlier pattern (not shared)."""
    return any(isinstance(getattr(leaf, "operand", None), ir.Ref)
               for leaf in ir.leaves(pattern.condition))


def alternatives(node: ir.Node | None) -> int:
    """How many alternatives durable-rules makes of a condition (``$or`` expanded)."""
    return 1 if node is None else node.accept(_ALTERNATIVES)


@dataclass(frozen=True)
class _Condition:
    """One pattern's condition as durable-rules' per-fact limits count it."""

    fact_type: str
    #: the condition as emitted: identical texts are one condition in durable-rules...
    shared: str
    #: ...except a condition joined to an earlier pattern, which counts once per rule
    text: str
    alternatives: int
    #: the literal equality it is filed under (``("key", '"w"')``), if any
    key: tuple[str, str] | None


def _conditions(rules: Sequence[tuple[str, tuple[ir.Pattern, ...]]]
                ) -> list[list[_Condition]]:
    """Each rule's conditions. A condition with several literal equalities is true only
    when all hold: it is filed under the most selective one, as the matchers index it
    (``ir.most_selective_first``: ``key``, not the ``at_dose`` flag every rx_key pattern
    shares)."""
    out = []
    for rule_id, patterns in rules:
        conds = []
        for p in patterns:
            shared = json.dumps(emit_pattern(p, rule_id)[p.name], sort_keys=True)
            text = shared + (f" (in rule {rule_id})" if _joined(p) else "")
            keys = ir.most_selective_first(ir.literal_equalities(p.condition))
            key = (keys[0][0], json.dumps(keys[0][1])) if keys else None
            conds.append(_Condition(p.fact_type, shared, text, alternatives(p.condition),
                                    key))
        out.append(conds)
    return out


class Limits:
    """durable-rules' per-fact limits over the rules of one ruleset, counted as rules
    are added (:meth:`problem` before :meth:`add`).

    The number of distinct conditions that can be true at once for one fact is bounded
    from above: conditions on a type that share no literal equality can all be true
    together; conditions keyed by ``field == value`` only with others of the same value.
    """

    # NOTE: durable-rules shares identical conditions (measured: 100 rules with one
    # identical condition all fire for a fact; 70 distinct ones fail with error 303),
    # so it is the DISTINCT conditions that count towards the 64; but NOT a condition
    # that compares with a field of an earlier pattern (issue #17, measured: 65 rules
    # whose second pattern is the identical `key == w and rx != a.rx` fail with error
    # 303 on a fact with key w; 64 pass): such a condition counts once per rule

    def __init__(self) -> None:
        self.identical: Counter[str] = Counter()
        self.siblings: dict[str, dict[str, int]] = defaultdict(dict)
        self.sibling_total: Counter[str] = Counter()
        self.free: dict[str, set[str]] = defaultdict(set)
        self.keyed: dict[str, dict[str, dict[str, set[str]]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(set)))
        #: per fact type and keyed field: the most conditions filed under one value
        self.widest: dict[str, dict[str, int]] = defaultdict(dict)

    def problem(self, conds: list[_Condition]) -> str | None:
        """What adding a rule of these conditions would break, if anything."""
        added = Counter(c.shared for c in conds)
        for text, n in added.items():
            if self.identical[text] + n > MAX_IDENTICAL_CONDITIONS:
                return (f"{self.identical[text] + n} rules share the identical condition "
                        f"{text}; durable-rules crashes above {MAX_IDENTICAL_CONDITIONS}")
        for fact_type in {c.fact_type for c in conds}:
            known = self.siblings[fact_type]
            new = {c.text: c.alternatives for c in conds
                   if c.fact_type == fact_type and c.text not in known}
            total = self.sibling_total[fact_type] + sum(new.values())
            if total > MAX_SIBLING_CONDITIONS:
                return (f"{total} distinct conditions (each any-branch and in-value counted) "
                        f"on '{fact_type}' facts; durable-rules hangs above 512 (kept under "
                        f"{MAX_SIBLING_CONDITIONS})")
            bound = self._bound(fact_type, [c for c in conds if c.fact_type == fact_type])
            if bound > MAX_SIMULTANEOUS_CONDITIONS:
                return (f"up to {bound} conditions on '{fact_type}' facts could be true at "
                        f"once; durable-rules drops a fact's actions above 64 (kept under "
                        f"{MAX_SIMULTANEOUS_CONDITIONS}). Express graded thresholds as bands "
                        "of one derived field, or key conditions by an equality")
        return None

    def _bound(self, fact_type: str, conds: list[_Condition]) -> int:
        """How many conditions on ``fact_type`` could be true at once with ``conds``."""
        free = self.free[fact_type]
        bound = len(free) + len({c.text for c in conds if c.key is None} - free)
        widest = dict(self.widest[fact_type])
        keyed = self.keyed[fact_type]
        for field, value in {c.key for c in conds if c.key is not None}:
            texts = keyed[field][value] | {c.text for c in conds if c.key == (field, value)}
            widest[field] = max(widest.get(field, 0), len(texts))
        return bound + sum(widest.values())

    def add(self, conds: list[_Condition]) -> None:
        for c in conds:
            self.identical[c.shared] += 1
            if c.text not in self.siblings[c.fact_type]:
                self.siblings[c.fact_type][c.text] = c.alternatives
                self.sibling_total[c.fact_type] += c.alternatives
            if c.key is None:
                self.free[c.fact_type].add(c.text)
            else:
                texts = self.keyed[c.fact_type][c.key[0]][c.key[1]]
                texts.add(c.text)
                widest = self.widest[c.fact_type]
                widest[c.key[0]] = max(widest.get(c.key[0], 0), len(texts))


def check_limits(rules: list[tuple[str, tuple[ir.Pattern, ...]]]) -> None:
    """Refuse a ruleset that would exceed durable-rules' per-fact limits (:class:`Limits`)."""
    limits = Limits()
    for conds in _conditions(rules):
        problem = limits.problem(conds)
        if problem is not None:
            raise LimitProblem(problem)
        limits.add(conds)


def partition(rules: Sequence[tuple[str, tuple[ir.Pattern, ...]]]) -> list[list[int]]:
    """The rules (by index) split into as few rulesets as durable-rules' per-fact limits
    need, first fit in rule order: one ruleset for a set within them. Raises
    LimitProblem for a rule that breaks them alone. Remembered for the last few rule
    sets (validating and preparing one set splits it once)."""
    return [list(part) for part in _partition(tuple(rules))]


@functools.lru_cache(maxsize=4)
def _partition(rules: tuple[tuple[str, tuple[ir.Pattern, ...]], ...]
               ) -> tuple[tuple[int, ...], ...]:
    parts: list[tuple[Limits, list[int]]] = []
    for i, conds in enumerate(_conditions(rules)):
        for limits, members in parts:
            if limits.problem(conds) is None:
                limits.add(conds)
                members.append(i)
                break
        else:
            limits = Limits()
            problem = limits.problem(conds)
            if problem is not None:
                raise LimitProblem(f"rule {rules[i][0]}: {problem}")
            limits.add(conds)
            parts.append((limits, [i]))
    return tuple(tuple(members) for _, members in parts)
