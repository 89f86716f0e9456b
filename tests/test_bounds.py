"""The two-valued bounds of ``cdss.rulelang.bounds`` are exact: on every rule and the
facts of every rule case and sample, lower is "Kleene True", upper is "not Kleene
False", and the search finds the assignments ``evaluate_rule`` leaves unknown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, reject, settings
from hypothesis import strategies as st

import cdss
from cdss.derive import build_facts
from cdss.rulelang import ir
from cdss.rulelang.bounds import bounded, bounds, unknown_assignments
from cdss.rulelang.evaluate import eval_node, evaluate_rule
from cdss.ruletest import load_cases

from conftest import SAMPLES, sample

CASES = load_cases(Path(__file__).resolve().parent / "cases")


def _fact_sets(engine: cdss.Engine) -> list[dict[str, list[dict[str, Any]]]]:
    encounters = [sample(p.stem) for p in sorted(SAMPLES.glob("enc-*.json"))]
    encounters += [c.build() for c in CASES]
    out = []
    for enc in encounters:
        try:
            facts = build_facts(engine.parse(enc), engine.kb).facts
        except cdss.InputError:
            continue
        by_type: dict[str, list[dict[str, Any]]] = {}
        for fact in facts:
            by_type.setdefault(fact["t"], []).append(fact)
        out.append(by_type)
    return out


def test_the_search_finds_what_evaluate_rule_leaves_unknown(engine: cdss.Engine) -> None:
    fact_sets = _fact_sets(engine)
    assert len(fact_sets) > 100
    compiled = {rule.action: bounded(rule.patterns) for rule in engine.rules}
    for by_type in fact_sets:
        for rule in engine.rules:
            assert unknown_assignments(compiled[rule.action], by_type) == \
                evaluate_rule(rule.patterns, by_type).unknown, rule.id


def test_each_bound_agrees_with_kleene_on_single_facts(engine: cdss.Engine) -> None:
    for by_type in _fact_sets(engine)[:60]:
        for rule in engine.rules:
            p = rule.patterns[0]
            lower, upper = bounds(p.condition, p.name)
            for fact in by_type.get(p.fact_type, ()):
                truth = True if p.condition is None else eval_node(p.condition, p.name,
                                                                   fact, {}, None)
                assert lower(fact, {}) is (truth is True), rule.id
                assert upper(fact, {}) is (truth is not False), rule.id


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(
    [0.5, 1.0, 2.0, "a", "b", ["a"], []]))
_LEAVES = st.one_of(
    st.builds(ir.Compare, st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]),
              st.sampled_from(["x", "y"]),
              st.one_of(st.builds(ir.Value, st.one_of(st.integers(-2, 2), st.booleans(),
                                                      st.sampled_from(["a", 1.0]))),
                        st.builds(ir.SameFact, st.sampled_from(["x", "y"])))),
    st.builds(ir.InList, st.sampled_from(["x", "y"]),
              st.lists(st.sampled_from(["a", "b", 1, True]), min_size=1, max_size=3)
              .map(tuple), st.booleans()),
    st.builds(ir.Contains, st.sampled_from(["x", "y"]), st.sampled_from(["a", 1]),
              st.booleans()),
    st.builds(ir.Exists, st.sampled_from(["x", "y"]), st.booleans()))
_NODES = st.recursive(_LEAVES, lambda inner: st.one_of(
    st.builds(ir.All, st.lists(inner, max_size=3).map(tuple)),
    st.builds(ir.Any_, st.lists(inner, max_size=3).map(tuple))), max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(node=_NODES, fact=st.dictionaries(st.sampled_from(["x", "y"]), _VALUES))
def test_bounds_are_exact_on_generated_conditions(node: ir.Node, fact: dict[str, Any]
                                                  ) -> None:
    fact = {"t": "f", "id": "f1", **fact}
    try:
        truth = eval_node(node, "p", fact, {}, None)
    except TypeError:  # an operator on a value it cannot take (an unhashable item)
        reject()  # not a case a typed rule can reach
    lower, upper = bounds(node, "p")
    assert lower(fact, {}) is (truth is True)
    assert upper(fact, {}) is (truth is not False)
