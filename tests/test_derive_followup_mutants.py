"""The chronic-disease follow-up fact (cdss/derive/followup.py), pinned exactly where a
mutmut run showed it untested (docs/mutation-testing.md): the control verdict at the
visit and at the last follow-up (by the age then), the interval it implies, the due and
recheck dates, what "controlled" needs, and what is missing without history or age.

The programmes are knowledge/followup.yaml's: hypertension < 140/90 mmHg, < 150/90 from
65 years; type 2 diabetes fasting glucose < 7.0 mmol/L; routine interval 90 days, 14
after an uncontrolled follow-up."""

from __future__ import annotations

from typing import Any

import pytest

import cdss
from cdss.derive import build_facts
from cdss.derive import followup as followup_module
from cdss.derive.values import Derived
from cdss.kb import load_knowledge

KB = load_knowledge()
ENGINE = cdss.Engine(lang="en", backend="python")
HTN, DM = {"code": "I10"}, {"code": "E11"}
HTN_SOURCE = next(p for p in KB.followup if p.id == "hypertension").source.title
DM_SOURCE = next(p for p in KB.followup if p.id == "diabetes").source.title
HTN_140 = ("血压 <140/90 mmHg", "BP < 140/90 mmHg")
HTN_150 = ("血压 <150/90 mmHg（65岁及以上）", "BP < 150/90 mmHg (age 65 and over)")
FORMULA = "days since the last follow-up minus the programme's interval"


def facts(conditions=(HTN,), vitals=None, followups=None, birth_date="1960-01-01"):
    patient: dict[str, Any] = {"id": "p", "sex": "male", "conditions": list(conditions)}
    if birth_date is not None:
        patient["birth_date"] = birth_date
    data: dict[str, Any] = {"id": "e", "time": "2026-11-20T09:00:00+08:00",
                            "patient": patient, "vitals": vitals or {}}
    if followups is not None:
        data["history"] = {"followups": followups}
    return build_facts(ENGINE.parse(data), KB)


def followup(fs, programme: str) -> dict[str, Any]:
    [fact] = [f for f in fs.of_type("followup") if f["programme"] == programme]
    assert fs.subjects[fact["id"]] == f"history.followups:{programme}"
    return fact


def test_both_programmes_with_their_history_exactly() -> None:
    """A 66-year-old: 155/85 today misses < 150/90; 145/80 on 1 November met it (he was
    66 then too), so the next routine visit is due 90 days later and a recheck in 14.
    His fasting glucose 6.5 today is controlled; 8.0 on 1 October was not, so the
    diabetes follow-up was due 14 days after it and is 36 days overdue."""
    fs = facts(conditions=[HTN, DM],
               vitals={"sbp": 155, "dbp": 85, "glucose": "6.5 mmol/L",
                       "glucose_context": "fasting"},
               followups=[{"date": "2026-11-01", "condition": "I10", "sbp": 145, "dbp": 80},
                          {"date": "2026-10-01", "condition": "E11",
                           "glucose": "8.0 mmol/L"}])
    htn, dm = followup(fs, "hypertension"), followup(fs, "diabetes")
    assert htn == {"t": "followup", "id": htn["id"], "programme": "hypertension",
                   "name_zh": "高血压患者健康管理", "name_en": "hypertension management",
                   "now_controlled": False, "target_zh": HTN_150[0], "target_en": HTN_150[1],
                   "recheck_date": "2026-12-04", "followups_recorded": 1,
                   "days_since_last": 19, "last_controlled": True, "interval_days": 90,
                   "days_overdue": -71, "due_date": "2027-01-30"}
    assert dm == {"t": "followup", "id": dm["id"], "programme": "diabetes",
                  "name_zh": "2型糖尿病患者健康管理", "name_en": "type 2 diabetes management",
                  "now_controlled": True, "target_zh": "空腹血糖 <7.0 mmol/L",
                  "target_en": "fasting glucose < 7.0 mmol/L", "followups_recorded": 1,
                  "days_since_last": 50, "last_controlled": False, "interval_days": 14,
                  "days_overdue": 36, "due_date": "2026-10-15"}
    # what "controlled" would have needed today: each bound, the unit, today's value
    assert fs.clears == {(htn["id"], "now_controlled"): [
        {"field": "vitals.sbp", "op": "<", "value": 150, "unit": "mmHg", "now": 155.0},
        {"field": "vitals.dbp", "op": "<", "value": 90, "unit": "mmHg", "now": 85.0}]}
    assert isinstance(fs.clears[(htn["id"], "now_controlled")][0]["value"], int)
    assert fs.derived["followup.hypertension"] == Derived(
        "followup", -71.0, FORMULA,
        {"days_since_last": 19, "interval_days": 90, "due_date": "2027-01-30",
         "last_controlled": True, "now_controlled": False, "recheck_date": "2026-12-04",
         "followups_recorded": 1, "target_en": HTN_150[1]}, HTN_SOURCE, "d")
    assert fs.derived["followup.diabetes"] == Derived(
        "followup", 36.0, FORMULA,
        {"days_since_last": 50, "interval_days": 14, "due_date": "2026-10-15",
         "last_controlled": False, "now_controlled": True, "followups_recorded": 1,
         "target_en": "fasting glucose < 7.0 mmol/L"}, DM_SOURCE, "d")
    assert not [k for k in fs.missing if "followup" in k]


