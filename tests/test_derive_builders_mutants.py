"""Behaviour of the typed fact builders that a mutmut run over the current derive package
showed untested (docs/mutation-testing.md): ages, body size and kidney function, the
patient's missing and inferred bookkeeping, and the prescriptions' notes."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from cdss.derive import body, build_facts, renal
from cdss.derive.values import Derived, Missing
from cdss.kb import load_knowledge
from cdss.models import Encounter

KB = load_knowledge()
VISIT = datetime(2026, 11, 20, 9, 0, tzinfo=timezone(timedelta(hours=8)))
EPI = KB.formulas["ckd_epi_2021"]
CG = KB.formulas["cockcroft_gault"]


def facts(**patient: Any):
    data = {"id": "e", "time": "2026-11-20T09:00:00+08:00",
            "patient": {"id": "p", "sex": "female", **patient}}
    return build_facts(Encounter.parse(data), KB)


def the(fs, t: str) -> dict[str, Any]:
    [fact] = fs.of_type(t)
    return fact


# -- age -------------------------------------------------------------------------------

@pytest.mark.parametrize(("born", "years"), [
    (date(1960, 11, 20), 66),   # birthday on the visit day: the year is completed
    (date(1960, 11, 21), 65),   # birthday tomorrow: not yet
    (date(1960, 11, 19), 66),
    (date(1960, 12, 1), 65),    # a later month, an earlier day
    (date(1960, 10, 30), 66),   # an earlier month, a later day
    (date(2026, 11, 20), 0),    # born on the visit day
])
def test_age_is_completed_years_at_the_visits_local_date(born, years) -> None:
    assert body.age_years(born, VISIT) == years
    # the local date counts, not UTC (01:00 on the 20th in Beijing is the 19th in UTC)
    early = datetime(2026, 11, 20, 1, 0, tzinfo=timezone(timedelta(hours=8)))
    assert body.age_years(born, early) == years


def test_an_unknown_or_future_birth_date_leaves_the_age_missing_with_a_note() -> None:
    assert body.age_years(None, VISIT) == Missing("age_years", ("patient.birth_date",))
    later = body.age_years(date(2026, 11, 21), VISIT)
    assert later == Missing("age_years", ("patient.birth_date",),
                            "birth date is after the visit")
    fs = facts(birth_date="2026-11-21")
    assert "age_years" not in the(fs, "patient") and "age_decimal" not in the(fs, "patient")
    assert fs.missing["patient.age_years"] == ("patient.birth_date",)
    assert fs.notes == [{"field": "patient.birth_date", "message": "birth date is after the visit",
                         "message_zh": "出生日期晚于就诊日期"}]
    # no birth date: missing, but nothing wrong to note
    fs = facts()
    assert fs.missing["patient.age_years"] == ("patient.birth_date",) and fs.notes == []


def test_the_age_keeps_its_derivation() -> None:
    fs = facts(birth_date="1960-11-21")
    assert the(fs, "patient")["age_years"] == 65
    assert fs.derived["patient.age"] == Derived(
        "age", 65, "completed years from birth_date to the visit date",
        {"birth_date": "1960-11-21", "visit": "2026-11-20"}, unit="y")


@pytest.mark.parametrize(("born", "decimal"), [
    (date(2026, 11, 20), 0.0),          # a newborn is 0, not unknown
    (date(2026, 5, 20), 0.5),           # 184 days
    (date(2025, 11, 20), 1.0),          # 365 days / 365.25
    (date(2024, 2, 3), 2.8),            # 1021 days
    (date(2026, 11, 21), None),         # after the visit
    (None, None),
])
def test_the_decimal_age_for_infants_limits(born, decimal) -> None:
    assert body.age_decimal(born, VISIT) == decimal
    if born is not None and decimal is not None:
        fact = the(facts(birth_date=born.isoformat()), "patient")
        assert fact["age_decimal"] == decimal


# -- body-mass index ---------------------------------------------------------------------

def test_bmi_is_weight_over_height_squared_to_one_decimal() -> None:
    bmi = body.bmi(70, 175, "WHO")
    assert bmi == Derived("bmi", 22.9, "weight / height²",
                          {"weight": "70 kg", "height": "175 cm"}, "WHO", "kg/m²")
    assert body.bmi(82.5, 160.5, "WHO").value == 32.0
    fs = facts(weight="70 kg", height="175 cm")
    assert the(fs, "derived")["bmi"] == 22.9
    assert fs.derived["bmi"].source == KB.formulas["bmi"].source.title


@pytest.mark.parametrize(("weight", "height", "absent"), [
    (None, 175, ("patient.weight",)), (70, None, ("patient.height",)),
    (None, None, ("patient.weight", "patient.height"))])
def test_bmi_names_the_measurements_it_lacks(weight, height, absent) -> None:
    assert body.bmi(weight, height, "WHO") == Missing("bmi", absent)


# -- kidney function ---------------------------------------------------------------------

def epi_2021(scr_mg_dl: float, age: int, female: bool) -> float:
    """CKD-EPI 2021 as published (Inker 2021), written out independently."""
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    r = scr_mg_dl / kappa
    return (142 * min(r, 1) ** alpha * max(r, 1) ** -1.200 * 0.9938 ** age
            * (1.012 if female else 1))


@pytest.mark.parametrize(("scr_umol", "age", "sex"), [
    (50, 40, "female"), (120, 70, "female"),   # below and above kappa (61.9 umol/L)
    (60, 40, "male"), (150, 70, "male"),       # below and above kappa (79.6 umol/L)
    (80, 18, "male"),                          # the youngest adult
])
def test_egfr_is_ckd_epi_2021(scr_umol, age, sex) -> None:
    egfr = renal.egfr_ckd_epi_2021(scr_umol, age, sex, EPI)
    assert isinstance(egfr, Derived)
    expected = epi_2021(scr_umol / 88.4, age, sex == "female")
    assert egfr.value == round(expected, 1)
    assert egfr.parts["unrounded"] == pytest.approx(expected, rel=1e-12)
    assert egfr.name == "egfr" and egfr.unit == "mL/min/1.73m²"
    assert egfr.source == EPI.source.title
    assert egfr.formula == EPI.formula
    assert egfr.inputs == {"creatinine": f"{scr_umol} umol/L ({scr_umol / 88.4:.2f} mg/dL)",
                           "age": age, "sex": sex}


@pytest.mark.parametrize(("scr", "age", "sex", "absent"), [
    (None, 50, "male", ("labs.creatinine",)),
    (80, None, "male", ("patient.birth_date",)),
    (80, 50, "unknown", ("patient.sex",)),
    (80, 50, "other", ("patient.sex",)),
    (None, None, "unknown", ("labs.creatinine", "patient.birth_date", "patient.sex")),
    (80, 17, "female", ("patient.birth_date",)),   # CKD-EPI is for adults
])
def test_egfr_names_what_it_lacks(scr, age, sex, absent) -> None:
    egfr = renal.egfr_ckd_epi_2021(scr, age, sex, EPI)
    assert isinstance(egfr, Missing) and egfr.name == "egfr" and egfr.missing == absent


@pytest.mark.parametrize(("scr_umol", "age", "weight", "sex"), [
    (100, 60, 70, "male"), (100, 60, 70, "female"), (88.4, 18, 55.5, "female")])
def test_crcl_is_cockcroft_gault_with_actual_weight(scr_umol, age, weight, sex) -> None:
    crcl = renal.crcl_cockcroft_gault(scr_umol, age, weight, sex, CG)
    assert isinstance(crcl, Derived)
    expected = (140 - age) * weight / (72 * scr_umol / 88.4) * (0.85 if sex == "female" else 1)
    assert crcl.value == round(expected, 1)
    assert crcl.name == "crcl" and crcl.unit == "mL/min" and crcl.source == CG.source.title
    assert crcl.formula == CG.formula
    assert crcl.inputs == {"creatinine": f"{scr_umol:g} umol/L ({scr_umol / 88.4:.2f} mg/dL)",
                           "age": age, "weight": f"{weight:g} kg", "sex": sex}


@pytest.mark.parametrize(("scr", "age", "weight", "sex", "absent"), [
    (None, 50, 70, "male", ("labs.creatinine",)),
    (80, None, 70, "male", ("patient.birth_date",)),
    (80, 50, None, "male", ("patient.weight",)),
    (80, 50, 70, "unknown", ("patient.sex",)),
    (None, None, None, "other",
     ("labs.creatinine", "patient.birth_date", "patient.weight", "patient.sex")),
    (80, 17, 70, "female", ("patient.birth_date",)),   # an adult equation
])
def test_crcl_names_what_it_lacks(scr, age, weight, sex, absent) -> None:
    crcl = renal.crcl_cockcroft_gault(scr, age, weight, sex, CG)
    assert isinstance(crcl, Missing) and crcl.name == "crcl" and crcl.missing == absent


def test_a_child_gets_no_adult_kidney_equation_and_is_told_why() -> None:
    assert renal.egfr_ckd_epi_2021(80, 17, "female", EPI) == Missing(
        "egfr", ("patient.birth_date",), "CKD-EPI is for adults")
    assert renal.crcl_cockcroft_gault(80, 17, 40, "female", CG) == Missing(
        "crcl", ("patient.birth_date",), "Cockcroft-Gault is for adults")


def test_knowledge_that_does_not_say_for_whom_an_equation_holds_computes_nothing() -> None:
    """A site's formulas.yaml without ``min_age`` is a knowledge gap, named as such."""
    def without_min_age(formula):
        constants = {k: v for k, v in formula.constants.items() if k != "min_age"}
        return formula.model_copy(update={"constants": constants})

    assert renal.egfr_ckd_epi_2021(80, 50, "male", without_min_age(EPI)) == Missing(
        "egfr", ("knowledge.formulas.ckd_epi_2021.min_age",))
    assert renal.crcl_cockcroft_gault(80, 50, 70, "male", without_min_age(CG)) == Missing(
        "crcl", ("knowledge.formulas.cockcroft_gault.min_age",))


