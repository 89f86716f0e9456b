"""The ``derived`` fact (cdss/derive/computed.py) pinned exactly where mutation testing
showed it untested (docs/mutation-testing.md): eGFR rounded as laboratories report it,
the least NEWS2 and qSOFA can be from what was measured, and what each value misses
(an implausible input named as such)."""

from __future__ import annotations

from typing import Any

import pytest

import cdss
from cdss.derive import build_facts
from cdss.derive.values import Derived
from cdss.kb import load_knowledge

KB = load_knowledge()
ENGINE = cdss.Engine(lang="en", backend="python")
NEWS2_INPUTS = ("vitals.resp_rate", "vitals.spo2", "vitals.on_oxygen", "vitals.sbp",
                "vitals.heart_rate", "vitals.consciousness", "vitals.temperature")
QSOFA_INPUTS = ("vitals.resp_rate", "vitals.sbp", "vitals.consciousness")
NORMAL = {"resp_rate": 16, "spo2": 97, "on_oxygen": False, "sbp": 120, "heart_rate": 70,
          "consciousness": "alert", "temperature": 37.0}


def facts(vitals: dict[str, Any], labs=()):
    fs = build_facts(ENGINE.parse({
        "id": "e", "time": "2026-11-20T09:00:00+08:00", "vitals": vitals, "labs": list(labs),
        "patient": {"id": "p", "sex": "female", "birth_date": "1960-01-01"}}), KB)
    [derived] = fs.of_type("derived")
    return derived, fs


@pytest.mark.parametrize(("creatinine", "egfr", "rounded"), [
    (90, 60.8, 61.0),     # 60.81 -> 61: a laboratory rounds the unrounded value
    (120, 43.1, 43.0),    # 43.06 -> 43
    (150, 32.9, 33.0),
    (200, 23.3, 23.0),
])
def test_egfr_is_rounded_to_an_integer_from_the_unrounded_value(creatinine, egfr, rounded
                                                                 ) -> None:
    derived, _ = facts({}, [{"code": "creatinine", "value": f"{creatinine} umol/L"}])
    assert (derived["egfr"], derived["egfr_rounded"]) == (egfr, rounded)


def test_without_creatinine_the_rounded_egfr_misses_what_egfr_misses() -> None:
    derived, fs = facts({})
    assert "egfr_rounded" not in derived
    assert fs.missing["derived.egfr_rounded"] == fs.missing["derived.egfr"] == (
        "labs.creatinine",)


def test_an_implausible_input_is_named_as_such_in_what_a_score_misses() -> None:
    derived, fs = facts({"sbp": 301, "resp_rate": 24})
    assert fs.missing["derived.qsofa"] == ("vitals.sbp (implausible)",
                                           "vitals.consciousness")
    assert fs.missing["derived.crb65"] == ("vitals.consciousness",
                                           "vitals.sbp (implausible)")
    # RR 24 alone: NEWS2 at least 2 (6 parameters missing), qSOFA at least 1
    assert {k: v for k, v in derived.items() if k not in ("t", "id")} == {
        "news2_lower_bound": 2.0, "news2_params_missing": 6, "news2_max_param": 2,
        "qsofa_lower_bound": 1.0}
    assert fs.derived["news2_lower_bound"] == Derived(
        "news2_lower_bound", 2.0, "sum of the 1 parameter scores measured (6 missing)",
        {"resp_rate": 24.0}, KB.scores["news2"].source.title, "", {"resp_rate": 2})
    assert fs.derived["qsofa_lower_bound"] == Derived(
        "qsofa_lower_bound", 1.0, "sum of the 1 parameter scores measured (2 missing)",
        {"resp_rate": 24.0}, KB.scores["qsofa"].source.title, "", {"resp_rate": 1})


def test_the_highest_single_news2_parameter_is_kept() -> None:
    derived, _ = facts({"resp_rate": 21, "heart_rate": 135, "temperature": 37.0})
    assert (derived["news2_lower_bound"], derived["news2_params_missing"],
            derived["news2_max_param"]) == (5.0, 4, 3)


def test_complete_scores_are_their_own_lower_bounds_without_a_partial_derivation() -> None:
    derived, fs = facts(NORMAL)
    assert (derived["news2"], derived["news2_lower_bound"], derived["news2_params_missing"],
            derived["news2_max_param"], derived["qsofa"], derived["qsofa_lower_bound"]) == (
        0.0, 0.0, 0, 0, 0.0, 0.0)
    assert "news2_lower_bound" not in fs.derived and "qsofa_lower_bound" not in fs.derived
    assert not [k for k in fs.missing if "news2" in k or "qsofa" in k]


def test_without_vitals_the_bounds_miss_what_the_scores_miss() -> None:
    derived, fs = facts({})
    assert not [k for k in derived if "news2" in k or "qsofa" in k]
    for name in ("news2_lower_bound", "news2_params_missing", "news2_max_param"):
        assert fs.missing[f"derived.{name}"] == NEWS2_INPUTS
    assert fs.missing["derived.qsofa_lower_bound"] == QSOFA_INPUTS