def test_an_uncontrolled_glucose_clears_below_seven() -> None:
    fs = facts(conditions=[DM], vitals={"glucose": "7.0 mmol/L", "glucose_context": "fasting"})
    fact = followup(fs, "diabetes")
    assert (fact["now_controlled"], fact["recheck_date"]) == (False, "2026-12-04")
    assert fs.clears[(fact["id"], "now_controlled")] == [
        {"field": "vitals.glucose", "op": "<", "value": 7.0, "unit": "mmol/L", "now": 7.0}]


def test_a_fractional_bound_is_not_truncated() -> None:
    """A target such as fasting glucose < 6.1 mmol/L must be shown as 6.1, not 6."""
    bound = next(p for p in KB.followup if p.id == "diabetes").controlled["fasting_glucose"]
    clears = followup_module._clears({"fasting_glucose": bound.model_copy(
        update={"below": 6.1})}, {"fasting_glucose": 6.5})
    assert clears == [{"field": "vitals.glucose", "op": "<", "value": 6.1, "unit": "mmol/L",
                       "now": 6.5}]


def test_a_glucose_that_is_not_fasting_leaves_diabetes_control_unknown() -> None:
    fact = followup(facts(conditions=[DM], vitals={"glucose": "12 mmol/L",
                                                   "glucose_context": "random"}), "diabetes")
    assert "now_controlled" not in fact and "recheck_date" not in fact


@pytest.mark.parametrize(("birth_date", "sbp", "controlled", "target"), [
    ("1960-01-01", 149, True, HTN_150),     # 66 years: < 150
    ("1960-01-01", 150, False, HTN_150),    # the bound is exclusive
    ("1961-11-20", 145, True, HTN_150),     # 65 today
    ("1961-11-21", 145, False, HTN_140),    # 65 tomorrow: still < 140
    ("1961-11-21", 139, True, HTN_140),
    ("1961-11-21", 140, False, HTN_140),
])
def test_this_visits_control_by_the_target_of_the_patients_age(birth_date, sbp, controlled,
                                                                target) -> None:
    fs = facts(vitals={"sbp": sbp, "dbp": 80}, birth_date=birth_date)
    fact = followup(fs, "hypertension")
    assert (fact["now_controlled"], fact["target_zh"], fact["target_en"]) == (
        controlled, *target)
    assert ("recheck_date" in fact) is (not controlled)
    assert ((fact["id"], "now_controlled") in fs.clears) is (not controlled)


def test_a_missing_value_leaves_control_unknown_unless_another_is_missed() -> None:
    assert "now_controlled" not in followup(facts(vitals={"sbp": 120}), "hypertension")
    assert "now_controlled" not in followup(facts(vitals={"dbp": 80}), "hypertension")
    fs = facts(vitals={"sbp": 120, "dbp": 95})
    fact = followup(fs, "hypertension")
    assert fact["now_controlled"] is False
    assert fs.clears[(fact["id"], "now_controlled")] == [
        {"field": "vitals.sbp", "op": "<", "value": 150, "unit": "mmHg", "now": 120.0},
        {"field": "vitals.dbp", "op": "<", "value": 90, "unit": "mmHg", "now": 95.0}]
    fs = facts(vitals={"sbp": 160})                          # dbp unknown, sbp missed
    fact = followup(fs, "hypertension")
    assert fact["now_controlled"] is False
    assert fs.clears[(fact["id"], "now_controlled")][1]["now"] is None


def test_the_last_follow_up_is_judged_by_the_age_on_its_date() -> None:
    """Born 20 November 1961: 64 on 1 November 2026, so 145/80 then missed < 140/90 and
    the next follow-up was due 14 days later; he is 65 today, and 145/80 meets < 150/90."""
    fs = facts(vitals={"sbp": 145, "dbp": 80}, birth_date="1961-11-20",
               followups=[{"date": "2026-11-01", "condition": "I10", "sbp": 145, "dbp": 80}])
    fact = followup(fs, "hypertension")
    assert (fact["now_controlled"], fact["last_controlled"], fact["interval_days"],
            fact["days_overdue"], fact["due_date"]) == (True, False, 14, 5, "2026-11-15")
    assert "recheck_date" not in fact and not fs.clears