def test_kidney_function_reaches_the_derived_fact() -> None:
    data = {"id": "e", "time": "2026-11-20T09:00:00+08:00",
            "patient": {"id": "p", "sex": "male", "birth_date": "1956-01-01",
                        "weight": "70 kg"},
            "labs": [{"code": "creatinine", "value": "100 umol/L"}]}
    fs = build_facts(Encounter.parse(data), KB)
    derived = the(fs, "derived")
    assert derived["egfr"] == round(epi_2021(100 / 88.4, 70, False), 1)
    assert derived["crcl"] == round(70 * 70 / (72 * 100 / 88.4), 1)


# -- the patient: what is inferred, what is missing ---------------------------------------

PREGNANCY = KB.inference.pregnancy
CKD = KB.inference.ckd_risk


def patient_of(kb=KB, **data: Any):
    enc = {"id": "e", "time": "2026-11-20T09:00:00+08:00",
           "patient": {"id": "p", "sex": "female", **data.pop("patient", {})}, **data}
    fs = build_facts(Encounter.parse(enc), kb)
    return the(fs, "patient"), fs


def test_a_woman_from_the_age_of_knowledge_is_taken_as_not_pregnant_and_told_so() -> None:
    age = PREGNANCY.not_pregnant_from_age
    fact, fs = patient_of(patient={"birth_date": f"{2026 - age}-01-01"})
    assert fact["pregnant"] is False
    assert fs.inferred[(fact["id"], "pregnant")] == [{
        "value": False, "from": "patient.birth_date",
        "zh": f"未记录妊娠状态，{age}岁（≥{age}岁）按未妊娠处理",
        "en": f"pregnancy status not recorded; taken as not pregnant at age {age} (≥ {age})",
        "source": PREGNANCY.source.title}]


