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
