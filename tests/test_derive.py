"""Derived values against published or independently computed worked examples.

Vectors: clinical reference Appendix A and docs/research/diagnosis-verification.md.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from cdss import Encounter
from cdss.derive import Derived, Missing, build_facts
from cdss.derive.body import age_years, bmi
from cdss.derive.renal import crcl_cockcroft_gault, egfr_ckd_epi_2021
from cdss.derive.scores import band_score

MG_DL = 88.4  # µmol/L per mg/dL


@pytest.fixture(scope="module")
def kb(engine):
    return engine.kb


@pytest.mark.parametrize(("sex", "age", "scr_mg_dl", "expected"), [
    ("male", 55, 1.2, 71.4),     # Appendix A; kidney.org-consistent
    ("female", 70, 1.0, 60.6),   # Appendix A
    ("female", 30, 0.6, 123.8),  # Appendix A
    ("male", 70, 200 / MG_DL, 30),   # ml4oncology kidney.org calculator values [S]
    ("female", 70, 200 / MG_DL, 23),
    ("male", 70, 100 / MG_DL, 70),
    ("female", 70, 100 / MG_DL, 52),
])
def test_egfr_ckd_epi_2021(kb, sex, age, scr_mg_dl, expected) -> None:
    result = egfr_ckd_epi_2021(scr_mg_dl * MG_DL, age, sex, kb.formulas["ckd_epi_2021"])
    assert isinstance(result, Derived)
    assert result.value == pytest.approx(expected, abs=0.6)
    assert result.inputs["age"] == age and result.formula.startswith("eGFR = 142")


def test_egfr_missing_inputs_are_named(kb) -> None:
    result = egfr_ckd_epi_2021(None, None, "unknown", kb.formulas["ckd_epi_2021"])
    assert isinstance(result, Missing)
    assert result.missing == ("labs.creatinine", "patient.birth_date", "patient.sex")
    child = egfr_ckd_epi_2021(50, 10, "male", kb.formulas["ckd_epi_2021"])
    assert isinstance(child, Missing) and "adults" in child.reason


@pytest.mark.parametrize(("sex", "age", "kg", "scr", "expected"), [
    ("male", 70, 60, 1.2, 48.6),     # Appendix A
    ("female", 80, 50, 1.0, 35.4),   # Appendix A
    ("male", 65, 70, 1.4, 52.1),     # third-party calculators [S]
    ("female", 45, 60, 0.9, 74.8),
    ("male", 50, 80, 1.0, 100.0),
])
def test_cockcroft_gault(kb, sex, age, kg, scr, expected) -> None:
    result = crcl_cockcroft_gault(scr * MG_DL, age, kg, sex, kb.formulas["cockcroft_gault"])
    assert isinstance(result, Derived)
    assert result.value == pytest.approx(expected, abs=0.15)


def test_age_in_completed_years_at_the_visit() -> None:
    visit = datetime(2026, 11, 20, 9, 30)
    assert age_years(date(1943, 5, 2), visit) == 83
    assert age_years(date(1943, 11, 20), visit) == 83  # birthday today
    assert age_years(date(1943, 11, 21), visit) == 82
    assert isinstance(age_years(date(2027, 1, 1), visit), Missing)
    assert isinstance(age_years(None, visit), Missing)


def test_bmi() -> None:
    result = bmi(52, 155, "WHO")
    assert isinstance(result, Derived) and result.value == 21.6
    assert isinstance(bmi(None, 155, "WHO"), Missing)


NEWS2_ZERO = {"resp_rate": 16, "spo2": 97, "on_oxygen": False, "sbp": 120, "heart_rate": 80,
              "consciousness": "alert", "temperature": 37.0}
NEWS2_MAX = {"resp_rate": 26, "spo2": 90, "on_oxygen": True, "sbp": 88, "heart_rate": 135,
             "consciousness": "confusion", "temperature": 39.5}


def test_news2_worked_examples(kb) -> None:
    table = kb.scores["news2"]
    assert band_score(table, NEWS2_ZERO).value == 0            # Appendix A
    result = band_score(table, NEWS2_MAX)                       # Appendix A: 19
    assert result.value == 19
    assert result.parts == {"resp_rate": 3, "spo2": 3, "on_oxygen": 2, "sbp": 3,
                            "heart_rate": 3, "consciousness": 3, "temperature": 2}


@pytest.mark.parametrize(("field", "value", "score"), [
    ("resp_rate", 8, 3), ("resp_rate", 9, 1), ("resp_rate", 11, 1), ("resp_rate", 12, 0),
    ("resp_rate", 20, 0), ("resp_rate", 21, 2), ("resp_rate", 24, 2), ("resp_rate", 25, 3),
    ("spo2", 91, 3), ("spo2", 92, 2), ("spo2", 93, 2), ("spo2", 94, 1), ("spo2", 95, 1),
    ("spo2", 96, 0), ("sbp", 90, 3), ("sbp", 91, 2), ("sbp", 100, 2), ("sbp", 101, 1),
    ("sbp", 110, 1), ("sbp", 111, 0), ("sbp", 219, 0), ("sbp", 220, 3),
    ("heart_rate", 40, 3), ("heart_rate", 41, 1), ("heart_rate", 50, 1), ("heart_rate", 51, 0),
    ("heart_rate", 90, 0), ("heart_rate", 91, 1), ("heart_rate", 110, 1),
    ("heart_rate", 111, 2), ("heart_rate", 130, 2), ("heart_rate", 131, 3),
    ("temperature", 35.0, 3), ("temperature", 35.1, 1), ("temperature", 36.0, 1),
    ("temperature", 36.1, 0), ("temperature", 38.0, 0), ("temperature", 38.1, 1),
    ("temperature", 39.0, 1), ("temperature", 39.1, 2),
    ("temperature", 38.04, 1),  # exact value, above 38.0 (issue #11; was rounded to 38.0)
    ("consciousness", "voice", 3), ("on_oxygen", True, 2),
])
def test_news2_band_edges(kb, field, value, score) -> None:
    values = dict(NEWS2_ZERO, **{field: value})
    assert band_score(kb.scores["news2"], values).value == score


def test_news2_missing_parameters_are_named(kb) -> None:
    values = dict(NEWS2_ZERO)
    del values["consciousness"]
    result = band_score(kb.scores["news2"], values)
    assert isinstance(result, Missing) and result.missing == ("vitals.consciousness",)


@pytest.mark.parametrize(("rr", "sbp", "mentation", "score"), [
    (22, 100, "confusion", 3), (21, 101, "alert", 0), (22, 101, "alert", 1),
    (21, 100, "alert", 1),
])
def test_qsofa(kb, rr, sbp, mentation, score) -> None:
    values = {"resp_rate": rr, "sbp": sbp, "consciousness": mentation}
    assert band_score(kb.scores["qsofa"], values).value == score


def test_facts_withhold_implausible_values_and_name_them(kb) -> None:
    e = Encounter.parse({"id": "e", "time": "2026-11-20T09:00:00", "patient": {"id": "p"},
                         "vitals": {"sbp": 400, "dbp": 80}})
    fs = build_facts(e, kb)
    vitals = next(f for f in fs.facts if f["t"] == "vitals")
    assert "sbp" not in vitals and vitals["dbp"] == 80
    implausible = [f for f in fs.facts if f["t"] == "implausible"]
    assert implausible[0]["field"] == "vitals.sbp" and implausible[0]["value"] == 400
    assert fs.missing["vitals.sbp"] == ("vitals.sbp (implausible)",)


def test_facts_never_carry_none_and_use_declared_fields(kb) -> None:
    from cdss.derive import fact_types

    types = fact_types(kb)
    e = Encounter.parse({"id": "e", "time": "2026-11-20T09:00:00", "patient": {"id": "p"},
                         "prescriptions": [{"drug": "warfarin", "dose": "3 mg"}]})
    for fact in build_facts(e, kb).facts:
        assert None not in fact.values()
        assert set(fact) - {"t", "id"} <= set(types[fact["t"]].fields), fact


def test_daily_dose_derivation_is_explained(kb) -> None:
    e = Encounter.parse({"id": "e", "time": "2026-11-20T09:00:00", "patient": {"id": "p"},
                         "prescriptions": [{"drug": "二甲双胍", "dose": "0.5 g",
                                            "frequency": "tid"}]})
    fs = build_facts(e, kb)
    rx = next(f for f in fs.facts if f["t"] == "rx")
    assert rx["drug"] == "metformin" and rx["daily_dose"] == 1500 and rx["max_daily"] == 2550
    d = fs.derived["prescriptions[0].daily_dose"]
    assert d.inputs == {"dose": "500 mg", "frequency": "tid (3/d)"}


def test_a_complete_score_is_banded_once(monkeypatch) -> None:
    """NEWS2 and qSOFA of a complete set of vitals reuse their parameter scores for the
    lower bounds (issue #17): the partial banding is not run again."""
    import cdss
    from cdss.derive import scores
    from cdss.ruletest.normal import encounter

    calls: list[str] = []
    real = scores.partial_band_score
    monkeypatch.setattr(scores, "partial_band_score",
                        lambda table, values: calls.append(table.id) or real(table, values))
    engine = cdss.Engine(backend="python")
    facts = build_facts(engine.parse(encounter({})), engine.kb)
    derived = facts.of_type("derived")[0]
    assert "news2" in derived and "news2" not in calls and "qsofa" not in calls
    assert derived["news2_max_param"] == max(facts.derived["news2"].parts.values())
