"""Evaluate the IR in Python with three-valued logic (True, False, None=unknown).

Used for what durable-rules cannot tell us: which rules could not be evaluated
because data is missing (``not_evaluated``), which clauses made a rule fire (the
evidence), and as a differential oracle for the engine in tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cdss.rulelang import ir, regex

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
    """Comparison as durable-rules does it on JSON facts (numbers across int/float)."""
    if op == "eq":
        return (a == b and type(a) is type(b)) or (
            isinstance(a, int | float) and isinstance(b, int | float)
            and not isinstance(a, bool) and not isinstance(b, bool) and a == b)
    if op == "ne":
        return not compare("eq", a, b)
    if isinstance(a, bool) or isinstance(b, bool) or not (
            isinstance(a, int | float) and isinstance(b, int | float)):
        return False
    return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]


#: (fact id, list field) -> items known to be in a list that is absent because the rest
#: of it was not sent (``FactSet.partial``)
Partial = dict[tuple[str, str], tuple[Any, ...]]


def eval_node(node: ir.Node, name: str, fact: Fact, env: Env, trace: Trace | None,
              partial: Partial | None = None) -> Truth:
    """Kleene evaluation of one node for the fact bound to ``name`` (``partial``: a list
    known in part decides ``contains`` of an item known to be in it)."""
    if isinstance(node, ir.All):
        result: Truth = True
        for child in node.children:
            r = eval_node(child, name, fact, env, trace, partial)
            if r is False:
                return False
            if r is None:
                result = None
        return result
    if isinstance(node, ir.Any_):
        result = False
        for child in node.children:
            r = eval_node(child, name, fact, env, trace, partial)
            if r is True:
                return True
            if r is None:
                result = None
        return result
    if isinstance(node, ir.Exists):
        ok = (node.field in fact) == node.present
    elif (node.field not in fact and partial and isinstance(node, ir.Contains)
          and node.value in partial.get((fact["id"], node.field), ())):
        ok = not node.negate
    elif node.field not in fact:
        if trace is not None:
            trace.missing.add((name, node.field))
        return None
    else:
        value = fact[node.field]
        if isinstance(node, ir.Compare):
            other, present = _operand(node.operand, fact, env)
            if not present:
                if trace is not None:
                    where = node.operand.pattern if isinstance(node.operand, ir.Ref) else name
                    trace.missing.add((where, node.operand.field))  # type: ignore[union-attr]
                return None
            ok = compare(node.op, value, other)
        elif isinstance(node, ir.InList):
            hit = any(compare("eq", value, v) for v in node.values)
            ok = not hit if node.negate else hit
        elif isinstance(node, ir.Contains):
            hit = node.value in value
            ok = not hit if node.negate else hit
        elif isinstance(node, ir.Matches):
            pattern = regex.to_python(node.pattern)
            ok = isinstance(value, str) and pattern.fullmatch(value) is not None
        else:  # pragma: no cover - the parser builds no other node
            raise TypeError(type(node).__name__)
    if ok and trace is not None:
        trace.true_leaves.append((name, node))
    return ok


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
