"""Reasoning under missing data (cdss.reasoning, docs/missing-data.md).

A finding that holds whatever the missing data are is made ("regardless"), at the lowest
severity every completion supports; one that rests only on context the van did not send
(the problem list, the glucose timing) is made as "conditional", worded for it; the data
that would settle the rest is asked for in ``missing_data``. Worked examples first, then
properties over generated sparse encounters.
"""

from __future__ import annotations

import copy
import os
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cdss
from cdss import backends
from cdss.receipt import fixed_clock

from _encounters import without_backend

CLOCK = fixed_clock(datetime(2026, 12, 1, tzinfo=UTC))
ENGINE = cdss.Engine(lang="en", clock=CLOCK)  # the default backend
PYTHON = cdss.Engine(lang="en", backend="python")
#: every other registered backend, compared with the default
OTHERS = {name: cdss.Engine(lang="en", backend=name, clock=CLOCK) for name in backends.names()
          if name != backends.DEFAULT}
RANK = {"info": 0, "warning": 1, "critical": 2}
#: every path a report may name as missing: the contract's input (section 2)
CONTRACT_PREFIXES = ("patient.", "vitals.", "labs.", "record", "prescriptions[", "symptoms",
                     "history.", "visit_type", "knowledge.")


def visit(**parts: Any) -> dict[str, Any]:
    """A sparse van visit: a 56-year-old man and only what ``parts`` add."""
    patient = {"id": "p", "sex": "male", "birth_date": "1970-01-01", **parts.pop("patient", {})}
    return {"id": "v", "time": "2026-11-20T09:30:00+08:00", "patient": patient, **parts}


def woman(age_birth: str, **parts: Any) -> dict[str, Any]:
    return visit(patient={"sex": "female", "birth_date": age_birth}, **parts)


def hb(value: str) -> list[dict[str, str]]:
    return [{"code": "hemoglobin", "value": value}]


def only(report: cdss.Report, prefix: str) -> cdss.report.Suggestion:
    found = [s for s in report.suggestions if s.rule_id.startswith(prefix)]
    assert len(found) == 1, [s.rule_id for s in report.suggestions]
    return found[0]


# ------------------------------------------------------------------ regardless
def test_severe_anaemia_whether_pregnant_or_not() -> None:
    s = only(ENGINE.check(woman("1981-06-01", labs=hb("62 g/L"))), "diagnosis.anaemia.")
    assert (s.certainty, s.severity) == ("regardless", "critical")
    assert s.to_dict("en")["assumed"] == [{"field": "patient.pregnant",
                                            "label": "pregnancy status",
                                            "assumed": "whatever it is", "inferred": False}]
    assert "this holds whatever the missing values are" in s.text("message", "en")
    assert "此结论不论其为何值均成立" in s.text("message", "zh")


def test_moderate_either_way_shows_the_not_pregnant_wording() -> None:
    s = only(ENGINE.check(woman("1981-06-01", labs=hb("95 g/L"))), "diagnosis.anaemia.")
    assert (s.rule_id, s.certainty, s.severity) == (
        "diagnosis.anaemia.women_moderate", "regardless", "warning")


def test_the_lowest_severity_every_completion_supports_and_ask_for_the_rest() -> None:
    # 105 g/L: moderate if not pregnant (warning), mild if pregnant (info)
    report = ENGINE.check(woman("1996-06-01", labs=hb("105 g/L")))
    s = only(report, "diagnosis.anaemia.")
    assert (s.certainty, s.severity) == ("regardless", "info")
    assert [m.field for m in report.missing_data] == ["patient.pregnant"]
    assert report.to_dict()["missing_summary"] == "Missing: pregnancy status"
    assert report.with_lang("zh").to_dict()["missing_summary"] == "缺少：妊娠状态"


def test_near_miss_no_anaemia_either_way_is_quiet() -> None:
    report = ENGINE.check(woman("1981-06-01", labs=hb("125 g/L")))
    assert not [s for s in report.suggestions if s.rule_id.startswith("diagnosis.anaemia.")]


def test_pregnancy_is_not_assumed_from_50_and_the_inference_is_named() -> None:
    s = only(ENGINE.check(woman("1966-06-01", labs=hb("105 g/L"))), "diagnosis.anaemia.")
    assert (s.rule_id, s.certainty) == ("diagnosis.anaemia.women_moderate", "complete")
    [assumed] = s.to_dict("en")["assumed"]
    assert assumed["inferred"] and assumed["field"] == "patient.pregnant"
    assert any(e.get("inferred_from") == ["patient.birth_date"] for e in s.evidence)
    assert "Inferred: pregnancy status not recorded" in s.text("message", "en")
    # 49: still of reproductive age, the pregnancy status stays unknown
    s49 = only(ENGINE.check(woman("1977-06-01", labs=hb("105 g/L"))), "diagnosis.anaemia.")
    assert s49.certainty == "regardless"