@pytest.mark.parametrize("patient", [
    {"birth_date": f"{2026 - PREGNANCY.not_pregnant_from_age + 1}-01-01"},  # one year younger
    {},                                                                    # age unknown
    {"birth_date": "1950-01-01", "sex": "unknown"},                        # not known a woman
])
def test_otherwise_an_unrecorded_pregnancy_stays_unknown(patient) -> None:
    fact, fs = patient_of(patient=patient)
    assert "pregnant" not in fact
    assert (fact["id"], "pregnant") not in fs.inferred


def test_a_recorded_pregnancy_is_never_overridden_by_age() -> None:
    fact, fs = patient_of(patient={"birth_date": "1970-01-01", "pregnant": True})
    assert fact["pregnant"] is True and (fact["id"], "pregnant") not in fs.inferred


def test_knowledge_without_a_pregnancy_age_infers_nothing() -> None:
    from dataclasses import replace

    kb = replace(KB, inference=KB.inference.model_copy(update={"pregnancy": None}))
    fact, fs = patient_of(kb, patient={"birth_date": "1950-01-01"})
    assert "pregnant" not in fact and not fs.inferred


def test_a_man_is_neither_pregnant_nor_breastfeeding_without_an_inference() -> None:
    fact, fs = patient_of(patient={"sex": "male", "birth_date": "1990-01-01"})
    assert (fact["pregnant"], fact["lactating"]) == (False, False)
    assert not fs.inferred
    fact, _ = patient_of(patient={"sex": "female", "birth_date": "1990-01-01"})
    assert "pregnant" not in fact and "lactating" not in fact


