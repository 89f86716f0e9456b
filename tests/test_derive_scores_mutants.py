"""Band scores (cdss/derive/scores.py) pinned exactly where mutation testing showed them
untested (docs/mutation-testing.md): the CURB-65 / CRB-65 criteria at their boundaries,
the blood-pressure criterion scored on SBP or DBP, NEWS2's oxygen flag, and exactly
which inputs a score misses."""

from __future__ import annotations

from typing import Any

import pytest

import cdss
from cdss.derive import build_facts
from cdss.derive.values import Derived
from cdss.kb import load_knowledge

KB = load_knowledge()
ENGINE = cdss.Engine(lang="en", backend="python")
LIM = KB.scores["curb65"].source.title
SEVERE = {"sbp": 89, "dbp": 70, "resp_rate": 30, "consciousness": "confusion"}


def facts(vitals: dict[str, Any], urea: str | None = "7.1 mmol/L",
          birth_date: str | None = "1961-11-20"):
    patient: dict[str, Any] = {"id": "p", "sex": "male"}
    if birth_date:
        patient["birth_date"] = birth_date
    labs = [{"code": "urea", "value": urea}] if urea else []
    return build_facts(ENGINE.parse({"id": "e", "time": "2026-11-20T09:00:00+08:00",
                                     "patient": patient, "vitals": vitals, "labs": labs}), KB)


def test_curb65_counts_each_criterion_with_its_inputs() -> None:
    """Confusion, urea > 7, RR >= 30, SBP < 90, age >= 65 (65 today): 5 of 5."""
    fs = facts(SEVERE)
    assert fs.derived["curb65"] == Derived(
        "curb65", 5.0, "sum of 5 parameter scores",
        {"consciousness": "confusion", "labs.urea": 7.1, "resp_rate": 30.0, "sbp": 89.0,
         "age": 65}, LIM, "",
        {"confusion": 1, "urea": 1, "resp_rate": 1, "blood_pressure": 1, "age": 1})
    assert fs.derived["crb65"].value == 4.0
    [derived] = fs.of_type("derived")
    assert (derived["curb65"], derived["crb65"]) == (5.0, 4.0)


@pytest.mark.parametrize(("change", "criterion"), [
    ({"consciousness": "alert"}, "confusion"),
    ({"urea": "7.0 mmol/L"}, "urea"),              # > 7, not >= 7
    ({"resp_rate": 29}, "resp_rate"),
    ({"sbp": 90}, "blood_pressure"),               # < 90
    ({"birth_date": "1961-11-21"}, "age"),         # 64 until tomorrow
])
def test_each_curb65_criterion_just_below_its_threshold_scores_nothing(change, criterion
                                                                        ) -> None:
    vitals = {k: v for k, v in {**SEVERE, **change}.items() if k in SEVERE}
    fs = facts(vitals, urea=change.get("urea", "7.1 mmol/L"),
               birth_date=change.get("birth_date", "1961-11-20"))
    curb65 = fs.derived["curb65"]
    assert curb65.value == 4.0 and curb65.parts[criterion] == 0


@pytest.mark.parametrize(("sbp", "dbp", "score"), [
    (90, 60, 1),    # DBP <= 60
    (90, 61, 0),
    (89, 61, 1),    # SBP < 90
    (89, 60, 1),    # both: still one point
])
def test_the_blood_pressure_criterion_is_sbp_below_90_or_dbp_at_most_60(sbp, dbp, score
                                                                          ) -> None:
    fs = facts({**SEVERE, "sbp": sbp, "dbp": dbp})
    assert fs.derived["curb65"].parts["blood_pressure"] == score
    assert fs.derived["crb65"].parts["blood_pressure"] == score


def test_a_score_misses_exactly_its_absent_inputs_by_their_paths() -> None:
    fs = facts({"sbp": 120}, urea=None, birth_date=None)
    assert fs.missing["derived.curb65"] == ("vitals.consciousness", "labs.urea",
                                            "vitals.resp_rate", "patient.birth_date")
    assert fs.missing["derived.crb65"] == ("vitals.consciousness", "vitals.resp_rate",
                                           "patient.birth_date")
    assert "curb65" not in fs.of_type("derived")[0]


@pytest.mark.parametrize(("on_oxygen", "part"), [(True, 2), (False, 0)])
def test_news2_scores_supplemental_oxygen(on_oxygen, part) -> None:
    fs = facts({"resp_rate": 16, "spo2": 97, "on_oxygen": on_oxygen, "sbp": 120,
                "heart_rate": 70, "consciousness": "alert", "temperature": 37.0})
    news2 = fs.derived["news2"]
    assert news2.parts["on_oxygen"] == part and news2.value == float(part)
    assert news2.formula == f"sum of {len(KB.scores['news2'].parameters)} parameter scores"
