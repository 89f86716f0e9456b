"""Derive behaviour that surviving mutants showed untested (docs/mutation-testing.md)."""

from __future__ import annotations

from datetime import date

import pytest

from cdss.derive.facts import consistent, fact_value
from cdss.kb import load_knowledge

KB = load_knowledge()
FROM = KB.inference.pregnancy.not_pregnant_from_age


@pytest.mark.parametrize(("fact", "expected"), [
    ({"t": "vitals", "sex": "male", "pregnant": True}, True),      # only patients are judged
    ({"t": "patient", "sex": "male", "pregnant": True}, False),
    ({"t": "patient", "sex": "male", "lactating": True}, False),
    ({"t": "patient", "sex": "male", "pregnant": False, "lactating": False}, True),
    ({"t": "patient", "sex": "female", "pregnant": True, "age_years": 30}, True),
    ({"t": "patient", "sex": "female", "pregnant": True, "age_years": FROM}, False),
    ({"t": "patient", "sex": "female", "pregnant": True, "age_years": FROM - 1}, True),
    ({"t": "patient", "sex": "female", "pregnant": True}, True),    # age unknown
    ({"t": "patient", "sex": "female", "pregnant": False, "age_years": 80}, True),
    ({"t": "patient", "sex": "female", "lactating": True, "age_years": 80}, True),
])
def test_a_completed_patient_fact_is_one_that_could_exist(fact, expected) -> None:
    """The reasoning over missing data drops completions that describe no real patient:
    a pregnant or breastfeeding man, a pregnancy from the age it is no longer assumed."""
    assert consistent(fact, KB) is expected


@pytest.mark.parametrize(("value", "expected"), [
    (1.23456, 1.2346), (-0.00004, -0.0), (1e15, None), (-1e15, None), (999999999999999.0,
                                                                         999999999999999.0),
    ([1, 2], [1, 2]), (3, 3), ("x", "x")])
def test_the_fact_schemas_number_form(value, expected) -> None:
    assert fact_value(value) == expected


# -- facts through build_facts -------------------------------------------------------
from cdss.derive import FactSet, build_facts  # noqa: E402

BASE = {"id": "m", "time": "2026-11-20T09:00:00+08:00",
        "patient": {"id": "p", "sex": "male", "birth_date": "1960-01-01", "weight": "70 kg"}}


def _facts(**parts):
    import cdss

    enc = cdss.Engine(lang="en", backend="python").parse({**BASE, **parts})
    return build_facts(enc, KB)


def _one(fs, t):
    (fact,) = fs.of_type(t)
    return fact


def test_a_fact_keeps_numbers_in_normal_form_and_drops_only_the_unwritable_field() -> None:
    fs = FactSet()
    fact = fs.add("x", "p", {"a": 1e16, "b": 70.123456, "c": [1], "d": None, "e": 2})
    assert fact == {"t": "x", "id": "x#0", "b": 70.1235, "c": [1], "e": 2}


@pytest.mark.parametrize("sbp", [50, 300])  # knowledge/plausibility.yaml's bounds
def test_a_value_on_a_plausibility_bound_is_used(sbp) -> None:
    fs = _facts(vitals={"sbp": sbp})
    assert _one(fs, "vitals")["sbp"] == sbp and not fs.of_type("implausible")


def test_an_implausible_value_is_withheld_with_its_bounds_and_unit() -> None:
    fs = _facts(vitals={"sbp": 301.256})
    assert "sbp" not in _one(fs, "vitals")
    assert _one(fs, "implausible") == {"t": "implausible", "id": "implausible#0",
                                       "field": "vitals.sbp", "value": 301.26, "low": 50,
                                       "high": 300, "unit": "mmHg", "label_zh": "收缩压",
                                       "label_en": "systolic blood pressure"}


def test_hba1c_in_ifcc_units_is_converted_by_the_master_equation() -> None:
    fs = _facts(labs=[{"code": "hba1c", "value": "53 mmol/mol"}])
    assert _one(fs, "labs")["hba1c"] == pytest.approx(0.09148 * 53 + 2.152, abs=1e-4)