def test_a_condition_implied_by_a_prescription_says_which() -> None:
    rx = [{"drug": "no-such-drug", "dose": "1 mg", "frequency": "qd"},
          {"drug": "metformin", "dose": "500 mg", "frequency": "bid"},
          {"drug": "metformin", "dose": "500 mg", "frequency": "qd"}]
    fact, fs = patient_of(patient={"birth_date": "1960-01-01"}, prescriptions=rx)
    metformin, group = KB.resolve_drug("metformin"), KB.condition_groups["diabetes"]
    # once, from the first prescription that implies it, by its place in the list
    assert fs.inferred[(fact["id"], "problem_groups")] == [{
        "value": "diabetes", "from": "prescriptions[1].drug",
        "zh": f"{group.name.zh}：由处方{metformin.name.zh}推断",
        "en": f"{group.name.en}: implied by the prescription of {metformin.name.en}"}]
    # no problem list: the groups are open; diabetes is known to be among them
    assert "problem_groups" not in fact
    assert fs.missing["patient.problem_groups"] == ("patient.conditions",)
    assert fs.partial[(fact["id"], "problem_groups")] == ("diabetes",)


def test_a_condition_already_known_is_not_inferred_again() -> None:
    rx = [{"drug": "metformin", "dose": "500 mg", "frequency": "bid"}]
    fact, fs = patient_of(patient={"birth_date": "1960-01-01",
                                   "conditions": [{"code": "E11.9"}]}, prescriptions=rx)
    assert "diabetes" in fact["problem_groups"]
    assert (fact["id"], "problem_groups") not in fs.inferred
    assert "patient.problem_groups" not in fs.missing and not fs.partial


def test_problem_groups_join_the_problem_list_and_this_visits_diagnoses_sorted() -> None:
    fact, _ = patient_of(patient={"birth_date": "1960-01-01", "conditions": [{"code": "I10"}]},
                         record={"diagnoses": [{"code": "E11.9"}]})
    groups = fact["problem_groups"]
    assert "hypertension" in groups and "diabetes" in groups and groups == sorted(groups)
    # an empty problem list is a complete one
    fact, fs = patient_of(patient={"birth_date": "1960-01-01", "conditions": []})
    assert fact["problem_groups"] == [] and "patient.problem_groups" not in fs.missing


@pytest.mark.parametrize(("patient", "risk", "missing"), [
    ({"birth_date": f"{2026 - CKD.age_from}-01-01", "conditions": []}, True, None),
    ({"birth_date": f"{2026 - CKD.age_from}-01-01"}, True, None),    # age alone decides
    ({"birth_date": f"{2026 - CKD.age_from}-11-21", "conditions": []}, False, None),
    ({"birth_date": "1990-01-01", "conditions": [{"code": "I10"}]}, True, None),
    ({"conditions": [{"code": "I10"}]}, True, None),                  # a group alone decides
    ({"birth_date": "1990-01-01"}, None, ("patient.conditions",)),
    ({"conditions": []}, None, ("patient.birth_date",)),
    ({}, None, ("patient.birth_date", "patient.conditions")),
])
def test_ckd_risk_is_decided_only_by_what_is_known(patient, risk, missing) -> None:
    fact, fs = patient_of(patient=patient)
    assert fact.get("ckd_risk") is risk
    assert fs.missing.get("patient.ckd_risk") == missing


def test_a_diabetes_implied_by_a_prescription_puts_a_patient_at_risk_of_ckd() -> None:
    rx = [{"drug": "metformin", "dose": "500 mg", "frequency": "bid"}]
    fact, fs = patient_of(patient={"birth_date": "1990-01-01"}, prescriptions=rx)
    assert fact["ckd_risk"] is True and "patient.ckd_risk" not in fs.missing


