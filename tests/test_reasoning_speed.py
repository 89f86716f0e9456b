"""The generated missing-data search (``cdss.backends.compiled.search``, issue #17) finds
what the interpreted one finds.

On every rule and the facts of every sample, rule case and generated sparse visit,
``u<n>`` gives the assignments ``bounds.unknown_assignments`` gives (the same facts, in
the same order, which is ``evaluate_rule``'s) and ``m<n>`` the fields the Kleene trace
finds missing; on generated conditions (operators, nesting, references to another
pattern) too. An engine searching with the generated code gives the reports of one
searching with the interpreted closures, warm or cold.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hypothesis import given, reject, settings
from hypothesis import strategies as st
from test_bounds import _NODES, _VALUES
from test_missing_data import _SETTINGS, sparse_visits
from test_reasoning_caches import cold, encounters

import cdss
from cdss import reasoning
from cdss.backends.compiled import search
from cdss.derive import build_facts
from cdss.receipt import fixed_clock
from cdss.rulelang import ir
from cdss.rulelang.bounds import bounded, unknown_assignments
from cdss.rulelang.evaluate import Trace, eval_node, evaluate_rule, missing_fields
from cdss.ruletest import load_cases

CLOCK = fixed_clock(datetime(2026, 12, 1, tzinfo=UTC))
ENGINE = cdss.Engine(lang="en", backend="compiled", clock=CLOCK)
#: the reference: every rule searched by the interpreted closures
INTERPRETED = cdss.Engine(lang="en", backend="compiled", clock=CLOCK)
INTERPRETED._reasoner._search = {rule.action: None for rule in INTERPRETED.rules}
CASES = load_cases(Path(__file__).resolve().parent / "cases")
BY_ACTION = dict(zip((r.action for r in ENGINE.rules), search.load(ENGINE.rules), strict=True))


def _by_type(enc: dict[str, Any]) -> dict[str, list[dict[str, Any]]] | None:
    try:
        facts = build_facts(ENGINE.parse(enc), ENGINE.kb).facts
    except cdss.InputError:
        return None
    out: dict[str, list[dict[str, Any]]] = {}
    for fact in facts:
        out.setdefault(fact["t"], []).append(fact)
    return out


def _agree(rules: Any, by_type: dict[str, list[dict[str, Any]]],
           searches: dict[str, Any]) -> int:
    """Assert the generated search and trace agree with the interpreted ones on every
    rule; the number of unknown assignments compared."""
    seen = 0
    for rule in rules:
        expected = unknown_assignments(bounded(rule.patterns), by_type)
        assert expected == evaluate_rule(rule.patterns, by_type).unknown, rule.action
        unknown, missing, lower, upper, met = searches[rule.action]
        whole_lower, whole_upper = reasoning._whole(bounded(rule.patterns))
        got = unknown(by_type)
        assert len(got) == len(expected), rule.action
        for env, want in zip(got, expected, strict=True):
            assert list(env) == list(want), rule.action  # pattern order
            assert all(env[n] is want[n] for n in want), rule.action  # the same facts
            assert missing(env) == frozenset(missing_fields(rule.patterns, env)), rule.action
            assert bool(lower(env)) is whole_lower(env) is False, rule.action  # unknown
            assert bool(upper(env)) is whole_upper(env) is True, rule.action
            for p in rule.patterns:  # explain._worth_asking's test, generated
                if p.condition is not None:
                    assert met[p.name](env[p.name], env) is traced_met(p, env), rule.action
            seen += 1
    return seen


def traced_met(p: ir.Pattern, env: dict[str, Any]) -> bool:
    """What ``search``'s ``t<n>`` stands for: the evaluator's trace of the pattern
    lists a true clause other than an existence test."""
    trace = Trace()
    eval_node(p.condition, p.name, env[p.name], env, trace)  # type: ignore[arg-type]
    return any(not isinstance(leaf, ir.Exists) for _, leaf in trace.true_leaves)


def test_every_rule_is_generated() -> None:
    assert all(found is not None for found in BY_ACTION.values())
    assert len(BY_ACTION) == len(ENGINE.rules) > 300


def test_generated_search_agrees_on_every_rule_case_and_sample() -> None:
    encs = encounters() + [c.build() for c in CASES]
    seen = 0
    for enc in encs:
        by_type = _by_type(enc)
        if by_type is not None:
            seen += _agree(ENGINE.rules, by_type, BY_ACTION)
    assert seen > 1000


@_SETTINGS
@given(sparse_visits())
def test_generated_search_agrees_on_generated_visits(enc: dict[str, Any]) -> None:
    by_type = _by_type(enc)
    if by_type is not None:
        _agree(ENGINE.rules, by_type, BY_ACTION)


def _rule(action: str, *patterns: ir.Pattern) -> Any:
    return SimpleNamespace(action=action, patterns=patterns)


_FACTS = st.lists(st.dictionaries(st.sampled_from(["x", "y"]), _VALUES), max_size=3)


@settings(max_examples=300, deadline=None)
@given(first=_NODES, second=_NODES, op=st.sampled_from(["eq", "ne", "lt", "gte"]),
       facts=_FACTS, others=_FACTS)
def test_generated_search_agrees_on_generated_conditions(
        first: ir.Node, second: ir.Node, op: str, facts: list[dict[str, Any]],
        others: list[dict[str, Any]]) -> None:
    """One pattern; two patterns of one type (distinct facts); a second pattern of
    another type compared with the first's field."""
    join = ir.All((second, ir.Compare(op, "y", ir.Ref("a", "x"))))
    rules = [_rule("one", ir.Pattern("a", "f", first)),
             _rule("same", ir.Pattern("a", "f", first), ir.Pattern("b", "f", second)),
             _rule("join", ir.Pattern("a", "f", first), ir.Pattern("b", "g", join)),
             _rule("bare", ir.Pattern("a", "f", None), ir.Pattern("b", "g", second))]
    by_type = {"f": [{"t": "f", "id": f"f{i}", **f} for i, f in enumerate(facts)],
               "g": [{"t": "g", "id": f"g{i}", **f} for i, f in enumerate(others)]}
    searches = dict(zip((r.action for r in rules), _load(rules), strict=True))
    try:
        _agree(rules, by_type, searches)
        # the trace on every fact, whatever its verdict (short cuts included)
        lower, upper = reasoning._whole(bounded(rules[0].patterns))
        for fact in by_type["f"]:
            env = {"a": fact}
            assert searches["one"][1](env) == frozenset(missing_fields(rules[0].patterns, env))
            assert bool(searches["one"][2](env)) is lower(env)
            assert bool(searches["one"][3](env)) is upper(env)
            assert searches["one"][4]["a"](fact, env) is traced_met(rules[0].patterns[0], env)
        # both bounds of a joined pair, whatever its verdict
        lower, upper = reasoning._whole(bounded(rules[2].patterns))
        for a in by_type["f"]:
            for b in by_type["g"]:
                env = {"a": a, "b": b}
                assert bool(searches["join"][2](env)) is lower(env)
                assert bool(searches["join"][3](env)) is upper(env)
                for p in rules[2].patterns:
                    assert searches["join"][4][p.name](env[p.name], env) is traced_met(p, env)
    except TypeError:  # an operator on a value it cannot take (an unhashable item)
        reject()  # not a case a typed rule can reach


