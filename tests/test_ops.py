"""The operator table, the IR's visitors and clause ids (issue #13)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import cdss
from cdss.backends.durable.emit import emit_node
from cdss.backends.python.matcher import compile_condition
from cdss.kb import load_knowledge
from cdss.rulelang import build_ruleset, ir
from cdss.rulelang.describe import describe
from cdss.rulelang.evaluate import eval_node
from cdss.rulelang.ops import COMBINATORS, OPERATORS, YAML_NAMES, equal

from _encounters import encounter
from conftest import minimal_rule, write_rules

KB = load_knowledge()
#: JSON values as facts carry them: bools, ints, floats, strings
json_scalars = st.one_of(st.booleans(), st.integers(-5, 5), st.floats(-5, 5, allow_nan=False),
                         st.sampled_from(["", "a", "b", "5"]))


def test_every_operator_names_a_node_and_a_complement_that_names_it_back() -> None:
    for name, op in OPERATORS.items():
        assert op.name == name
        assert op.node in ir.NODES, name
        if op.complement is not None:
            assert OPERATORS[op.complement].complement == name
            assert OPERATORS[op.complement].node == op.node
        assert op.symbol and op.evidence, name
    assert "absent" not in YAML_NAMES and "exists" in YAML_NAMES
    assert {c.node for c in COMBINATORS.values()} == {"All", "Any_"}


@given(json_scalars, json_scalars)
def test_a_comparison_and_its_complement_disagree_on_present_values(a: Any, b: Any) -> None:
    for name in ("eq", "ne", "gt", "gte", "lt", "lte"):
        op = OPERATORS[name]
        if op.ordered and not (isinstance(a, int | float) and isinstance(b, int | float)
                               and not isinstance(a, bool) and not isinstance(b, bool)):
            # an ordering of a non-number is false, and so is its complement
            assert not op.holds(a, b) and not OPERATORS[op.complement].holds(a, b)
            continue
        assert op.holds(a, b) != OPERATORS[op.complement].holds(a, b), (name, a, b)


@given(json_scalars, json_scalars)
def test_the_fast_number_path_agrees_with_the_meaning(a: Any, b: Any) -> None:
    for op in OPERATORS.values():
        if op.order is not None and type(a) in (int, float) and type(b) in (int, float):
            assert op.order(a, b) == op.holds(a, b), op.name


@pytest.mark.parametrize(("a", "b", "expected"), [
    (1, 1.0, True), (True, 1, False), (1, True, False), ("1", 1, False), (True, True, True),
    ("a", "a", True), (0, False, False)])
def test_equality_is_durable_rules_json_equality(a: Any, b: Any, expected: bool) -> None:
    assert equal(a, b) is expected
    assert OPERATORS["gte"].holds(True, 0) is False  # a bool is not a number


def _rules(tmp_path, when: dict[str, Any]):
    rules_dir = write_rules(tmp_path, [minimal_rule(when=when)])
    return build_ruleset(rules_dir, KB).rules[0]


def test_clauses_are_numbered_by_their_path_in_the_rule(tmp_path) -> None:
    rule = _rules(tmp_path, {
        "p": {"fact": "patient", "if": {"age_years": {"gte": 18}}},
        "v": {"fact": "vitals", "if": {"all": [
            {"any": [{"sbp": {"gte": 160}}, {"dbp": {"gte": 100}}]},
            {"sbp": {"lt": 180}}]}}})
    p, v = rule.patterns
    assert p.condition.id == "p"
    assert [leaf.id for leaf in ir.leaves(v.condition)] == ["v/0/0", "v/0/1", "v/1"]
    assert v.condition.children[0].id == "v/0"
    assert describe(v.condition, "vitals") == \
        "(vitals.sbp ≥ 160 or vitals.dbp ≥ 100) and vitals.sbp < 180"


def test_ids_do_not_change_what_a_node_means() -> None:
    node = ir.Compare("gte", "sbp", ir.Value(140))
    assert ir.with_ids(node, "v/3") == node  # equal and hashed as the same clause
    assert hash(ir.with_ids(node, "v/3")) == hash(node)


@pytest.mark.parametrize("node", [
    ir.Compare("ne", "consciousness", ir.Value("A")),
    ir.InList("sbp", (120, 130), negate=True),
    ir.Matches("consciousness", "A.*"),
    ir.Exists("sbp", present=False),
])
def test_every_consumer_handles_every_operator(node: ir.Node) -> None:
    fact = {"t": "vitals", "id": "v", "sbp": 150, "consciousness": "V"}
    truth = eval_node(node, "v", fact, {}, None)
    test = compile_condition(node)
    assert test is not None and test(fact, {}) == (truth is True)
    assert emit_node(node, "t")
    assert describe(node, "vitals").startswith("vitals.")


def test_a_visitor_without_a_method_for_a_node_names_both() -> None:
    class Partial(ir.Visitor[str]):
        def visit_compare(self, node: ir.Compare) -> str:
            return "compare"

    assert ir.Compare("eq", "x", ir.Value(1)).accept(Partial()) == "compare"
    with pytest.raises(NotImplementedError, match="Partial has no method for Exists nodes"):
        ir.Exists("x").accept(Partial())


def test_literal_equalities_are_the_ands_of_literal_equalities() -> None:
    node = ir.All((ir.Compare("eq", "key", ir.Value("warfarin")),
                   ir.Any_((ir.Compare("eq", "drug", ir.Value("a")),
                            ir.Compare("eq", "drug", ir.Value("b")))),
                   ir.Compare("ne", "rx", ir.Value(1))))
    assert ir.literal_equalities(node) == {("key", "warfarin")}
    assert ir.literal_equalities(None) == set()


def test_evidence_items_know_the_clause_that_decided() -> None:
    engine = cdss.Engine()
    report = engine.check(encounter({"vitals": {"sbp": 165, "dbp": 85}}))
    (grade2,) = [s for s in report.suggestions if s.rule_id == "diagnosis.hypertension.grade2"]
    clauses = {e["field"]: e["clause"] for e in grade2.evidence}
    rule = next(r for r in engine.rules if r.id == "diagnosis.hypertension.grade2")
    ids = {leaf.id: leaf for p in rule.patterns for leaf in ir.leaves(p.condition)}
    decided = ids[clauses["vitals.sbp"]]
    assert (decided.field, decided.op) == ("sbp", "gte")  # SBP 165 ≥ 160, not "< 180"
    assert all(list(e)[-1] == "clause" for e in grade2.evidence)  # additive: last key
    assert report.to_dict()["suggestions"][0]["evidence"][0]["clause"]


def test_compiled_rules_and_operators_pickle_by_name() -> None:
    rules = cdss.Engine().rules
    again = pickle.loads(pickle.dumps(rules))
    assert [p.condition for r in again for p in r.patterns] == \
        [p.condition for r in rules for p in r.patterns]
    assert pickle.loads(pickle.dumps(OPERATORS["matches"])) is OPERATORS["matches"]
    leaf = next(ir.leaves(again[0].patterns[-1].condition))
    assert leaf.operator is OPERATORS[leaf.op] and leaf.id


def test_the_durable_backend_names_every_operator_and_combinator() -> None:
    """A new operator of the rule language must say how durable-rules writes it."""
    from cdss.backends.durable.emit import DURABLE_NAMES
    from cdss.rulelang.ops import COMBINATORS, OPERATORS

    assert set(DURABLE_NAMES) == set(OPERATORS) | set(COMBINATORS)
