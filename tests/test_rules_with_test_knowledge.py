"""Rules that no row of the shipped knowledge exercises, tested on a test-only drug.

The shipped knowledge has no drug whose kidney rule is "eGFR below X: reduce", none
contraindicated in chronic liver disease, and only one anticoagulant; the rules for
them must still work the day such a drug is added. These tests copy the knowledge,
add an invented drug (clearly named, never shipped) and check the rules fire on it and
stay silent on a near-miss.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

import cdss
from cdss._resources import knowledge_dir

TEST_DRUGS = {"drugs": [
    {"id": "testdrug_renal", "name": {"zh": "测试药甲", "en": "testdrug-renal"},
     "atc": ["Z99ZZ01"], "classes": [],
     "doses": [{"route": "oral", "unit": "mg", "max_daily": 100,
                "source": {"title": "test only", "verification": "K"}}],
     "renal": [{"measure": "egfr", "below": 50, "action": "reduce", "max_daily": 50,
                "text": {"zh": "eGFR<50减半", "en": "halve below eGFR 50"},
                "source": {"title": "test only", "verification": "K"}}],
     "hepatic": [{"applies_to": "liver_disease", "action": "contraindicated",
                  "text": {"zh": "肝病禁用", "en": "contraindicated in liver disease"},
                  "source": {"title": "test only", "verification": "K"}}]},
    {"id": "testdrug_renal_at_risk", "name": {"zh": "测试药乙", "en": "testdrug-renal-at-risk"},
     "atc": ["Z99ZZ03"], "classes": [],
     "doses": [{"route": "oral", "unit": "mg", "max_daily": 100,
                "source": {"title": "test only", "verification": "K"}}],
     "renal": [{"measure": "egfr", "below": 30, "action": "avoid", "test_first": "at_risk",
                "text": {"zh": "eGFR<30避免", "en": "avoid below eGFR 30"},
                "source": {"title": "test only", "verification": "K"}}]},
    {"id": "testdrug_anticoagulant", "name": {"zh": "测试抗凝药", "en": "testdrug-coag"},
     "atc": ["Z99ZZ02"], "classes": ["anticoagulant"],
     "doses": [{"route": "oral", "unit": "mg", "max_daily": 20,
                "source": {"title": "test only", "verification": "K"}}]},
]}

#: rule ids proven here with a firing case and a near-miss
COVERED = ("dosing.renal.egfr_reduce", "dosing.hepatic.liver_disease_contraindicated",
           "dosing.duplicate.dup_anticoagulant", "dosing.renal.egfr_unknown_at_risk",
           "dosing.renal.egfr_unknown_not_at_risk")


def covered_rule_ids() -> set[str]:
    from test_rx_rules import COVERED_WITH_TEST_KNOWLEDGE  # tier rules (issue #15)
    return set(COVERED) | set(COVERED_WITH_TEST_KNOWLEDGE)


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> cdss.Engine:
    root = Path(tmp_path_factory.mktemp("kb")) / "knowledge"
    shutil.copytree(knowledge_dir(), root)
    (root / "drugs" / "zz_test_only.yaml").write_text(
        yaml.safe_dump(TEST_DRUGS, allow_unicode=True), encoding="utf-8")
    return cdss.Engine(lang="en", knowledge_dir=root)


def visit(*rx: dict, creatinine: str = "80 umol/L", conditions=None) -> dict:
    return {"id": "t", "time": "2026-11-20T09:00:00+08:00",
            "patient": {"id": "p", "sex": "male", "birth_date": "1956-01-01",
                        "weight": "70 kg", "conditions": conditions or [],
                        "allergies_reviewed": True},
            "labs": [{"code": "creatinine", "value": creatinine}],
            "prescriptions": list(rx)}


def ids(report) -> set[str]:
    return {s.rule_id for s in report.suggestions}


RENAL = {"drug": "testdrug_renal", "dose": "20 mg", "frequency": "qd"}


def test_egfr_reduce_fires_below_the_threshold(engine) -> None:
    report = engine.check(visit(RENAL, creatinine="160 umol/L"))
    assert report.derived["egfr"]["value"] < 50
    (s,) = [s for s in report.suggestions if s.rule_id == "dosing.renal.egfr_reduce"]
    assert s.severity == "warning" and s.drugs == ("testdrug_renal",)
    assert any(e["field"] == "derived.egfr" and e["threshold"] == 50 for e in s.evidence)


def test_egfr_reduce_near_miss(engine) -> None:
    report = engine.check(visit(RENAL, creatinine="90 umol/L"))
    assert report.derived["egfr"]["value"] >= 50
    assert "dosing.renal.egfr_reduce" not in ids(report)


def test_liver_disease_contraindicated(engine) -> None:
    fires = engine.check(visit(RENAL, conditions=[{"code": "K76.0"}]))
    (s,) = [s for s in fires.suggestions
            if s.rule_id == "dosing.hepatic.liver_disease_contraindicated"]
    assert s.severity == "critical" and "K76.0" in s.codes
    quiet = engine.check(visit(RENAL, conditions=[{"code": "J06.9"}]))
    assert "dosing.hepatic.liver_disease_contraindicated" not in ids(quiet)


def test_two_anticoagulants_are_duplicate_therapy(engine) -> None:
    coag = {"drug": "testdrug_anticoagulant", "dose": "5 mg", "frequency": "qd"}
    warfarin = {"drug": "warfarin", "dose": "3 mg", "frequency": "qd"}
    assert "dosing.duplicate.dup_anticoagulant" in ids(engine.check(visit(coag, warfarin)))
    paracetamol = {"drug": "paracetamol", "dose": "500 mg", "frequency": "tid"}
    assert "dosing.duplicate.dup_anticoagulant" not in ids(
        engine.check(visit(coag, paracetamol)))


AT_RISK = {"drug": "testdrug_renal_at_risk", "dose": "20 mg", "frequency": "qd"}


def _no_creatinine(visit_: dict, **patient) -> dict:
    visit_["labs"] = []
    visit_["patient"].update(patient)
    return visit_


def test_egfr_unknown_at_risk_for_an_older_patient(engine) -> None:
    # visit() is a 70-year-old: 65 and over is at risk of CKD
    report = engine.check(_no_creatinine(visit(AT_RISK)))
    (s,) = [s for s in report.suggestions if s.rule_id == "dosing.renal.egfr_unknown_at_risk"]
    assert s.severity == "warning" and s.certainty == "complete"
    assert "dosing.renal.egfr_unknown_not_at_risk" not in ids(report)


def test_egfr_unknown_not_at_risk_for_a_younger_patient(engine) -> None:
    report = engine.check(_no_creatinine(visit(AT_RISK), birth_date="1990-01-01"))
    (s,) = [s for s in report.suggestions
            if s.rule_id == "dosing.renal.egfr_unknown_not_at_risk"]
    assert s.severity == "info"
    assert "dosing.renal.egfr_unknown_at_risk" not in ids(report)
    # with a creatinine the eGFR settles it: neither
    known = engine.check(visit(AT_RISK))
    assert not {"dosing.renal.egfr_unknown_at_risk",
                "dosing.renal.egfr_unknown_not_at_risk"} & ids(known)


def test_egfr_unknown_without_a_problem_list_is_the_info_and_asks_for_it(engine) -> None:
    enc = _no_creatinine(visit(AT_RISK), birth_date="1990-01-01")
    del enc["patient"]["conditions"]
    report = engine.check(enc)
    (s,) = [s for s in report.suggestions
            if s.rule_id == "dosing.renal.egfr_unknown_not_at_risk"]
    assert s.certainty == "regardless" and s.severity == "info"
    assert "patient.conditions" in {m.field for m in report.missing_data}
