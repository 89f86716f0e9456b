"""Find rule matches in Python: the ``python`` backend of :class:`cdss.Engine`.

The same IR that is emitted for durable-rules is evaluated here with the evaluator of
``evaluate.py``, so both backends share one meaning of every rule; a property test
checks that they find the same matches on generated encounters. This one needs no
engine state per check, which makes it the fast path for batch audits.

Before a rule is evaluated, a cheap test drops rules that cannot match: every pattern
needs a fact of its type carrying the literal equalities the pattern demands (most of
the rules are templates keyed by a drug or interaction, so few survive).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cdss.rulelang import ir
from cdss.rulelang.ir import literal_equalities, most_selective_first

if TYPE_CHECKING:
    from cdss.rulelang.load import CompiledRule

Fact = dict[str, Any]
#: one match: (action name, {pattern name: fact id}), as the durable backend reports it
Match = tuple[str, dict[str, str]]
Env = dict[str, Fact]
#: a condition compiled to a function: true only when the IR evaluates to True (an
#: unknown, from a missing field, counts as not matching, as in the engine)
Test = Callable[[Fact, Env], bool]
#: what one pattern needs: its fact type and the (field, literal) pairs it demands
Need = tuple[str, frozenset[tuple[str, Any]]]
_MISSING = object()
_NO_ENV: Env = {}
#: values a literal equality can be looked up by
_HASHABLE = (str, int, float, bool)
_NUMBER = (int, float)  # exact types: a bool is not a number to durable-rules


@dataclass(frozen=True)
class _Pattern:
    name: str
    fact_type: str
    test: Test | None


@dataclass(frozen=True)
class _Candidate:
    action: str
    patterns: tuple[_Pattern, ...]
    needs: tuple[Need, ...]

    @property
    def keys(self) -> frozenset[Any]:
        """What must be present: each pattern's type and its (type, field, literal)s."""
        return frozenset({t for t, _ in self.needs}
                         | {(t, *pair) for t, pairs in self.needs for pair in pairs})


class PythonMatcher:
    """Every match of a rule set over a list of facts, in a deterministic order."""

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self._rules = tuple(
            _Candidate(r.action,
                       tuple(_Pattern(p.name, p.fact_type, compile_condition(p.condition))
                             for p in r.patterns),
                       tuple((p.fact_type, frozenset(literal_equalities(p.condition)))
                             for p in r.patterns))
            for r in rules)
        #: per fact type, the fields whose literal values some pattern demands
        self._keyed: dict[str, frozenset[str]] = {}
        #: each rule filed under one thing it needs: a (type, field, literal) or a type
        self._index: dict[Any, list[int]] = {}
        for n, rule in enumerate(self._rules):
            for fact_type, pairs in rule.needs:
                self._keyed[fact_type] = self._keyed.get(fact_type, frozenset()) | {
                    name for name, _ in pairs}
            keyed = [(t, *pair) for t, pairs in rule.needs
                     for pair in most_selective_first(pairs)]
            self._index.setdefault(keyed[0] if keyed else rule.needs[0][0], []).append(n)
        self._keys = tuple(rule.keys for rule in self._rules)

    def run(self, facts: list[Fact]) -> list[Match]:
        """Matches as ``(action, {pattern: fact id})``, ordered by rule then fact ids."""
        by_type: dict[str, list[Fact]] = {}
        present: set[tuple[str, str, Any]] = set()
        keyed = self._keyed
        for fact in facts:
            fact_type = fact["t"]
            same = by_type.get(fact_type)
            if same is None:
                by_type[fact_type] = [fact]
            else:
                same.append(fact)
            for name in keyed.get(fact_type, ()):
                value = fact.get(name, _MISSING)
                if value is not _MISSING and isinstance(value, _HASHABLE):
                    present.add((fact_type, name, value))
        out: list[Match] = []
        filed, keys, rules = self._index, self._keys, self._rules
        available = present.union(by_type)
        candidates = sorted({n for key in available for n in filed.get(key, ())})
        for n in candidates:
            if not keys[n] <= available:
                continue
            rule = rules[n]
            patterns = rule.patterns
            if len(patterns) == 1:  # most rules: no join, no search
                p = patterns[0]
                of_type, test = by_type[p.fact_type], p.test
                if len(of_type) == 1:  # a singleton (patient, vitals, derived...)
                    fact = of_type[0]
                    if test is None or test(fact, _NO_ENV):
                        out.append((rule.action, {p.name: fact["id"]}))
                    continue
                ids = sorted(fact["id"] for fact in of_type
                             if test is None or test(fact, _NO_ENV))
                out.extend((rule.action, {p.name: fact_id}) for fact_id in ids)
                continue
            if len(patterns) == 2:  # the usual join: two plain loops
                found = _pairs(patterns, by_type)
            else:
                found = list(_assignments(patterns, by_type, {}))
            if len(found) > 1:
                found.sort(key=lambda bound: sorted(bound.items()))
            out.extend((rule.action, bound) for bound in found)
        return out