# ------------------------------------------------------------------ conditional
def test_bp_grade_without_a_problem_list_is_conditional() -> None:
    for sbp, dbp, rule in ((152, 94, "grade1"), (168, 102, "grade2"), (156, 72, "grade1")):
        s = only(ENGINE.check(visit(vitals={"sbp": sbp, "dbp": dbp})),
                 "diagnosis.hypertension.")
        assert (s.rule_id, s.certainty) == (f"diagnosis.hypertension.{rule}", "conditional")
        assert s.text("recommendation", "en").startswith(
            "If hypertension is not already diagnosed: ")
        assert s.text("title", "zh").startswith("待确认：")


def test_bp_grade_with_a_complete_problem_list_is_complete() -> None:
    s = only(ENGINE.check(visit(patient={"conditions": []}, vitals={"sbp": 152, "dbp": 94})),
             "diagnosis.hypertension.")
    assert (s.certainty, s.assumptions) == ("complete", ())


def test_a_prescribed_antihypertensive_implies_hypertension() -> None:
    report = ENGINE.check(visit(vitals={"sbp": 152, "dbp": 94}, prescriptions=[
        {"drug": "络活喜", "dose": "5 mg", "frequency": "qd"}]))
    assert not [s for s in report.suggestions if s.rule_id.startswith("diagnosis.hypertension")]


def test_glucose_without_timing_is_conditional_on_both() -> None:
    s = only(ENGINE.check(visit(vitals={"glucose": "7.4 mmol/L"})), "diagnosis.diabetes.")
    assert (s.rule_id, s.certainty) == ("diagnosis.diabetes.fasting", "conditional")
    assumed = {a["field"]: a["assumed"] for a in s.to_dict("en")["assumed"]}
    assert assumed == {"patient.conditions": "diabetes mellitus is not already diagnosed",
                       "vitals.glucose_context": "it was a fasting glucose"}
    # near miss: 6.5 random-or-fasting is never diabetes (IFG only if fasting: info)
    report = ENGINE.check(visit(vitals={"glucose": "6.5 mmol/L"}))
    assert all(s.severity == "info" for s in report.suggestions
               if s.rule_id.startswith(("diagnosis.diabetes", "diagnosis.prediabetes")))


def test_hypoglycaemia_on_a_sulfonylurea_without_a_problem_list() -> None:
    report = ENGINE.check(visit(vitals={"glucose": "3.5 mmol/L"}, prescriptions=[
        {"drug": "格列齐特", "dose": "80 mg", "frequency": "bid"}]))
    s = only(report, "diagnosis.hypoglycemia.")
    assert (s.rule_id, s.severity) == ("diagnosis.hypoglycemia.level1_diabetes", "warning")
    assert s.certainty == "regardless"
    assert any(a.get("inferred") for a in s.assumptions)
    assert "implied by the prescription of gliclazide" in s.text("message", "en")
    # near miss: 4.2 is not hypoglycaemia
    quiet = ENGINE.check(visit(vitals={"glucose": "4.2 mmol/L"}, prescriptions=[
        {"drug": "格列齐特", "dose": "80 mg", "frequency": "bid"}]))
    assert not [s for s in quiet.suggestions if s.rule_id.startswith("diagnosis.hypoglycemia")]


# ------------------------------------------------------------------ alert hygiene
def _enrolled(sbp: int, dbp: int) -> dict[str, Any]:
    return visit(patient={"conditions": [{"code": "I10"}, {"code": "E11.9"}]},
                 vitals={"sbp": sbp, "dbp": dbp, "glucose": "9 mmol/L",
                         "glucose_context": "fasting"},
                 history={"followups": [
                     {"date": "2026-10-01", "condition": "I10", "sbp": 130, "dbp": 80},
                     {"date": "2026-10-01", "condition": "E11", "glucose": "6 mmol/L"}]})


