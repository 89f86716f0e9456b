"""``Explainer.not_evaluated`` (issue #17, session 5) gives what the session-4 version
gave: that version is kept here verbatim as the oracle (Kleene trace for the measured
clauses, one walk per undecided assignment) and compared, entry by entry, on every
sample, rule case and sparse visit, with the generated clause tests and without them
(an interpreted reasoner's assignments carry none)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given
from test_missing_data import _SETTINGS, sparse_visits
from test_reasoning_caches import encounters

import cdss
from cdss.derive import FactSet, build_facts
from cdss.explain import Explainer, _about
from cdss.report import NotEvaluated
from cdss.rulelang import CompiledRule, ir
from cdss.rulelang.evaluate import Trace, eval_node
from cdss.ruletest import load_cases

ENGINE = cdss.Engine(lang="en", backend="compiled")
#: every rule searched by the interpreted closures: its assignments carry no ``met``
INTERPRETED = cdss.Engine(lang="en", backend="compiled")
INTERPRETED._reasoner._search = {rule.action: None for rule in INTERPRETED.rules}
CASES = load_cases(Path(__file__).resolve().parent / "cases")


def _worth_asking(ex: Explainer, u: Any, paths: set[str]) -> bool:
    about = _about(u.rule)
    if about is False:
        return False
    if not all(ex._askable(p) for p in paths):
        return False
    if about is True:
        return True
    env = u.env
    for p in about:
        trace = Trace()
        eval_node(p.condition, p.name, env[p.name], env, trace)
        if any(not isinstance(leaf, ir.Exists) for _, leaf in trace.true_leaves):
            return True
    return False


def oracle(ex: Explainer, undecided: list[Any], fs: FactSet) -> list[NotEvaluated]:
    """``Explainer.not_evaluated`` as of session 4."""
    by_rule: dict[str, tuple[CompiledRule, set[str], bool]] = {}
    paths_of: dict[tuple[str, str], tuple[str, ...]] = {}
    for u in undecided:
        paths: set[str] = set()
        for ref in u.missing:
            named = paths_of.get(ref)
            if named is None:
                fact = next(f for f in u.env.values() if f["id"] == ref[0])
                named = paths_of[ref] = ex.missing_paths(fs, fact, ref[1])
            paths.update(named)
        found = by_rule.get(u.rule.action)
        if found is None:
            by_rule[u.rule.action] = (u.rule, paths, _worth_asking(ex, u, paths))
        else:
            rule, known, ask = found
            by_rule[u.rule.action] = (rule, known | paths,
                                      ask or _worth_asking(ex, u, paths))
    merged: dict[tuple[str, tuple[str, ...]], list[tuple[str, bool]]] = {}
    for _, (rule, paths, ask) in sorted(by_rule.items()):
        if paths:
            missing = tuple(sorted(paths))
            merged.setdefault((rule.spec.group or rule.id, missing), []).append((rule.id, ask))
    out = [NotEvaluated(same[0][0], missing, tuple(rid for rid, _ in same[1:]),
                        any(ask for _, ask in same))
           for (_, missing), same in merged.items()]
    return sorted(out, key=lambda n: n.rule_id)


def _compare(enc: dict[str, Any]) -> tuple[int, int]:
    """Assert both engines' ``not_evaluated`` equal the oracle's; how many entries, and
    how many of them are asked for."""
    count = asked = 0
    for engine in (ENGINE, INTERPRETED):
        try:
            fs = build_facts(engine.parse(enc), engine.kb)
        except cdss.InputError:
            return 0, 0
        _, reasoned = engine._findings(fs, evidence=False, undecided=True)
        if engine is ENGINE:
            assert all(u.met is not None for u in reasoned.undecided)
        else:
            assert all(u.met is None for u in reasoned.undecided)
        got = engine._explainer.not_evaluated(reasoned.undecided, fs)
        want = oracle(engine._explainer, reasoned.undecided, fs)
        assert got == want
        assert [n.to_dict() for n in got] == [n.to_dict() for n in want]
        count += len(got)
        asked += sum(n.ask for n in got)
    return count, asked


def test_not_evaluated_equals_the_session_4_version_on_samples_and_cases() -> None:
    encs = encounters() + [c.build() for c in CASES]
    counts = [_compare(enc) for enc in encs]
    entries, asked = sum(c[0] for c in counts), sum(c[1] for c in counts)
    assert entries > 500 and 50 < asked < entries  # both kinds of entry are compared


@_SETTINGS
@given(sparse_visits())
def test_not_evaluated_equals_the_session_4_version_on_sparse_visits(
        enc: dict[str, Any]) -> None:
    _compare(enc)


def test_ask_reads_the_measured_clause() -> None:
    """The oracle is not vacuous: an undecided rule about a measured value is asked for
    exactly when some clause other than an existence test is already met."""
    asked = {False: 0, True: 0}
    for enc in encounters():
        fs = build_facts(ENGINE.parse(enc), ENGINE.kb)
        _, reasoned = ENGINE._findings(fs, evidence=False, undecided=True)
        for u in reasoned.undecided:
            about = _about(u.rule)
            if isinstance(about, tuple) and about:
                asked[any(u.met[p.name](u.env[p.name], u.env) for p in about)] += 1
    assert asked[False] > 0 and asked[True] > 0


def test_entries_are_made_once_per_value_and_bounded(monkeypatch: Any) -> None:
    from cdss import explain

    monkeypatch.setattr(explain, "_ENTRIES", {})
    first = explain._entry("r", ("a",), (), True)
    assert explain._entry("r", ("a",), (), True) is first
    assert explain._entry("r", ("a",), (), False) == NotEvaluated("r", ("a",), (), False)
    assert explain._entry("r", ("a",), ("s",), True) == NotEvaluated("r", ("a",), ("s",), True)
    for i in range(explain._MAX_PATHS + 5):
        explain._entry(f"r{i}", (), (), False)
    assert len(explain._ENTRIES) <= explain._MAX_PATHS
