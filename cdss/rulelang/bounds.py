"""The three-valued evaluation as two two-valued tests per condition (compiled once).

``lower(fact, env)`` reads a missing field as false: it is true exactly when Kleene
evaluation (:mod:`cdss.rulelang.evaluate`) says True. ``upper(fact, env)`` reads a
missing field as true: it is false exactly when Kleene evaluation says False. The
language has no negation above the leaves, so a condition is monotone in its leaves
and these bounds are exact: a condition is unknown exactly when the two differ.
Reasoning under missing data searches with them instead of evaluating node by node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from cdss.rulelang import ir

Fact = dict[str, Any]
Env = dict[str, Fact]
Test = Callable[[Fact, Env], bool]
_MISSING = object()
_NUMBER = (int, float)  # exact types: a bool is not a number


def _true(fact: Fact, env: Env) -> bool:
    return True


class _Bound(ir.Visitor[Test]):
    """A node compiled to a test; ``missing`` is what a clause on an absent field is."""

    def __init__(self, missing: bool) -> None:
        self.missing = missing

    def visit_all(self, node: ir.All, pattern: str) -> Test:
        tests = tuple(c.accept(self, pattern) for c in node.children)

        def all_of(fact: Fact, env: Env) -> bool:
            for test in tests:
                if not test(fact, env):
                    return False
            return True
        return all_of

    def visit_any(self, node: ir.Any_, pattern: str) -> Test:
        tests = tuple(c.accept(self, pattern) for c in node.children)

        def any_of(fact: Fact, env: Env) -> bool:
            for test in tests:
                if test(fact, env):
                    return True
            return False
        return any_of

    def visit_exists(self, node: ir.Exists, pattern: str) -> Test:
        name, present = node.field, node.present
        return lambda fact, env: (name in fact) is present

    def visit_compare(self, node: ir.Compare, pattern: str) -> Test:
        name, operand, missing = node.field, node.operand, self.missing
        holds, order = node.operator.holds, node.operator.order
        if isinstance(operand, ir.Value):
            literal = operand.value
            if order is not None and type(literal) in _NUMBER:
                def compare_number(fact: Fact, env: Env) -> bool:
                    value = fact.get(name, _MISSING)
                    if value is _MISSING:
                        return missing
                    return type(value) in _NUMBER and order(value, literal)
                return compare_number

            def compare_value(fact: Fact, env: Env) -> bool:
                value = fact.get(name, _MISSING)
                return missing if value is _MISSING else holds(value, literal)
            return compare_value
        other_field = operand.field
        ref = operand.pattern if isinstance(operand, ir.Ref) else None

        def compare_field(fact: Fact, env: Env) -> bool:
            value = fact.get(name, _MISSING)
            other = (env[ref] if ref is not None else fact).get(other_field, _MISSING)
            if value is _MISSING or other is _MISSING:
                return missing
            return holds(value, other)
        return compare_field

    def visit_leaf(self, node: ir.Leaf, pattern: str) -> Test:
        name, holds, missing = node.field, node.operator.holds, self.missing
        argument = node.operator.prepare(node.argument)

        def leaf(fact: Fact, env: Env) -> bool:
            value = fact.get(name, _MISSING)
            return missing if value is _MISSING else holds(value, argument)
        return leaf


_LOWER, _UPPER = _Bound(False), _Bound(True)


def bounds(node: ir.Node | None, pattern: str = "") -> tuple[Test, Test]:
    """``(lower, upper)`` of a condition (both always true for no condition)."""
    if node is None:
        return _true, _true
    return node.accept(_LOWER, pattern), node.accept(_UPPER, pattern)


#: a pattern ready for the search: (name, fact type, lower, upper)
Bounded = tuple[str, str, Test, Test]


def bounded(patterns: tuple[ir.Pattern, ...]) -> tuple[Bounded, ...]:
    """Each pattern with the bounds of its condition."""
    return tuple((p.name, p.fact_type, *bounds(p.condition, p.name)) for p in patterns)


def unknown_assignments(patterns: tuple[Bounded, ...], by_type: dict[str, list[Fact]]
                        ) -> list[Env]:
    """Every assignment of distinct facts that no pattern makes false and some pattern
    leaves unknown, in the order of ``evaluate.evaluate_rule``'s ``unknown``."""
    if len(patterns) == 1:  # most rules: one loop, no search
        name, fact_type, lower, upper = patterns[0]
        return [{name: fact} for fact in by_type.get(fact_type, ())
                if upper(fact, _NO_ENV) and not lower(fact, _NO_ENV)]
    if len(patterns) == 2:  # the usual join: two plain loops
        return _pairs(patterns, by_type)
    return [env for env, unknown in _search(patterns, by_type, 0, {}, False) if unknown]


_NO_ENV: Env = {}


def _pairs(patterns: tuple[Bounded, ...], by_type: dict[str, list[Fact]]) -> list[Env]:
    """``unknown_assignments`` of two patterns."""
    (name_a, type_a, lower_a, upper_a), (name_b, type_b, lower_b, upper_b) = patterns
    out: list[Env] = []
    others = by_type.get(type_b, ())
    if not others:
        return out
    for a in by_type.get(type_a, ()):
        if not upper_a(a, _NO_ENV):
            continue
        known_a = lower_a(a, _NO_ENV)
        env = {name_a: a}
        for b in others:
            if b is a or not upper_b(b, env):
                continue
            if not known_a or not lower_b(b, env):
                out.append({name_a: a, name_b: b})
    return out


def _search(patterns: tuple[Bounded, ...], by_type: dict[str, list[Fact]], i: int, env: Env,
            unknown: bool) -> Iterator[tuple[Env, bool]]:
    if i == len(patterns):
        yield dict(env), unknown
        return
    name, fact_type, lower, upper = patterns[i]
    for fact in by_type.get(fact_type, ()):
        if env and any(fact is bound for bound in env.values()):
            continue  # durable-rules binds distinct facts to distinct patterns
        if not upper(fact, env):
            continue  # false whatever the missing values are
        env[name] = fact
        yield from _search(patterns, by_type, i + 1, env, unknown or not lower(fact, env))
        del env[name]
