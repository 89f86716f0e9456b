"""The compiled matcher's shortcuts (issue #17, docs/research/speed-s6match.md).

``run`` files a fact under a literal only when some rule looks it up by that literal
(every value of a join's field), runs the rules in groups keyed by the first thing
each needs, and restores the rule set's order at the end. Each test fails on a
mutant of one of these: matches must equal the ``python`` backend's, order included.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from golden.reports import encounters

import cdss
from cdss.backends.compiled.codegen import index_key, joined_equality, module_source
from cdss.derive import build_facts
from cdss.rulelang.ops import OPERATORS

COMPILED = cdss.Engine(backend="compiled")
PYTHON = cdss.Engine(backend="python")


def _facts(enc: dict[str, Any]) -> list[dict[str, Any]]:
    return build_facts(cdss.Encounter.parse(enc), COMPILED.kb).facts


@pytest.fixture(scope="module")
def golden_facts() -> list[list[dict[str, Any]]]:
    out = []
    for _, enc in encounters():
        try:
            out.append(_facts(enc))
        except Exception:  # an encounter the parser refuses: no facts to match
            continue
    return out


def test_every_golden_encounter_matches_as_the_python_backend(
        golden_facts: list[list[dict[str, Any]]]) -> None:
    """Canonical order (rule, then ids) whatever order the groups ran in."""
    several = 0
    for facts in golden_facts:
        found = COMPILED._backend.run(facts)
        assert found == PYTHON._backend.run(facts)
        several += len({action for action, _ in found}) > 1
    assert several > 100  # the order across rules is really exercised


def test_fact_order_does_not_change_the_matches(
        golden_facts: list[list[dict[str, Any]]]) -> None:
    rng = random.Random(17)
    for facts in golden_facts[::7]:
        shuffled = facts[:]
        rng.shuffle(shuffled)
        assert COMPILED._backend.run(shuffled) == PYTHON._backend.run(facts)


def test_a_join_field_is_filed_under_every_value() -> None:
    """A joined field's value is no rule's literal: it must still be looked up."""
    joins = [(rule, i) for rule in COMPILED.rules for i, p in enumerate(rule.patterns)
             if index_key(p) is None and joined_equality(p) is not None]
    assert joins
    tried = 0
    for rule, i in joins:
        if len(rule.patterns) != 2 or i != 1:
            continue
        field, _, other_field = joined_equality(rule.patterns[1])  # type: ignore[misc]
        facts = [{"t": rule.patterns[0].fact_type, "id": "a1",
                  other_field: "no_rule_names_this_value"},
                 {"t": rule.patterns[1].fact_type, "id": "b1",
                  field: "no_rule_names_this_value"}]
        found = COMPILED._backend.run(facts)
        assert found == PYTHON._backend.run(facts)
        tried += (rule.action, {rule.patterns[0].name: "a1",
                                rule.patterns[1].name: "b1"}) in found
    assert tried  # at least one join really matched on an unnamed value


def test_a_fact_is_filed_only_under_the_literals_rules_name() -> None:
    """Fewer keys, same matches; a join's field under any scalar; a list value (no
    literal equals it) neither filed nor an error, in a tuple or a set test."""
    namespace: dict[str, Any] = {}
    exec(compile(module_source(COMPILED.rules), "<test>", "exec"), namespace)
    file = namespace["FILE"]
    index: dict[Any, list[dict[str, Any]]] = {}
    patient = {"t": "patient", "id": "p", "sex": "other", "pregnant": 1.0,
               "ckd_risk": [True], "age_years": 40}
    file["patient"](patient, index)
    assert index == {("patient", "pregnant", True): [patient]}  # 1.0 == True, as before
    assert COMPILED._backend.run([patient]) == PYTHON._backend.run([patient])
    index.clear()
    file["allergy_key"]({"t": "allergy_key", "id": "a", "key": ["aspirin"]}, index)
    file["allergy_key"]({"t": "allergy_key", "id": "b", "key": "no_rule_names_it"}, index)
    assert index == {}
    file["rx_allergen"](allergen := {"t": "rx_allergen", "id": "x", "key": "unnamed"}, index)
    assert index == {("rx_allergen", "key", "unnamed"): [allergen]}


VALUES = [None, True, False, "120", 0, 79, 80, 109.5, 110, 119.99, 120, 130, -1.0,
          float("nan"), float("inf"), [110]]


@pytest.mark.parametrize("bounds", [
    (("gte", 80), ("lt", 110)), (("gt", 79), ("lte", 120), ("lt", 130)),
    (("gte", 109.5), ("lte", 109.5)), (("lt", float("inf")), ("gt", -1))])
def test_a_range_reads_its_field_once_and_means_the_same(
        bounds: tuple[tuple[str, float], ...]) -> None:
    """Adjacent numeric comparisons of one field: one read, one type test, the same
    truth as the comparisons written one by one (the generator's code before)."""
    from cdss.backends.compiled.codegen import _Expr
    from cdss.rulelang import ir
    node = ir.All(tuple(ir.Compare(op, "x", ir.Value(value)) for op, value in bounds))
    constants: list[str] = []
    expr = _Expr(constants)
    source = node.accept(expr, "f", {})
    one_by_one = " and ".join(c.accept(expr, "f", {}) for c in node.children)
    assert source.count(".get(") == 1 and one_by_one.count(".get(") == len(bounds)
    assert not constants
    namespace: dict[str, Any] = {"_NUM": (int, float), "_M": object()}
    for fact in [*({"x": value} for value in VALUES), {}]:
        want = eval(one_by_one, namespace, {"f": fact})
        assert eval(source, namespace, {"f": fact}) is want, (bounds, fact)
        assert want is (type(fact.get("x")) in (int, float) and all(
            OPERATORS[op].holds(fact["x"], OPERATORS[op].prepare(limit))
            for op, limit in bounds))