def _load(rules: list[Any]) -> tuple[Any, ...]:
    namespace: dict[str, Any] = {}
    exec(compile(search.module_source(rules), "<test search>", "exec"), namespace)
    return namespace["SEARCH"]


def test_unwritable_rule_is_searched_interpreted() -> None:
    odd = _rule("odd", ir.Pattern("a", "f", ir.Compare("eq", "x", ir.Value(["a"]))))
    fine = _rule("fine", ir.Pattern("a", "f", ir.Compare("gt", "x", ir.Value(1))))
    many = _rule("many", *(ir.Pattern(f"p{i}", "f", None)
                           for i in range(search.MAX_PATTERNS + 10)))
    found = _load([odd, fine, many])
    assert found[0] is None and found[1] is not None and found[2] is None


def test_a_module_that_does_not_compile_leaves_every_rule_interpreted(
        tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("CDSS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(search, "module_source", lambda rules: "def (:")
    assert search.load(ENGINE.rules[:3]) == (None, None, None)


def report(engine: cdss.Engine, enc: dict[str, Any]) -> str:
    return json.dumps(engine.check(enc).to_dict(), ensure_ascii=False, sort_keys=True)


def test_generated_and_interpreted_engines_give_equal_reports() -> None:
    for enc in encounters():
        assert report(ENGINE, enc) == report(cold(INTERPRETED), enc)
        got = [s.rule_id for s in ENGINE.findings(enc, evidence=False)]
        assert got == [s.rule_id for s in INTERPRETED.findings(enc, evidence=False)]


@_SETTINGS
@given(sparse_visits())
def test_warm_generated_engine_reports_as_a_cold_interpreted_one(enc: dict[str, Any]) -> None:
    assert report(ENGINE, enc) == report(cold(INTERPRETED), enc)


def test_the_search_code_is_cached_by_its_rules(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("CDSS_CACHE_DIR", str(tmp_path))
    rules = ENGINE.rules[:20]
    first = search.load(rules)
    assert len(list(tmp_path.glob("*.bin"))) == 1
    again = search.load(rules)
    assert [f is None for f in first] == [f is None for f in again]
    search.load(ENGINE.rules[:21])  # other rules: another file
    assert len(list(tmp_path.glob("*.bin"))) == 2
    for path in tmp_path.glob("*.bin"):
        path.write_bytes(b"damaged")
    assert len(search.load(rules)) == 20  # a damaged entry is compiled again
    # the same action with another threshold is another rule: never the cached code
    facts = {"f": [{"t": "f", "id": "f0", "x": 2, "y": 1}]}
    for threshold, unknown in ((1, []), (3, [])):
        cond = ir.All((ir.Compare("gt", "x", ir.Value(threshold)),
                       ir.Compare("eq", "z", ir.Value("a"))))
        found = search.load([_rule("same", ir.Pattern("a", "f", cond))])[0]
        assert found is not None
        assert found[0](facts) == ([{"a": facts["f"][0]}] if threshold == 1 else unknown)
    assert len(list(tmp_path.glob("*.bin"))) == 4


def test_inlined_finding_key_is_finding_key() -> None:
    for enc in encounters():
        fs = build_facts(ENGINE.parse(enc), ENGINE.kb)
        for u in ENGINE._reasoner.undecided(fs, {}):
            assert u.key == reasoning.finding_key(u.rule, u.env, fs)


def test_a_reasoner_without_generated_searches_finds_the_same() -> None:
    from cdss.derive import fact_types

    plain = reasoning.Reasoner(ENGINE.rules, fact_types(ENGINE.kb))
    assert all(found is None for found in plain._searches().values())
    for enc in encounters():
        fs = build_facts(ENGINE.parse(enc), ENGINE.kb)
        assert plain.undecided(fs, {}) == ENGINE._reasoner.undecided(fs, {})