def _pairs(patterns: tuple[_Pattern, ...], by_type: dict[str, list[Fact]]
           ) -> list[dict[str, str]]:
    """``_assignments`` for two patterns, without recursion."""
    first, second = patterns
    out = []
    for a in by_type.get(first.fact_type, ()):
        if first.test is not None and not first.test(a, _NO_ENV):
            continue
        env = {first.name: a}
        for b in by_type.get(second.fact_type, ()):
            if b is not a and (second.test is None or second.test(b, env)):
                out.append({first.name: a["id"], second.name: b["id"]})
    return out


def _assignments(patterns: tuple[_Pattern, ...], by_type: dict[str, list[Fact]], env: Env
                 ) -> Iterator[dict[str, str]]:
    """Each assignment of distinct facts to the patterns that makes every test true."""
    depth = len(env)
    if depth == len(patterns):
        yield {name: fact["id"] for name, fact in env.items()}
        return
    p = patterns[depth]
    for fact in by_type.get(p.fact_type, ()):
        if any(fact is bound for bound in env.values()):
            continue  # durable-rules binds distinct facts to distinct patterns
        if p.test is None or p.test(fact, env):
            env[p.name] = fact
            yield from _assignments(patterns, by_type, env)
            del env[p.name]


class _Compiler(ir.Visitor[Test]):
    """A node compiled to a function, with the meaning of each operator from the
    operator table (and fast paths for literal strings and numbers)."""

    def visit_all(self, node: ir.All) -> Test:
        tests = tuple(c.accept(self) for c in node.children)

        def all_of(fact: Fact, env: Env) -> bool:
            for test in tests:  # a loop: cheaper than all() over a generator
                if not test(fact, env):
                    return False
            return True
        return all_of

    def visit_any(self, node: ir.Any_) -> Test:
        tests = tuple(c.accept(self) for c in node.children)

        def any_of(fact: Fact, env: Env) -> bool:
            for test in tests:
                if test(fact, env):
                    return True
            return False
        return any_of

    def visit_exists(self, node: ir.Exists) -> Test:
        name, holds = node.field, node.operator.holds
        return lambda fact, env: holds(name in fact, None)

    def visit_compare(self, node: ir.Compare) -> Test:
        return _compile_compare(node)

    def visit_leaf(self, node: ir.Leaf) -> Test:
        name, holds = node.field, node.operator.holds
        argument = node.operator.prepare(node.argument)

        def leaf(fact: Fact, env: Env) -> bool:
            value = fact.get(name, _MISSING)
            return value is not _MISSING and holds(value, argument)
        return leaf


_COMPILER = _Compiler()


def compile_condition(node: ir.Node | None) -> Test | None:
    """A function equal to "``evaluate.eval_node`` is True" for ``node``."""
    return None if node is None else node.accept(_COMPILER)


def _compile_compare(node: ir.Compare) -> Test:
    name, operand, operator = node.field, node.operand, node.operator
    holds = operator.holds
    if isinstance(operand, ir.Value) and isinstance(operand.value, str) and \
            node.op in ("eq", "ne"):
        # NOTE: the eq of the operator table on a string literal, spelt out for speed
        literal, equal = operand.value, node.op == "eq"

        def compare_text(fact: Fact, env: Env) -> bool:
            value = fact.get(name, _MISSING)
            return value is not _MISSING and (type(value) is str and value == literal) == equal
        return compare_text
    if isinstance(operand, ir.Value) and _is_number(operand.value) and \
            operator.order is not None:
        literal, order = operand.value, operator.order

        def compare_number(fact: Fact, env: Env) -> bool:
            value = fact.get(name, _MISSING)
            return type(value) in _NUMBER and order(value, literal)
        return compare_number
    if isinstance(operand, ir.Value):
        literal = operand.value

        def compare_value(fact: Fact, env: Env) -> bool:
            value = fact.get(name, _MISSING)
            return value is not _MISSING and holds(value, literal)
        return compare_value
    other_field = operand.field
    ref = operand.pattern if isinstance(operand, ir.Ref) else None

    def compare_field(fact: Fact, env: Env) -> bool:
        value = fact.get(name, _MISSING)
        other = (env[ref] if ref is not None else fact).get(other_field, _MISSING)
        return value is not _MISSING and other is not _MISSING and holds(value, other)
    return compare_field


def _is_number(value: Any) -> bool:
    return type(value) in _NUMBER