def test_urgent_referral_replaces_the_programme_recheck_of_the_same_problem() -> None:
    report = ENGINE.check(_enrolled(192, 114))
    kept = {(s.rule_id, s.subject) for s in report.suggestions}
    assert ("diagnosis.hypertension.urgent_referral", ("patient", "vitals")) in kept
    assert ("followup.uncontrolled.this_visit", ("history.followups:diabetes",)) in kept
    assert ("followup.uncontrolled.this_visit",
            ("history.followups:hypertension",)) not in kept


def test_near_miss_grade_2_keeps_the_programme_recheck() -> None:
    report = ENGINE.check(_enrolled(170, 100))
    subjects = {s.subject for s in report.suggestions
                if s.rule_id == "followup.uncontrolled.this_visit"}
    # both programmes keep their own card (they used to be merged into one)
    assert subjects == {("history.followups:hypertension",), ("history.followups:diabetes",)}


def test_a_rule_may_only_supersede_what_exists(tmp_path) -> None:
    import shutil

    from cdss._resources import rules_dir
    root = tmp_path / "rules"
    shutil.copytree(rules_dir(), root)
    path = root / "diagnosis" / "hypertension.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "supersedes: [followup_control@hypertension]", "supersedes: [no_such_group]"),
        encoding="utf-8")
    with pytest.raises(cdss.RuleSpecError, match="no_such_group"):
        cdss.Engine(rules_dir=root)


# ------------------------------------------------------------------ what to ask for
def test_potassium_is_asked_for_an_acei_with_a_potassium_supplement() -> None:
    report = ENGINE.check(visit(prescriptions=[
        {"drug": "卡托普利", "dose": "25 mg", "frequency": "tid"},
        {"drug": "氯化钾", "dose": "1 g", "frequency": "tid"}]))
    assert "labs.potassium" in {m.field for m in report.missing_data}
    assert "血钾" in report.with_lang("zh").to_dict()["missing_summary"]


def test_nothing_is_asked_of_a_visit_with_nothing_to_settle() -> None:
    # potassium, sodium and haemoglobin rules exist for everyone: not worth asking for
    report = ENGINE.check(visit(patient={"conditions": []}, vitals={"sbp": 118, "dbp": 76}))
    assert report.missing_data == []
    assert report.not_evaluated and not any(n.ask for n in report.not_evaluated)
    assert not [c for c in report.to_cds_hooks()["cards"]
                if c["source"]["topic"]["code"] == "missing_data"]


def test_a_missing_dbp_with_a_raised_sbp_is_asked_for() -> None:
    report = ENGINE.check(visit(patient={"conditions": []}, vitals={"sbp": 150}))
    assert "vitals.dbp" in {m.field for m in report.missing_data}
    card = report.to_cds_hooks()["cards"][-1]
    assert card["indicator"] == "info" and "diastolic" in card["summary"]


def test_record_quality_and_knowledge_gaps_are_never_asked_for() -> None:
    report = ENGINE.check(visit(prescriptions=[{"drug": "华法林", "dose": "3 mg",
                                                "frequency": "qd"}]))
    fields = {m.field for m in report.missing_data}
    assert not {f for f in fields if f.startswith(("record", "knowledge.", "prescriptions"))}


# ------------------------------------------------------------------ properties
#: CDSS_PROPERTY_SCALE=20 for a longer bug hunt (as tests/test_properties.py)
_SETTINGS = settings(max_examples=60 * max(1, int(os.environ.get("CDSS_PROPERTY_SCALE", "1"))),
                     deadline=None, suppress_health_check=[HealthCheck.too_slow])
_DRUGS = [None, {"drug": "氨氯地平", "dose": "5 mg", "frequency": "qd"},
          {"drug": "格列齐特", "dose": "80 mg", "frequency": "bid"},
          {"drug": "布洛芬", "dose": "0.2 g", "frequency": "tid"},
          {"drug": "华法林", "dose": "3 mg", "frequency": "qd"}]


