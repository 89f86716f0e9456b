"""Properties of the dose arithmetic and the dosing rules, on generated prescriptions.

* the daily dose does not depend on how the dose's unit (g / mg / µg) or the frequency
  (tid == q8h == 每日三次 == {"times_per_day": 3}, ...) is written, and neither do the
  dosing suggestions;
* for a fixed drug, frequency and patient, a larger dose never takes a finding away
  (as a set of suggestion kinds), except "dose_low", which can only go away.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import cdss

from _encounters import encounter

ENGINE = cdss.Engine(lang="en")

#: multiply the example budget, e.g. CDSS_PROPERTY_SCALE=20 for a nightly bug hunt
SCALE = max(1, int(os.environ.get("CDSS_PROPERTY_SCALE", "1")))
SETTINGS = settings(max_examples=40 * SCALE, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

#: spellings of one frequency; every spelling in a row means the same times per day
FREQUENCIES: dict[int, list[Any]] = {
    1: ["qd", "每日一次", {"times_per_day": 1}],
    2: ["bid", "q12h", "每日两次", {"times_per_day": 2}],
    3: ["tid", "q8h", "每日三次", {"times_per_day": 3}],
    4: ["qid", "q6h", "每日四次", {"times_per_day": 4}],
}

#: drugs with an adult max_daily in mg (some also with min_daily, max_times_per_day,
#: a Beers dose limit or paediatric limits), by name or alias
DRUGS_WITH_MAX = ["amlodipine", "metformin", "二甲双胍", "paracetamol", "ibuprofen",
                  "omeprazole", "atorvastatin", "acarbose", "levothyroxine", "azithromycin",
                  "clarithromycin", "allopurinol", "cephalexin"]
#: drugs for the unit and frequency invariance (max_daily or not)
DRUGS = [*DRUGS_WITH_MAX, "digoxin", "warfarin", "clopidogrel"]

#: patients the dosing rules treat differently: adult, older adult, child, pregnant
PATIENTS: dict[str, dict[str, Any]] = {
    "adult": {},
    "older": {"birth_date": "1950-04-01"},
    "child": {"birth_date": "2018-02-01", "weight": "25 kg", "height": "125 cm"},
    "pregnant": {"sex": "female", "birth_date": "1995-07-01", "pregnant": True},
}

#: dose in mg, with at most one decimal place (0.1 mg .. 5000 mg)
doses_mg = st.integers(min_value=1, max_value=50_000).map(lambda n: Decimal(n) / 10)


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


def unit_spellings(mg: Decimal) -> list[str]:
    """The same dose written in g, mg and µg."""
    return [f"{_fmt(mg / 1000)} g", f"{_fmt(mg)} mg", f"{_fmt(mg * 1000)} ug",
            f"{_fmt(mg * 1000)} µg"]


def check(drug: str, dose: str, frequency: Any, patient: str) -> cdss.Report:
    enc = encounter(patient=PATIENTS[patient], prescriptions=[
        {"drug": drug, "dose": dose, "route": "oral", "frequency": frequency,
         "duration": "3 d"}])
    return ENGINE.check(enc)


def daily_dose(report: cdss.Report) -> float:
    return report.derived["prescriptions[0].daily_dose"]["value"]


def dosing_ids(report: cdss.Report) -> set[str]:
    return {s.rule_id for s in report.suggestions if s.category == "dosing"}


def dosing_kinds(report: cdss.Report) -> set[str]:
    return {s.kind for s in report.suggestions if s.category == "dosing"}


# ---------------------------------------------------------------------------------
# Invariance: the unit of the dose
# ---------------------------------------------------------------------------------

@SETTINGS
@given(drug=st.sampled_from(DRUGS), mg=doses_mg, times=st.sampled_from(sorted(FREQUENCIES)),
       patient=st.sampled_from(sorted(PATIENTS)))
# exactly at a limit, where a rounding error in the unit conversion would show
@example(drug="amlodipine", mg=Decimal(10), times=1, patient="adult")
@example(drug="levothyroxine", mg=Decimal("0.3"), times=1, patient="adult")
@example(drug="metformin", mg=Decimal(850), times=3, patient="adult")
@example(drug="amlodipine", mg=Decimal("2.5"), times=1, patient="adult")
@example(drug="digoxin", mg=Decimal("0.125"), times=1, patient="older")
@example(drug="ibuprofen", mg=Decimal(250), times=4, patient="child")
def test_daily_dose_and_suggestions_do_not_depend_on_the_dose_unit(
        drug: str, mg: Decimal, times: int, patient: str) -> None:
    frequency = FREQUENCIES[times][0]
    reports = [check(drug, dose, frequency, patient) for dose in unit_spellings(mg)]
    expected = float(mg) * times
    for dose, report in zip(unit_spellings(mg), reports, strict=True):
        assert daily_dose(report) == pytest.approx(expected, rel=1e-9, abs=1e-3), dose
        assert report.derived["prescriptions[0].daily_dose"]["unit"] == "mg/d", dose
    first = dosing_ids(reports[0])
    for dose, report in zip(unit_spellings(mg), reports, strict=True):
        assert dosing_ids(report) == first, (dose, unit_spellings(mg)[0])


def test_unit_spellings_example() -> None:
    assert unit_spellings(Decimal(500)) == ["0.5 g", "500 mg", "500000 ug", "500000 µg"]
    reports = [check("metformin", d, "bid", "adult") for d in unit_spellings(Decimal(500))]
    assert {daily_dose(r) for r in reports} == {1000.0}


# ---------------------------------------------------------------------------------
# Invariance: the spelling of the frequency
# ---------------------------------------------------------------------------------

@SETTINGS
@given(drug=st.sampled_from(DRUGS), mg=doses_mg, times=st.sampled_from(sorted(FREQUENCIES)),
       patient=st.sampled_from(sorted(PATIENTS)))
def test_daily_dose_and_suggestions_do_not_depend_on_the_frequency_spelling(
        drug: str, mg: Decimal, times: int, patient: str) -> None:
    dose = f"{_fmt(mg)} mg"
    spellings = FREQUENCIES[times]
    reports = [check(drug, dose, f, patient) for f in spellings]
    first_daily = daily_dose(reports[0])
    first_ids = dosing_ids(reports[0])
    assert first_daily == pytest.approx(float(mg) * times, rel=1e-9, abs=1e-3)
    for spelling, report in zip(spellings, reports, strict=True):
        assert daily_dose(report) == first_daily, (spelling, spellings[0])
        assert dosing_ids(report) == first_ids, (spelling, spellings[0])


@pytest.mark.parametrize("times", sorted(FREQUENCIES))
def test_frequency_spellings_example(times: int) -> None:
    dailies = {daily_dose(check("paracetamol", "250 mg", f, "adult")) for f in FREQUENCIES[times]}
    assert dailies == {250.0 * times}


# ---------------------------------------------------------------------------------
# Monotonicity: more drug never removes a finding (except "dose below usual")
# ---------------------------------------------------------------------------------

@SETTINGS
@given(drug=st.sampled_from(DRUGS_WITH_MAX), low=doses_mg, high=doses_mg,
       times=st.sampled_from(sorted(FREQUENCIES)), patient=st.sampled_from(sorted(PATIENTS)))
def test_a_larger_dose_never_removes_a_dosing_finding(
        drug: str, low: Decimal, high: Decimal, times: int, patient: str) -> None:
    low, high = sorted((low, high))
    frequency = FREQUENCIES[times][0]
    kinds_low = dosing_kinds(check(drug, f"{_fmt(low)} mg", frequency, patient))
    kinds_high = dosing_kinds(check(drug, f"{_fmt(high)} mg", frequency, patient))
    assert kinds_low - {"dose_low"} <= kinds_high, (low, high, kinds_low, kinds_high)
    # and "dose below usual" can only go away as the dose rises
    if "dose_low" in kinds_high:
        assert "dose_low" in kinds_low, (low, high)


@pytest.mark.parametrize("drug, doses", [
    ("amlodipine", ["2 mg", "5 mg", "10 mg", "12 mg", "40 mg"]),
    ("metformin", ["100 mg", "500 mg", "1 g", "3 g"]),
    ("paracetamol", ["100 mg", "500 mg", "1 g", "2.5 g"]),
])
def test_dose_ladder_example(drug: str, doses: list[str]) -> None:
    """A hand-written ladder: dose_high appears at the top and stays."""
    seen: set[str] = set()
    for dose in doses:
        kinds = dosing_kinds(check(drug, dose, "qd", "adult")) - {"dose_low"}
        assert seen <= kinds, (dose, seen, kinds)
        seen = kinds
    assert "dose_high" in seen
