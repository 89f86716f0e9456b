"""The reasoning's short cuts of session 7 (issue #17), each checked against what it
replaces: the list test that evaluates only the patterns reading a list known in part
(``_false_given_lists``), the never-completed test (``Reasoner._decide``'s first step;
inlined in ``reason`` by the helper, written once again in review), and
the possibility test of the blocked context loop made with one copy per fact
(``Reasoner._possible_each``)."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given
from test_missing_data import _SETTINGS, sparse_visits
from test_reasoning_caches import encounters
from test_speed_s6reason_reasoning import (
    CORPUS,
    ENGINE,
    _assignments,
    _facts,
    pregnancy_completion,
)

from cdss.reasoning import Reasoner, _false_given, _false_given_lists

#: an amlodipine prescription implies hypertension in a problem list not sent
AMLODIPINE = {"id": "v", "time": "2026-11-20T09:30:00+08:00",
              "patient": {"id": "p", "sex": "female", "birth_date": "1941-06-01",
                          "pregnant": False},
              "vitals": {"glucose": "8.4 mmol/L"}, "labs": [],
              "prescriptions": [{"drug": "氨氯地平", "dose": "5 mg", "frequency": "qd"}]}


def _lists_agree(enc: dict[str, Any]) -> int:
    """Assert: on every assignment the search finds, the list test of the undecided loop
    says what ``_false_given`` (every pattern evaluated) says. How many it rules out."""
    fs = _facts(enc)
    if fs is None or not fs.partial:
        return 0
    out = 0
    for c, env in _assignments(fs):
        got = bool(c[7]) and _false_given_lists(c[7], c[8], env, fs.partial)
        assert got is _false_given(c[0], env, fs.partial), c[0].action
        out += got
    return out


def test_the_list_test_agrees_on_samples_and_cases() -> None:
    for enc in CORPUS:
        _lists_agree(enc)


def test_the_list_test_rules_something_out() -> None:
    """So the comparisons above can fail (a test that never says false agrees
    everywhere else)."""
    assert _lists_agree(AMLODIPINE) > 0


@_SETTINGS
@given(sparse_visits())
def test_the_list_test_agrees_on_sparse_visits(enc: dict[str, Any]) -> None:
    _lists_agree(enc)


class _NoneNever(dict):  # type: ignore[type-arg]
    """A ``Reasoner._never`` that says no field is never completed: every finding goes
    through the full case split."""

    def get(self, key: Any, default: Any = None) -> frozenset[str]:
        return frozenset()


def _plain() -> Reasoner:
    """A reasoner like the engine's without the never-completed short cut."""
    r = ENGINE._reasoner
    plain = Reasoner(r.rules, r.types, r._consistent, searches=r._load_searches)
    plain._never = _NoneNever()
    return plain


PLAIN = _plain()


def _reason_agrees(enc: dict[str, Any]) -> tuple[int, int]:
    """Assert ``reason`` equals the plain reasoner's; (decisions, findings cut)."""
    r = ENGINE._reasoner
    fs = _facts(enc)
    if fs is None:
        return 0, 0
    decided = 0
    for undecided in (True, False):
        got = r.reason(fs, {}, undecided=undecided)
        want = PLAIN.reason(fs, {}, undecided=undecided)
        assert got.decisions == want.decisions
        assert got.undecided == want.undecided
        decided += len(got.decisions)
    by_finding: dict[Any, list[Any]] = {}
    for u in r.undecided(fs, {}):
        by_finding.setdefault(u.key, []).append(u)
    return decided, sum(all(r._never_completed(u) for u in items)
                        for items in by_finding.values())


def test_reason_with_the_inlined_cut_is_reason_without_it() -> None:
    """``reason`` (with the never-completed short cut of ``_decide``) gives what a
    reasoner without that short cut gives, on the samples, sparse visits and rule
    cases; both decide something and the short cut is taken."""
    counts = [_reason_agrees(enc) for enc in CORPUS + encounters() + [AMLODIPINE]]
    assert sum(c[0] for c in counts) > 20 and sum(c[1] for c in counts) > 20


@_SETTINGS
@given(sparse_visits())
def test_reason_with_the_inlined_cut_agrees_on_sparse_visits(enc: dict[str, Any]) -> None:
    _reason_agrees(enc)


def test_possible_each_is_possible_over_of_each() -> None:
    """One copy per fact for every context value: the same answers as a fresh
    completion per value, in an order where a value left from an earlier one would
    change the answer (pregnant, then not, for a man); the facts are not changed."""
    r, facts, other, context = pregnancy_completion()
    seen = set()
    for first in itertools.product(["male", "female"], [120]):
        base = r._complete(facts, list(other), first)
        assert base is not None
        for values in ([True, False], [False, True], [True, False, True]):
            combos = list(itertools.product(values, ["fasting", "random"]))
            want = [r._possible_over(base, facts, context, c) for c in combos]
            assert r._possible_each(base, facts, context, combos) == want
            seen.update(want)
        assert base["p"] == {"t": "patient", "id": "p", "sex": first[0]}
    assert seen == {True, False}
    assert facts == {"p": {"t": "patient", "id": "p"}, "v": {"t": "vitals", "id": "v"}}
