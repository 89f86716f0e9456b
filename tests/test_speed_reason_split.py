"""The case split's short cut (issue #17, session 5): a finding every assignment of
which lacks a field no completion can fill (``Reasoner._never_completed``: a number, not
context, that the finding's rules do not cover) is left undecided without building the
split's cache key; that is what the full case split finds for it (nothing kept)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given
from test_missing_data import _SETTINGS, sparse_visits
from test_reasoning_caches import encounters

import cdss
from cdss.derive import build_facts
from cdss.ruletest import load_cases

ENGINE = cdss.Engine(lang="en", backend="compiled")
CASES = load_cases(Path(__file__).resolve().parent / "cases")


def _findings(enc: dict[str, Any]) -> list[tuple[list[Any], Any]]:
    """Each finding the reasoner tries to decide, with the facts."""
    try:
        fs = build_facts(ENGINE.parse(enc), ENGINE.kb)
    except cdss.InputError:
        return []
    r = ENGINE._reasoner
    by_finding: dict[Any, list[Any]] = {}
    for u in r.undecided(fs, {}):
        by_finding.setdefault(u.key, []).append(u)
    return [(items, fs) for items in by_finding.values()
            if any(u.rule.action in r._decidable for u in items)]


def _agree(enc: dict[str, Any]) -> tuple[int, int]:
    """Assert: an assignment said never completed is never kept by the full case split.
    How many findings were short cut, and how many not."""
    r = ENGINE._reasoner
    cut = full = 0
    for items, fs in _findings(enc):
        facts = {f["id"]: f for u in items for f in u.env.values()}
        for u in items:
            if r._never_completed(u):
                assert not all(r._enumerable(u, ref, facts, fs) for ref in u.missing)
        if all(r._never_completed(u) for u in items):
            assert r._plan_split(items, facts, fs) is None
            assert r._decide(items, fs) is None
            cut += 1
        else:
            full += 1
    return cut, full


def test_the_short_cut_agrees_with_the_case_split_on_samples_and_cases() -> None:
    counts = [_agree(enc) for enc in encounters() + [c.build() for c in CASES]]
    cut, full = sum(c[0] for c in counts), sum(c[1] for c in counts)
    assert cut > 50 and full > 50  # both paths are taken


@_SETTINGS
@given(sparse_visits())
def test_the_short_cut_agrees_with_the_case_split_on_sparse_visits(enc: dict[str, Any]) -> None:
    _agree(enc)


def test_a_covered_number_is_completed() -> None:
    """Not vacuous: a field the finding's rules cover (the glycaemia group's glucose) is
    not short cut, an uncovered one (the level-2 hypoglycaemia rule's glucose) is."""
    r = ENGINE._reasoner
    by_id = {rule.id: rule for rule in ENGINE.rules}
    assert r._never_field(by_id["diagnosis.hypoglycemia.level2"], "glucose") is True
    assert r._never_field(by_id["diagnosis.diabetes.fasting"], "glucose") is False
    assert r._never_field(by_id["diagnosis.diabetes.fasting"], "glucose_context") is False