def test_a_lab_sent_by_loinc_is_read_with_the_engines_knowledge() -> None:
    fs = _facts(labs=[{"code": "2160-0", "value": "1.0 mg/dL"}])
    assert _one(fs, "labs")["creatinine"] == pytest.approx(88.4, abs=0.1)


def test_a_bare_number_is_read_for_a_unitless_analyte() -> None:
    assert _one(_facts(labs=[{"code": "inr", "value": 2.5}]), "labs")["inr"] == 2.5


def test_the_formulation_field_chooses_the_dose_limit() -> None:
    plain = _one(_facts(prescriptions=[{"drug": "gliclazide", "dose": "30 mg",
                                        "frequency": "qd"}]), "rx")
    modified = _one(_facts(prescriptions=[{"drug": "gliclazide", "dose": "30 mg",
                                           "frequency": "qd",
                                           "formulation": "modified release"}]), "rx")
    assert (plain["max_daily"], modified["max_daily"]) == (240, 120)


def test_dose_per_kg_keeps_its_derivation_under_its_name() -> None:
    fs = _facts(prescriptions=[{"drug": "ibuprofen", "dose": "400 mg", "frequency": "tid"}])
    derived = fs.derived["prescriptions[0].mg_per_kg_day"]
    assert (derived.name, derived.value) == ("mg_per_kg_day", round(1200 / 70, 2))


def test_signing_delay_mixes_a_zoneless_time_as_local_clock_time() -> None:
    record = {"chief_complaint": "头晕", "signed_at": "2026-11-20T09:10:30"}
    assert _one(_facts(record=record), "record")["signed_minutes_after_visit"] == 10.5


def test_a_result_timed_at_midnight_is_later_than_the_previous_days_date_only_one() -> None:
    """A date without a time is the whole day: it ends at the next midnight, before
    anything timed on the next day, midnight itself included."""
    labs = [{"code": "potassium", "value": "6.0 mmol/L", "time": "2026-11-02T00:00:00+08:00"},
            {"code": "potassium", "value": "4.0 mmol/L", "time": "2026-11-01"}]
    assert _one(_facts(labs=labs), "labs")["potassium"] == 6.0
    assert _one(_facts(labs=labs[::-1]), "labs")["potassium"] == 6.0


# -- chronic-disease follow-up history ----------------------------------------------
HTN = {"patient": {**BASE["patient"], "conditions": [{"code": "I10", "name": "高血压"}]}}


def _htn_followup(history, **extra):
    fs = _facts(**HTN, history={"followups": history}, **extra)
    (fact,) = [f for f in fs.of_type("followup") if "hypertension" in fs.subjects[f["id"]]]
    return fact, fs


def test_a_follow_up_on_the_visit_day_counts_and_a_later_one_does_not() -> None:
    fact, _ = _htn_followup([{"date": "2026-11-20", "condition": "I10"},
                             {"date": "2026-11-25", "condition": "I10"}])
    assert (fact["followups_recorded"], fact["days_since_last"]) == (1, 0)


def test_only_this_programmes_follow_ups_count() -> None:
    fact, _ = _htn_followup([{"date": "2026-10-01", "condition": "E11"},   # diabetes
                             {"date": "2026-09-01", "condition": "I10"},
                             {"date": "2026-08-01"}])                      # no condition
    assert fact["followups_recorded"] == 2
    assert fact["days_since_last"] == (date(2026, 11, 20) - date(2026, 9, 1)).days


def test_the_last_follow_up_is_the_latest_by_date_not_by_list_order() -> None:
    fact, _ = _htn_followup([{"date": "2026-10-01", "condition": "I10"},
                             {"date": "2026-06-01", "condition": "I10"}])
    assert fact["days_since_last"] == (date(2026, 11, 20) - date(2026, 10, 1)).days


def test_without_an_age_an_age_dependent_target_leaves_control_undecided() -> None:
    fs = _facts(patient={"id": "p", "sex": "male", "conditions": [{"code": "I10"}]},
                vitals={"sbp": 145, "dbp": 85})
    programme = next(p for p in KB.followup if "hypertension" in p.groups)
    if programme.age_targets:
        assert fs.missing["history.followups.now_controlled"] == ("patient.birth_date",)