def test_knowledge_without_a_ckd_risk_definition_leaves_it_absent() -> None:
    from dataclasses import replace

    kb = replace(KB, inference=KB.inference.model_copy(update={"ckd_risk": None}))
    fact, fs = patient_of(kb, patient={"birth_date": "1950-01-01", "conditions": []})
    assert "ckd_risk" not in fact
    assert fs.missing["patient.ckd_risk"] == ()


@pytest.mark.parametrize(("patient", "count"), [
    ({"allergies": [{"substance": "青霉素"}, {"substance": "磺胺"}]}, 2),
    ({"allergies": [], "allergies_reviewed": True}, 0),     # no known allergies
    ({"allergies": [{"substance": "青霉素"}], "allergies_reviewed": False}, 1),
    ({}, None),                                             # never asked: unknown, not 0
    ({"allergies_reviewed": False}, None),
])
def test_the_allergy_count_is_zero_only_when_reviewed(patient, count) -> None:
    fact, _ = patient_of(patient=patient)
    assert fact.get("allergy_count") == count


def test_a_recorded_pregnancy_or_breastfeeding_of_a_man_is_kept_not_corrected() -> None:
    """The record contradicts itself; the pregnancy rules still see what was written."""
    fact, _ = patient_of(patient={"sex": "male", "pregnant": True, "lactating": True})
    assert (fact["pregnant"], fact["lactating"]) == (True, True)


def test_a_known_group_does_not_stop_the_inference_of_the_next_one() -> None:
    """A type 1 diabetic (E10: diabetes) on gliclazide: type 2 diabetes is implied,
    whatever the order of the rows of implied_conditions.yaml."""
    from dataclasses import replace

    rx = [{"drug": "gliclazide", "dose": "80 mg", "frequency": "bid"}]
    for kb in (KB, replace(KB, implied=tuple(reversed(KB.implied)))):
        fact, fs = patient_of(kb, patient={"conditions": [{"code": "E10.9"}]},
                              prescriptions=rx)
        assert fact["problem_groups"] == ["diabetes", "type2_diabetes"]
        assert [i["value"] for i in fs.inferred[(fact["id"], "problem_groups")]] == \
            ["type2_diabetes"]


@pytest.mark.parametrize(("field", "value", "unit"), [
    ("weight", "900 kg", "kg"), ("height", "400 cm", "cm")])
def test_an_implausible_weight_or_height_is_withheld_and_named(field, value, unit) -> None:
    fact, fs = patient_of(patient={"birth_date": "1960-01-01", field: value})
    assert field not in fact
    path = f"patient.{field}"
    bound = KB.plausibility.vitals[path]
    assert the(fs, "implausible") == {
        "t": "implausible", "id": "implausible#0", "field": path,
        "value": float(value.split()[0]), "low": bound.low, "high": bound.high,
        "unit": bound.unit or unit, "label_zh": {"weight": "体重", "height": "身高"}[field],
        "label_en": {"weight": "body weight", "height": "height"}[field]}
    assert fs.missing[path] == (f"{path} (implausible)",)
    assert f"{path} (implausible)" in fs.missing["derived.bmi"]
    # a site's plausibility table may leave the unit out: the input's unit is named
    from dataclasses import replace

    bounds = {k: v.model_copy(update={"unit": None}) for k, v in KB.plausibility.vitals.items()}
    kb = replace(KB, plausibility=KB.plausibility.model_copy(update={"vitals": bounds}))
    _, fs = patient_of(kb, patient={"birth_date": "1960-01-01", field: value})
    assert the(fs, "implausible")["unit"] == unit


def test_an_implausible_field_without_a_label_is_named_by_its_path() -> None:
    from dataclasses import replace

    from cdss.kb.labels import FieldLabels

    kb = replace(KB, labels=FieldLabels())
    _, fs = patient_of(kb, patient={"birth_date": "1960-01-01", "weight": "900 kg"})
    fact = the(fs, "implausible")
    assert fact["label_zh"] == fact["label_en"] == "patient.weight"


def test_the_patient_fact_comes_from_the_patient_input() -> None:
    fact, fs = patient_of()
    assert fs.paths[fact["id"]] == "patient"
