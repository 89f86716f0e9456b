"""Evaluate the IR in Python with three-valued logic (True, False, None=unknown).

Used for what durable-rules cannot tell us: which rules could not be evaluated
because data is missing (``not_evaluated``), which clauses made a rule fire (the
evidence), and as a differential oracle for the engine in tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cdss.rulelang import ir
from cdss.rulelang.ops import OPERATORS

Fact = dict[str, Any]
Env = dict[str, Fact]
Truth = bool | None


@dataclass
class Trace:
    """Leaves that were true, and fields found missing, during one evaluation."""

    true_leaves: list[tuple[str, ir.Node]] = field(default_factory=list)
    missing: set[tuple[str, str]] = field(default_factory=set)  # (pattern, field)


def _operand(op: ir.Operand, fact: Fact, env: Env) -> tuple[Any, bool]:
    if isinstance(op, ir.Value):
        return op.value, True
    if isinstance(op, ir.SameFact):
        return fact.get(op.field), op.field in fact
    other = env[op.pattern]
    return other.get(op.field), op.field in other


def compare(op: str, a: Any, b: Any) -> bool:
    """Operator ``op`` of :data:`~cdss.rulelang.ops.OPERATORS` on two present values,
    as durable-rules does it on JSON facts (numbers across int/float)."""
    return OPERATORS[op].holds(a, b)


#: (fact id, list field) -> items known to be in a list that is absent because the rest
#: of it was not sent (``FactSet.partial``)
Partial = dict[tuple[str, str], tuple[Any, ...]]


class _Kleene(ir.Visitor[Truth]):
    """Three-valued evaluation; each ``visit_*`` takes (name, fact, env, trace, partial).

    The methods are written for speed (reasoning under missing data runs them for every
    undecided rule): children are dispatched through :data:`_VISIT`, not ``accept``.
    """

    def visit_all(self, node: ir.All, name: str, fact: Fact, env: Env, trace: Trace | None,
                  partial: Partial | None) -> Truth:
        result: Truth = True
        for child in node.children:
            r = _VISIT[type(child)](child, name, fact, env, trace, partial)
            if r is False:
                return False
            if r is None:
                result = None
        return result

    def visit_any(self, node: ir.Any_, name: str, fact: Fact, env: Env, trace: Trace | None,
                  partial: Partial | None) -> Truth:
        result: Truth = False
        for child in node.children:
            r = _VISIT[type(child)](child, name, fact, env, trace, partial)
            if r is True:
                return True
            if r is None:
                result = None
        return result

    def visit_exists(self, node: ir.Exists, name: str, fact: Fact, env: Env,
                     trace: Trace | None, partial: Partial | None) -> Truth:
        ok = node.operator.holds(node.field in fact, None)
        if ok and trace is not None:
            trace.true_leaves.append((name, node))
        return ok

    def visit_contains(self, node: ir.Contains, name: str, fact: Fact, env: Env,
                       trace: Trace | None, partial: Partial | None) -> Truth:
        if (node.field not in fact and partial
                and node.value in partial.get((fact["id"], node.field), ())):
            ok = not node.negate
            if ok and trace is not None:
                trace.true_leaves.append((name, node))
            return ok
        return self.visit_leaf(node, name, fact, env, trace, partial)

    def visit_compare(self, node: ir.Compare, name: str, fact: Fact, env: Env,
                      trace: Trace | None, partial: Partial | None) -> Truth:
        field_name = node.field
        if field_name not in fact:
            return _missing(name, field_name, trace)
        operand = node.operand
        if type(operand) is ir.Value:
            other = operand.value
        else:
            other, present = _operand(operand, fact, env)
            if not present:
                where = operand.pattern if isinstance(operand, ir.Ref) else name
                return _missing(where, operand.field, trace)
        ok = node.operator.holds(fact[field_name], other)
        if ok and trace is not None:
            trace.true_leaves.append((name, node))
        return ok

    def visit_leaf(self, node: ir.Leaf, name: str, fact: Fact, env: Env,
                   trace: Trace | None, partial: Partial | None) -> Truth:
        if node.field not in fact:
            return _missing(name, node.field, trace)
        operator = node.operator
        ok = operator.holds(fact[node.field], operator.prepare(node.argument))
        if ok and trace is not None:
            trace.true_leaves.append((name, node))
        return ok


def _missing(name: str, field_name: str, trace: Trace | None) -> None:
    if trace is not None:
        trace.missing.add((name, field_name))
    return None


_VISIT = _Kleene().methods()


def eval_node(node: ir.Node, name: str, fact: Fact, env: Env, trace: Trace | None,
              partial: Partial | None = None) -> Truth:
    """Kleene evaluation of one node for the fact bound to ``name`` (``partial``: a list
    known in part decides ``contains`` of an item known to be in it)."""
    return _VISIT[type(node)](node, name, fact, env, trace, partial)


@dataclass
class RuleOutcome:
    """Assignments that make a rule true, and those left unknown by missing data."""

    fired: list[Env]
    unknown: list[Env]


def _assignments(patterns: tuple[ir.Pattern, ...], by_type: dict[str, list[Fact]], i: int,
                 env: Env, unknown: bool) -> Iterator[tuple[Env, bool]]:
    """Depth-first search over facts; yields each complete assignment that is not false."""
    if i == len(patterns):
        yield dict(env), unknown
        return
    p = patterns[i]
    for fact in by_type.get(p.fact_type, ()):
        if any(fact is bound for bound in env.values()):
            continue  # durable-rules binds distinct facts to distinct patterns
        truth = True if p.condition is None else eval_node(p.condition, p.name, fact, env, None)
        if truth is False:
            continue
        env[p.name] = fact
        yield from _assignments(patterns, by_type, i + 1, env, unknown or truth is None)
        del env[p.name]


def evaluate_rule(patterns: tuple[ir.Pattern, ...], by_type: dict[str, list[Fact]]) -> RuleOutcome:
    """Every assignment of facts to patterns that is true, or unknown (none false).

    An assignment is unknown only when no pattern is false, so a rule is "not
    evaluated" only when the data it lacks is all that stands between it and a verdict.
    """
    fired: list[Env] = []
    unknown: list[Env] = []
    for env, is_unknown in _assignments(patterns, by_type, 0, {}, False):
        (unknown if is_unknown else fired).append(env)
    return RuleOutcome(fired, unknown)


def missing_fields(patterns: tuple[ir.Pattern, ...], env: Env) -> set[tuple[str, str]]:
    """(fact id, field) pairs whose absence left an assignment unknown."""
    out: set[tuple[str, str]] = set()
    for p in patterns:
        trace = Trace()
        if p.condition is not None:
            eval_node(p.condition, p.name, env[p.name], env, trace)
        for name, field_name in trace.missing:
            out.add((env[name]["id"], field_name))
    return out


def explain(patterns: tuple[ir.Pattern, ...], env: Env) -> list[tuple[str, ir.Node]]:
    """The leaves that were true for a firing assignment, pattern by pattern."""
    trace = Trace()
    for p in patterns:
        if p.condition is not None:
            eval_node(p.condition, p.name, env[p.name], env, trace)
    return trace.true_leaves