@st.composite
def sparse_visits(draw: st.DrawFn) -> dict[str, Any]:
    """The few things a van sends, each possibly absent."""
    year = draw(st.integers(1930, 2004))
    patient: dict[str, Any] = {"id": "p", "sex": draw(st.sampled_from(["male", "female"])),
                               "birth_date": f"{year}-06-01"}
    if draw(st.booleans()):
        # (a pregnancy is recorded only where it is possible: before 50, as the
        # knowledge assumes; a record saying otherwise is its own problem)
        patient["pregnant"] = (draw(st.booleans()) and patient["sex"] == "female"
                               and year > 1976)
    if draw(st.booleans()):
        patient["conditions"] = [{"code": c} for c in draw(
            st.lists(st.sampled_from(["I10", "E11.9", "N18.3", "J45.9"]), max_size=2,
                     unique=True))]
    vitals: dict[str, Any] = {}
    if draw(st.booleans()):
        vitals["sbp"] = draw(st.integers(95, 200))
        if draw(st.booleans()):
            vitals["dbp"] = draw(st.integers(55, 120))
    if draw(st.booleans()):
        vitals["glucose"] = f"{draw(st.integers(25, 200)) / 10} mmol/L"
        if draw(st.booleans()):
            vitals["glucose_context"] = draw(st.sampled_from(["fasting", "random"]))
    labs = []
    if draw(st.booleans()):
        labs.append({"code": "hemoglobin", "value": f"{draw(st.integers(50, 160))} g/L"})
    if draw(st.booleans()):
        labs.append({"code": "creatinine", "value": f"{draw(st.integers(50, 400))} umol/L"})
    drug = draw(st.sampled_from(_DRUGS))
    return {"id": "v", "time": "2026-11-20T09:30:00+08:00", "patient": patient,
            "vitals": vitals, "labs": labs, "prescriptions": [drug] if drug else []}


def _findings(report: cdss.Report, certain: bool = False,
              about_absent: str | None = None) -> dict[tuple[Any, ...], str]:
    """(finding, subject) -> severity; ``certain``: not conditional ones; ``about_absent``:
    without those that say this field is absent (added data contradicts them)."""
    return {(s.group or s.rule_id, s.subject): s.severity for s in report.suggestions
            if (not certain or s.certainty != "conditional") and not any(
                e.get("condition") == "absent" and e["field"] == about_absent
                for e in s.evidence)}


_COMPLETIONS: list[tuple[str, Any]] = [
    ("pregnant", False), ("pregnant", True), ("conditions", []),
    ("conditions", [{"code": "J45.9"}])]


@_SETTINGS
@given(sparse_visits(), st.sampled_from(_COMPLETIONS))
def test_adding_data_keeps_every_certain_finding(enc: dict[str, Any],
                                                 completion: tuple[str, Any]) -> None:
    """Filling a missing field with a value that contradicts nothing keeps every finding
    that held whatever the missing data were, at no lower severity."""
    key, value = completion
    if key in enc["patient"] or (key == "pregnant" and enc["patient"]["sex"] == "male"):
        return
    if key == "pregnant" and value and enc["patient"]["birth_date"] < "1977":
        return  # contradicts the inference "not pregnant from 50" (knowledge/inference.yaml)
    before = _findings(ENGINE.check(enc), certain=True, about_absent=f"patient.{key}")
    fuller = copy.deepcopy(enc)
    fuller["patient"][key] = value
    report = ENGINE.check(fuller)
    after = _findings(report)
    # replaced by a finding the added data made (pregnant: the pregnancy referral
    # replaces the BP grade): kept in substance, more severe
    replaced = {name.partition("@")[0] for s in report.suggestions for name in s.supersedes}
    for finding, severity in before.items():
        if finding[0] in replaced:
            continue
        assert finding in after, (finding, enc, key, value)
        assert RANK[after[finding]] >= RANK[severity], (finding, enc, key, value)


@_SETTINGS
@given(sparse_visits(), st.sampled_from(["pregnant", "conditions", "glucose_context",
                                         "dbp"]))
def test_removing_data_never_makes_a_new_or_more_severe_certain_finding(
        enc: dict[str, Any], field: str) -> None:
    """Removing a field can silence or weaken a finding, never make a certain one that
    the fuller record did not make, nor raise a certain finding's severity (a finding
    about the absence itself, "pregnancy status not recorded", aside)."""
    sparser = copy.deepcopy(enc)
    for part in ("patient", "vitals"):
        sparser[part].pop(field, None)
    full_report = ENGINE.check(enc)
    full = _findings(full_report)
    # what the fuller record's findings replaced (an urgent referral replaces the
    # programme's re-check): made there too, only not shown
    replaced = {name.partition("@")[0] for s in full_report.suggestions for name in s.supersedes}
    path = f"{'vitals' if field in ('glucose_context', 'dbp') else 'patient'}.{field}"
    for finding, severity in _findings(ENGINE.check(sparser), certain=True,
                                       about_absent=path).items():
        if finding[0] in replaced:
            continue
        assert finding in full, (finding, enc, field)
        assert RANK[severity] <= RANK[full[finding]], (finding, enc, field)