def test_without_history_every_history_field_is_missing() -> None:
    fs = facts(vitals={"sbp": 130, "dbp": 80})
    fact = followup(fs, "hypertension")
    assert set(fact) == {"t", "id", "programme", "name_zh", "name_en", "now_controlled",
                         "target_zh", "target_en"}
    assert fs.missing["followup:hypertension"] == ("history.followups",)
    for name in ("days_since_last", "last_controlled", "days_overdue", "due_date",
                 "followups_recorded", "interval_days"):
        assert fs.missing[f"history.followups.{name}"] == ("history.followups",)
    assert fs.derived["followup.hypertension"] == Derived(
        "followup", 0.0, FORMULA, {"now_controlled": True, "target_en": HTN_150[1]},
        HTN_SOURCE, "d")


def test_an_empty_history_is_zero_follow_ups_not_missing_history() -> None:
    fs = facts(vitals={"sbp": 130, "dbp": 80}, followups=[])
    fact = followup(fs, "hypertension")
    assert fact["followups_recorded"] == 0 and "days_since_last" not in fact
    assert "followup:hypertension" not in fs.missing
    assert "history.followups.followups_recorded" not in fs.missing
    assert fs.missing["history.followups.days_since_last"] == ("history.followups",)


def test_without_a_birth_date_control_is_known_only_when_every_target_agrees() -> None:
    both = (HTN_140[0] + "；" + HTN_150[0], HTN_140[1] + "; " + HTN_150[1])
    # 145/80 meets < 150/90 but not < 140/90: unknown, for want of the birth date
    fs = facts(vitals={"sbp": 145, "dbp": 80}, birth_date=None)
    fact = followup(fs, "hypertension")
    assert "now_controlled" not in fact and (fact["target_zh"], fact["target_en"]) == both
    assert fs.missing["history.followups.now_controlled"] == ("patient.birth_date",)
    # 155/80 misses both: uncontrolled, recheck, but no single target to clear
    fs = facts(vitals={"sbp": 155, "dbp": 80}, birth_date=None)
    fact = followup(fs, "hypertension")
    assert (fact["now_controlled"], fact["recheck_date"]) == (False, "2026-12-04")
    assert not fs.clears and "history.followups.now_controlled" not in fs.missing
    # 130/80 meets both
    fs = facts(vitals={"sbp": 130, "dbp": 80}, birth_date=None)
    assert followup(fs, "hypertension")["now_controlled"] is True
    assert "history.followups.now_controlled" not in fs.missing
    # no values: unknown for want of values, not of the birth date
    fs = facts(vitals={}, birth_date=None)
    assert "now_controlled" not in followup(fs, "hypertension")
    assert fs.missing["history.followups.now_controlled"] == ("patient.birth_date",)


def test_an_age_independent_target_needs_no_birth_date() -> None:
    fs = facts(conditions=[DM], vitals={}, birth_date=None)
    assert "history.followups.now_controlled" not in fs.missing
    fs = facts(conditions=[DM], vitals={}, birth_date=None,
               followups=[{"date": "2026-11-01", "condition": "E11"}])
    # unknown for want of a glucose on that day, not of the birth date
    assert fs.missing["history.followups.last_controlled"] == ("history.followups",)
    assert followup(fs, "diabetes")["interval_days"] == 90


def test_without_a_birth_date_the_last_follow_up_may_be_undecided() -> None:
    fs = facts(vitals={}, birth_date=None,
               followups=[{"date": "2026-11-01", "condition": "I10", "sbp": 145, "dbp": 80}])
    fact = followup(fs, "hypertension")
    assert "last_controlled" not in fact
    assert (fact["interval_days"], fact["due_date"]) == (90, "2027-01-30")
    assert fs.missing["history.followups.last_controlled"] == ("patient.birth_date",)
    # decided when both targets agree
    fs = facts(vitals={}, birth_date=None,
               followups=[{"date": "2026-11-01", "condition": "I10", "sbp": 155, "dbp": 80}])
    assert followup(fs, "hypertension")["last_controlled"] is False
    assert "history.followups.last_controlled" not in fs.missing
    # with a birth date, a follow-up without values is undecided for want of values only
    fs = facts(vitals={}, followups=[{"date": "2026-11-01", "condition": "I10"}])
    assert "last_controlled" not in followup(fs, "hypertension")
    assert "history.followups.last_controlled" in fs.missing
    assert fs.missing["history.followups.last_controlled"] == ("history.followups",)


def test_a_patient_in_no_programme_has_no_follow_up_fact() -> None:
    fs = facts(conditions=[{"code": "J45"}], vitals={"sbp": 150})
    assert fs.of_type("followup") == []
