"""Data-driven rule tests: every rule fires on a case and stays silent on a near miss.

Cases live in ``tests/cases/*.yaml`` and are read and judged by the rule test kit
(:mod:`cdss.ruletest`, the format is in :mod:`cdss.ruletest.cases`), the same kit a site
runs with ``cdss rules test DIR``.

Besides the cases, a coverage test requires every rule of the engine to have at least
one firing and one non-firing case, a negative panel of ordinary encounters must stay
quiet, and encounters with missing data must list the rules they could not evaluate.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

import cdss
from cdss import backends
from cdss.receipt import fixed_clock
from cdss.ruletest import Case, check_case, load_cases
from cdss.ruletest.run import describe

from _encounters import encounter, rx, with_rx, without_backend

CASES_DIR = Path(__file__).resolve().parent / "cases"
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}

#: the project's cases, read by the same kit as a site's (``cdss rules test``)
CASES: list[Case] = load_cases(CASES_DIR)


def _params() -> Iterator[Any]:
    for case in CASES:
        marks = []
        if case.xfail:
            marks.append(pytest.mark.xfail(reason=str(case.xfail), strict=True))
        yield pytest.param(case, id=case.id, marks=marks)


@pytest.fixture(scope="module")
def engine() -> cdss.Engine:
    return cdss.Engine(lang="en")


_describe = describe


# --------------------------------------------------------------------------- cases
def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, f"duplicate case ids: {dupes}"


def test_cases_name_existing_rules(engine: cdss.Engine) -> None:
    rule_ids = {r.id for r in engine.rules}
    unknown = sorted({c.rule for c in CASES} - rule_ids)
    assert not unknown, f"cases for rules the engine does not have: {unknown}"


@pytest.mark.parametrize("case", list(_params()))
def test_rule_case(engine: cdss.Engine, case: Case) -> None:
    report = engine.check(case.build())
    problems = check_case(case, report)
    assert not problems, "\n".join([*problems, describe(report)])


@pytest.mark.parametrize("backend", [n for n in backends.names() if n != backends.DEFAULT])
def test_every_backend_gives_the_same_report_on_every_case(engine: cdss.Engine,
                                                           backend: str) -> None:
    """Every case encounter, on every registered backend: byte-identical reports to the
    default backend's (``engine``), but for the receipt's backend name and time."""
    clock = fixed_clock(datetime(2026, 12, 1, tzinfo=UTC))
    reference = cdss.Engine(lang="en", clock=clock)
    other = cdss.Engine(lang="en", backend=backend, clock=clock)
    differ = [c.id for c in CASES
              if without_backend(other.check(c.build()))
              != without_backend(reference.check(c.build()))]
    assert not differ, differ


def test_every_rule_has_firing_and_near_miss_cases(engine: cdss.Engine) -> None:
    """Adding a rule without cases (or with only one side) fails here.

    Rules expanded from knowledge rows by a template count as covered when
    ``test_knowledge_rules.py`` has both a firing and a near-miss case for their row
    (skipped and xfailed rows do not count). A rule the shipped knowledge cannot exercise
    is tested on an invented, test-only drug in ``test_rules_with_test_knowledge.py``.
    """
    from test_knowledge_rules import covered_rule_ids
    from test_rules_with_test_knowledge import covered_rule_ids as covered_with_test_drugs

    rules = {r.id for r in engine.rules}
    # a strict-xfail case does not prove anything about the rule
    proven = [c for c in CASES if not c.xfail]
    generated = covered_rule_ids() | covered_with_test_drugs()
    fires = {c.rule for c in proven if c.fires} | generated
    silent = {c.rule for c in proven if not c.fires} | generated
    lacking = {
        "no fires: true case": sorted(rules - fires),
        "no fires: false case": sorted(rules - silent),
    }
    assert not any(lacking.values()), lacking


# ------------------------------------------------------------------ negative panel
_HTN = {"conditions": [{"code": "I10", "name": "高血压"}]}
_DM = {"conditions": [{"code": "E11.9", "name": "2型糖尿病"}]}
_HTN_DM = {"conditions": [{"code": "I10", "name": "高血压"},
                          {"code": "E11.9", "name": "2型糖尿病"}]}


def _panel() -> list[tuple[str, dict[str, Any]]]:
    older_woman = {"sex": "female", "birth_date": "1958-06-01", "weight": "60 kg",
                   "height": "158 cm"}
    return [
        ("healthy man", encounter()),
        ("healthy woman", encounter(patient={"sex": "female", "birth_date": "1990-02-10"})),
        ("healthy 18-year-old", encounter(patient={"birth_date": "2008-11-20"})),
        ("high-normal BP 139/89", encounter(vitals={"sbp": 139, "dbp": 89})),
        ("controlled hypertensive on amlodipine 5 mg qd",
         with_rx(rx("氨氯地平", "5 mg", "qd", duration="28 d"),
                 patient=dict(older_woman, **_HTN), vitals={"sbp": 132, "dbp": 82})),
        ("known hypertensive, BP 132/84 on amlodipine (controlled, not a new diagnosis)",
         with_rx(rx("amlodipine", "5 mg"), patient=_HTN, vitals={"sbp": 132, "dbp": 84})),
        ("diabetic on metformin 500 mg bid, fasting glucose 6.5 (controlled)",
         with_rx(rx("metformin", "500 mg", "bid", duration="28 d"), patient=_DM,
                 vitals={"glucose": "6.5 mmol/L", "glucose_context": "fasting"})),
        ("diabetic on metformin 0.5 g bid (grams)",
         with_rx(rx("二甲双胍", "0.5 g", "bid"), patient=_DM,
                 vitals={"glucose": "130 mg/dL"})),
        ("atorvastatin 20 mg qn", with_rx(rx("atorvastatin", "20 mg", "qn", duration="28 d"))),
        ("aspirin 100 mg qd alone", with_rx(rx("阿司匹林", "100 mg", "qd"))),
        ("amoxicillin 500 mg tid, no allergy",
         with_rx(rx("amoxicillin", "500 mg", "tid"),
                 vitals={"temperature": "37.8 degC"})),
        ("paracetamol 500 mg q6h", with_rx(rx("paracetamol", "500 mg", "q6h", duration="3 d"))),
        ("ibuprofen 200 mg tid", with_rx(rx("布洛芬", "200 mg", "tid", duration="3 d"))),
        ("omeprazole 20 mg qd for 7 days", with_rx(rx("奥美拉唑", "20 mg", "qd", duration="7 d"))),
        ("losartan 50 mg qd in a hypertensive",
         with_rx(rx("losartan", "50 mg"), patient=_HTN, vitals={"sbp": 128, "dbp": 78})),
        ("enalapril 10 mg qd in a hypertensive",
         with_rx(rx("依那普利", "10 mg"), patient=_HTN, vitals={"sbp": 135, "dbp": 85})),
        # (a patient under 65: in older adults aspirin carries a Beers caution, tested
        # in tests/cases/dosing.yaml)
        ("hypertensive diabetic on amlodipine + metformin + atorvastatin + aspirin",
         with_rx(rx("amlodipine", "5 mg"), rx("metformin", "500 mg", "bid"),
                 rx("atorvastatin", "20 mg", "qn"), rx("aspirin", "100 mg"),
                 patient=dict(older_woman, birth_date="1966-03-01", **_HTN_DM),
                 vitals={"sbp": 130, "dbp": 80})),
        ("clopidogrel 75 mg qd with no PPI", with_rx(rx("clopidogrel", "75 mg"))),
        ("cefuroxime 250 mg bid, no allergy",
         with_rx(rx("头孢呋辛酯", "250 mg", "bid"))),
        ("penicillin-allergic patient given clarithromycin",
         with_rx(rx("clarithromycin", "250 mg", "bid"),
                 patient={"allergies": [{"substance": "青霉素", "reaction": "皮疹"}]})),
        ("glimepiride 2 mg qd in a diabetic",
         with_rx(rx("格列美脲", "2 mg"), patient=_DM, vitals={"glucose": "6.1 mmol/L"})),
        ("nifedipine 30 mg qd in a hypertensive",
         with_rx(rx("硝苯地平", "30 mg"), patient=_HTN, vitals={"sbp": 138, "dbp": 84})),
        ("valsartan 80 mg qd, 28 days, in a hypertensive",
         with_rx(rx("缬沙坦", "80 mg", duration="28 d"), patient=_HTN)),
        ("rosuvastatin 10 mg qn", with_rx(rx("瑞舒伐他汀", "10 mg", "qn"))),
        ("levothyroxine 50 µg qd", with_rx(rx("左甲状腺素", "50 ug"))),
        ("azithromycin 500 mg qd for 3 days", with_rx(rx("阿奇霉素", "0.5 g", duration="3 d"))),
        ("salbutamol inhaler 0.1 mg as needed",
         with_rx(rx("沙丁胺醇", "0.1 mg", "prn", route="吸入", duration="7 d"))),
        ("insulin glargine 10 units at night in a diabetic",
         with_rx(rx("甘精胰岛素", "10 U", "qn", route="sc", duration="28 d"), patient=_DM)),
        ("mild fever 37.9 degC, otherwise well", encounter(vitals={"temperature": "37.9 degC"})),
        ("return visit", encounter(visit_type="return")),
    ]


def _panel_files() -> list[tuple[str, dict[str, Any]]]:
    """More ordinary encounters from ``tests/data/negative_panel/*.yaml``.

    Each entry: ``name``, ``prescriptions`` (``[drug, dose, frequency]`` or a full
    prescription object) and optional ``patient`` / ``vitals`` / ``labs`` overrides of the
    normal encounter (``_encounters.py``).
    """
    out = []
    for path in sorted((Path(__file__).parent / "data" / "negative_panel").glob("*.yaml")):
        for entry in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            items = [item if isinstance(item, dict) else rx(*item)
                     for item in entry.get("prescriptions", [])]
            overrides = {k: entry[k] for k in ("patient", "vitals", "labs", "symptoms")
                         if k in entry}
            out.append((f"{path.stem}: {entry['name']}", with_rx(*items, **overrides)))
    return out


PANEL = _panel() + _panel_files()


@pytest.mark.parametrize("enc", [p[1] for p in PANEL], ids=[p[0] for p in PANEL])
def test_negative_panel_is_quiet(engine: cdss.Engine, enc: dict[str, Any]) -> None:
    report = engine.check(enc)
    detail = _describe(report)
    loud = [s.rule_id for s in report.suggestions if SEVERITY_RANK[s.severity] > 0]
    assert not loud, f"suggestions above info on an ordinary encounter\n{detail}"
    dosing = [s.rule_id for s in report.suggestions if s.category == "dosing"]
    assert not dosing, f"dosing suggestions on an ordinary encounter\n{detail}"


def test_negative_panel_is_large_enough() -> None:
    assert len(PANEL) >= 15


def test_base_encounter_has_no_findings(engine: cdss.Engine) -> None:
    report = engine.check(encounter())
    assert report.suggestions == [], _describe(report)
    assert report.not_evaluated == [], _describe(report)


def test_encounter_helper_does_not_share_state() -> None:
    a = encounter(vitals={"sbp": 200})
    b = encounter()
    a["patient"]["conditions"].append({"code": "I10"})
    assert b["vitals"]["sbp"] == 118
    assert encounter()["patient"]["conditions"] == []
    assert "vitals" not in encounter(vitals=None)


# ------------------------------------------------------------------ not evaluated
def _not_evaluated(report: Any) -> dict[str, tuple[str, ...]]:
    # an entry stands for its rule and the related rules of its group (``also``)
    return {rule_id: tuple(n.missing) for n in report.not_evaluated
            for rule_id in (n.rule_id, *n.also)}


def test_no_vitals_reports_bp_rules_not_evaluated(engine: cdss.Engine) -> None:
    report = engine.check(encounter(vitals=None))
    missing = _not_evaluated(report)
    for rule_id in ("diagnosis.hypertension.grade1", "diagnosis.hypertension.grade2",
                    "diagnosis.hypertension.urgent_referral"):
        assert rule_id in missing, _describe(report)
        assert "vitals.sbp" in missing[rule_id], missing[rule_id]
    for rule_id in ("diagnosis.news2.high", "diagnosis.news2.medium",
                    "diagnosis.hypoglycemia.level2"):
        assert rule_id in missing, _describe(report)
    assert not [s for s in report.suggestions if s.category == "diagnosis"], _describe(report)


def test_missing_dbp_with_grade1_sbp_is_not_evaluated(engine: cdss.Engine) -> None:
    # SBP 150 is grade 1 unless DBP is >= 100: without DBP the grade is undecided
    report = engine.check(encounter(vitals={"sbp": 150, "dbp": None}))
    missing = _not_evaluated(report)
    assert "vitals.dbp" in missing.get("diagnosis.hypertension.grade1", ()), _describe(report)
    assert not report.suggestions, _describe(report)


def test_missing_problem_list_makes_the_grade_conditional(engine: cdss.Engine) -> None:
    # the problem list is context: the grade is reported, conditional on "not yet
    # diagnosed" (it used to be silent, in not_evaluated only)
    report = engine.check(encounter(vitals={"sbp": 150}, patient={"conditions": None}))
    [grade] = [s for s in report.suggestions if s.rule_id == "diagnosis.hypertension.grade1"]
    assert grade.certainty == "conditional"
    assert grade.severity == "warning"
    [assumed] = grade.to_dict("en")["assumed"]
    assert assumed["field"] == "patient.conditions"
    assert assumed["assumed"] == "hypertension is not already diagnosed"
    assert "if hypertension is not already diagnosed" in grade.text("message", "en")
    assert grade.text("recommendation", "zh").startswith("若尚未诊断高血压：")
    assert "diagnosis.hypertension.grade1" not in _not_evaluated(report)


def test_warfarin_max_daily_not_evaluated(engine: cdss.Engine) -> None:
    # (an atrial-fibrillation diagnosis, so the record is complete apart from the limit)
    report = engine.check(with_rx(rx("warfarin", "3 mg"),
                                  record={"diagnoses": [{"code": "I48", "name": "心房颤动"}]}))
    missing = _not_evaluated(report)
    assert "dosing.dose_high.max_daily" in missing, _describe(report)
    assert any("warfarin" in p for p in missing["dosing.dose_high.max_daily"])
    assert not report.suggestions, _describe(report)


def test_prn_daily_dose_not_evaluated(engine: cdss.Engine) -> None:
    report = engine.check(with_rx(rx("paracetamol", "500 mg", "prn")))
    missing = _not_evaluated(report)
    assert "dosing.dose_high.max_daily" in missing, _describe(report)
    assert any("prescriptions[0].frequency" in p
               for p in missing["dosing.dose_high.max_daily"]), missing
    assert "dosing.dose_high.max_daily" not in {s.rule_id for s in report.suggestions}


def test_second_prescription_path_is_named(engine: cdss.Engine) -> None:
    report = engine.check(with_rx(rx("amlodipine", "5 mg"), rx("paracetamol", "1 g", "prn")))
    missing = _not_evaluated(report)
    assert any("prescriptions[1].frequency" in p
               for p in missing.get("dosing.dose_high.max_daily", ())), missing


def test_unknown_drug_dose_not_evaluated(engine: cdss.Engine) -> None:
    report = engine.check(with_rx(rx("vonoprazanx", "400 mg")))
    missing = _not_evaluated(report)
    assert any("prescriptions[0].drug" in p
               for p in missing.get("dosing.dose_high.max_daily", ())), missing
    assert [s.rule_id for s in report.suggestions] == ["dosing.unknown_drug.not_in_knowledge"]


def test_news2_partial_score_below_band_is_not_evaluated(engine: cdss.Engine) -> None:
    # RR 21 (2) + SpO2 94 (1) + HR 91 (1) = 4, on_oxygen unknown: 4 or 6
    report = engine.check(encounter(vitals={"resp_rate": 21, "spo2": 94, "heart_rate": 91,
                                            "on_oxygen": None}))
    missing = _not_evaluated(report)
    assert "vitals.on_oxygen" in missing.get("diagnosis.news2.medium", ()), _describe(report)
    assert not report.suggestions, _describe(report)


def test_implausible_value_is_withheld_from_other_rules(engine: cdss.Engine) -> None:
    report = engine.check(encounter(vitals={"sbp": 400}))
    assert [s.rule_id for s in report.suggestions] == ["quality.implausible.value"]
    missing = _not_evaluated(report)
    assert any("vitals.sbp" in p for p in missing.get("diagnosis.hypertension.urgent_referral",
                                                      ())), missing


def test_no_record_reports_record_rules_not_evaluated(engine: cdss.Engine) -> None:
    report = engine.check(encounter(record=None))
    missing = _not_evaluated(report)
    assert "record" in missing.get("quality.missing.chief_complaint", ()), _describe(report)
    assert not report.suggestions, _describe(report)