@_SETTINGS
@given(sparse_visits())
def test_missing_data_names_only_contract_input(enc: dict[str, Any]) -> None:
    report = ENGINE.check(enc)
    for n in report.not_evaluated:
        assert all(p.startswith(CONTRACT_PREFIXES) for p in n.missing), n
    for m in report.missing_data:
        assert m.field.startswith(CONTRACT_PREFIXES) and not m.field.startswith(
            ("knowledge.", "record")), m
        assert m.label["zh"] != m.field and m.label["en"] != m.field, m
    for s in report.suggestions:
        assert s.certainty in ("complete", "regardless", "conditional")
        assert (s.certainty == "complete") or s.assumptions, s


@pytest.mark.parametrize("backend", sorted(OTHERS))
@_SETTINGS
@given(enc=sparse_visits())
def test_every_backend_reasons_alike(backend: str, enc: dict[str, Any]) -> None:
    assert without_backend(ENGINE.check(enc)) == without_backend(OTHERS[backend].check(enc))


@_SETTINGS
@given(sparse_visits())
def test_the_audit_reports_what_check_reports(enc: dict[str, Any]) -> None:
    assert [s.rule_id for s in PYTHON.findings(enc, evidence=False)] == \
        [s.rule_id for s in PYTHON.check(enc).suggestions]


# ------------------------------------------------------------------ how vans write it
def test_chinese_yes_no_sex_and_a_single_symptom_text_are_read() -> None:
    report = ENGINE.check(visit(patient={"sex": "女", "birth_date": "1990-01-01",
                                         "pregnant": "是"},
                                vitals={"sbp": 150, "dbp": 100, "temperature": "38.5度"},
                                symptoms="胸痛伴大汗"))
    ids = [s.rule_id for s in report.suggestions]
    assert "diagnosis.pregnancy_bp.raised_referral" in ids
    assert "diagnosis.temperature.fever" in ids
    # the high-risk chest pain card replaces the plain "ECG within 10 minutes" one
    assert "diagnosis.symptom.chest_pain_high_risk" in ids
    assert "diagnosis.symptom.chest_pain_ecg" not in ids
    for bad in ({"sex": "xx"}, {"pregnant": "也许"}):
        with pytest.raises(cdss.InputError):
            ENGINE.check(visit(patient=bad))
    with pytest.raises(cdss.InputError, match="prescriptions"):
        ENGINE.check(visit(prescriptions=[{"drug": "阿莫西林", "dose": "5 度"}]))


def test_chinese_units_and_words_are_read() -> None:
    from cdss.models import Encounter
    enc = Encounter.parse(visit(visit_type="复诊",
                                patient={"weight": "104 斤", "height": "165 厘米"},
                                vitals={"consciousness": "清醒", "glucose_context": "空腹"},
                                prescriptions=[{"drug": "二甲双胍", "dose": "0.5 克",
                                                "frequency": "bid"}]))
    assert enc.visit_type == "return" and enc.patient.weight == pytest.approx(52.0)
    assert enc.patient.height == pytest.approx(165.0)
    assert (enc.vitals.consciousness, enc.vitals.glucose_context) == ("alert", "fasting")
    assert enc.prescriptions[0].dose.value == pytest.approx(500.0)
    with pytest.raises(cdss.InputError):
        Encounter.parse(visit(vitals={"consciousness": "还行"}))


def test_a_laboratory_glucose_is_read_when_the_visit_has_none() -> None:
    report = ENGINE.check(visit(labs=[{"code": "glucose", "value": "2.1 mmol/L"}]))
    s = only(report, "diagnosis.hypoglycemia.")
    assert s.rule_id == "diagnosis.hypoglycemia.level2"
    assert s.evidence[0]["field"] == "labs[0].value"
    # the visit's own glucose wins when both are there
    both = ENGINE.check(visit(vitals={"glucose": "5.5 mmol/L"},
                              labs=[{"code": "glucose", "value": "2.1 mmol/L"}]))
    assert not [s for s in both.suggestions if s.rule_id.startswith("diagnosis.hypoglycemia")]


def test_a_followup_fasting_glucose_may_be_sent_as_fpg() -> None:
    from cdss.models import Encounter
    enc = Encounter.parse(visit(history={"followups": [
        {"date": "2026-10-01", "fpg": "8 mmol/L"},
        {"date": "2026-09-01", "fasting_glucose": "7.2 mmol/L"}]}))
    assert [f.glucose for f in enc.history.followups] == [8.0, 7.2]
