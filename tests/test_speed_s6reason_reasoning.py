"""The reasoning's short cuts of session 6 (issue #17), each checked against what it
replaces: the list pre-test before ``_false_given``, the finding key of one subject,
the per-rule set of fields never completed, and the completion's possibility test of
the blocked context loop (``Reasoner._possible_over``)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from hypothesis import given
from test_missing_data import _SETTINGS, sparse_visits
from test_reasoning_caches import CLOCK, cold, encounters

import cdss
from cdss.derive import build_facts
from cdss.reasoning import Reasoner, _false_given, _partly_known, finding_key
from cdss.ruletest import load_cases

ENGINE = cdss.Engine(lang="en", backend="compiled", clock=CLOCK)
CASES = load_cases(Path(__file__).resolve().parent / "cases")
CORPUS = encounters() + [c.build() for c in CASES]


def _facts(enc: dict[str, Any]) -> Any:
    try:
        return build_facts(ENGINE.parse(enc), ENGINE.kb)
    except cdss.InputError:
        return None


def _assignments(fs: Any) -> list[tuple[Any, dict[str, Any]]]:
    """Every candidate rule's unknown assignment, with the candidate."""
    by_type: dict[str, list[Any]] = {}
    for fact in fs.facts:
        by_type.setdefault(fact["t"], []).append(fact)
    return [(c, env) for c in ENGINE._reasoner._candidates_for(fs.facts, by_type, False)
            for env in c[1](by_type)]


def _lists_agree(enc: dict[str, Any]) -> int:
    """Assert: where the pre-test says no list known in part is read, the assignment is
    not false given them. How many assignments are false given them."""
    fs = _facts(enc)
    if fs is None or not fs.partial:
        return 0
    false = 0
    for c, env in _assignments(fs):
        known = bool(c[7]) and _partly_known(c[7], env, fs.partial)
        found = _false_given(c[0], env, fs.partial)
        assert known or not found, c[0].action
        false += found
    return false


def test_the_list_pre_test_agrees_on_samples_and_cases() -> None:
    for enc in CORPUS:
        _lists_agree(enc)


@_SETTINGS
@given(sparse_visits())
def test_the_list_pre_test_agrees_on_sparse_visits(enc: dict[str, Any]) -> None:
    _lists_agree(enc)


def test_a_list_known_in_part_rules_something_out() -> None:
    """An amlodipine prescription implies hypertension in a problem list not sent: some
    assignment is false given it (so the tests above can fail)."""
    enc = {"id": "v", "time": "2026-11-20T09:30:00+08:00",
           "patient": {"id": "p", "sex": "female", "birth_date": "1941-06-01",
                       "pregnant": False},
           "vitals": {"glucose": "8.4 mmol/L"}, "labs": [],
           "prescriptions": [{"drug": "氨氯地平", "dose": "5 mg", "frequency": "qd"}]}
    assert _lists_agree(enc) > 0


def test_keys_and_never_completed_agree_with_their_definitions() -> None:
    r = ENGINE._reasoner
    one = many = never = 0
    for enc in CORPUS:
        fs = _facts(enc)
        if fs is None:
            continue
        for u in r.undecided(fs, {}):
            assert u.key == finding_key(u.rule, u.env, fs)
            if len(u.rule.spec.subject or u.env) == 1:
                one += 1
            else:
                many += 1
            expected = any(r._never_field(u.rule, ref[1]) for ref in u.missing)
            assert r._never_completed(u) is expected
            never += expected
    assert one > 50 and many > 50 and never > 50


def pregnancy_completion() -> tuple[Reasoner, dict[str, dict[str, Any]],
                                    tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """A reasoner for which a pregnant man is impossible, a patient and a vitals fact,
    the fields filled first (``other``) and the context fields on top."""
    def consistent(fact: dict[str, Any]) -> bool:
        return not (fact.get("sex") == "male" and fact.get("pregnant"))
    r = Reasoner(ENGINE._reasoner.rules, ENGINE._reasoner.types, consistent)
    facts = {"p": {"t": "patient", "id": "p"}, "v": {"t": "vitals", "id": "v"}}
    return r, facts, (("p", "sex"), ("v", "sbp")), (("p", "pregnant"), ("v", "glucose_context"))


def test_possible_over_is_complete_of_every_field() -> None:
    """A base completion (``other``) then the context values on top: possible exactly
    when completing every field at once is."""
    r, facts, other, context = pregnancy_completion()
    seen = set()
    for first in itertools.product(["male", "female"], [120]):
        base = r._complete(facts, list(other), first)
        if base is None:
            continue
        for ctx in itertools.product([False, True], ["fasting", "random"]):
            whole = r._complete(facts, [*context, *other], (*ctx, *first))
            got = r._possible_over(base, facts, context, ctx)
            assert got is (whole is not None)
            seen.add(got)
    assert seen == {True, False}
    assert facts == {"p": {"t": "patient", "id": "p"}, "v": {"t": "vitals", "id": "v"}}


def test_warm_and_cold_engines_give_the_same_reports() -> None:
    warm = [ENGINE.check(enc).to_dict() for enc in CORPUS[:40] if _facts(enc) is not None]
    fresh = cold(cdss.Engine(lang="en", backend="compiled", clock=CLOCK))
    assert warm == [fresh.check(enc).to_dict() for enc in CORPUS[:40]
                    if _facts(enc) is not None]
