"""Record-quality and chronic follow-up: a quiet panel, audit, screening and properties.

The single-rule threshold cases are in ``tests/cases/quality_more.yaml`` and
``tests/cases/followup.yaml``; this module checks what a case file cannot express:

* a negative panel of complete, correct records that get no ``quality`` suggestion at all;
* ``engine.audit``'s compliance figures (overall and per physician) on a small mix;
* ``engine.screen`` and ``python -m cdss screen`` on a small registry (who is listed,
  in which order, with which due dates, and where a bad entry goes);
* two hypothesis properties: completing a record never adds a missing-section finding,
  and moving a whole encounter in time does not change the follow-up or quality findings.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cdss

from _encounters import encounter, rx, with_rx

ENGINE = cdss.Engine(lang="en")
PROPERTY = settings(max_examples=40, deadline=None)

_HTN = [{"code": "I10", "name": "原发性高血压"}]
_DM = [{"code": "E11.9", "name": "2型糖尿病"}]


def _ids(report: Any, category: str) -> list[str]:
    return sorted({s.rule_id for s in report.suggestions if s.category == category})


def _describe(report: Any) -> str:
    return "\n  ".join(["report:", *(f"{s.rule_id} [{s.severity}]"
                                      for s in report.suggestions)])


# ------------------------------------------------------------------ negative panel
def _return(**kw: Any) -> dict[str, Any]:
    """A return visit: past history may be left out."""
    return encounter({"visit_type": "return", "record": {"past_history": ""}}, **kw)


def _quality_panel() -> list[tuple[str, dict[str, Any]]]:
    woman = {"sex": "female", "birth_date": "1972-04-02"}
    return [
        ("complete first visit", encounter()),
        ("complete return visit", encounter(visit_type="return")),
        ("return visit without past history", _return()),
        ("return visit, allergies not reviewed and no allergy history",
         _return(patient={"allergies_reviewed": False}, record={"allergy_history": ""})),
        ("first visit, allergy history written, review flag absent",
         encounter(patient={"allergies_reviewed": None},
                   record={"allergy_history": "青霉素过敏（皮疹）"})),
        ("first visit, allergies reviewed, allergy history left blank",
         encounter(record={"allergy_history": ""})),
        ("hypertension diagnosed with BP recorded",
         encounter(vitals={"sbp": 146, "dbp": 92},
                   record={"diagnoses": [{"code": "I10", "name": "原发性高血压"}],
                           "treatment_plan": "氨氯地平 5 mg qd，2周后复诊。"})),
        ("hypertension follow-up on amlodipine, return visit",
         with_rx(rx("amlodipine", "5 mg", duration="28 d"), visit_type="return",
                 patient={"conditions": _HTN}, vitals={"sbp": 132, "dbp": 82},
                 record={"diagnoses": [{"code": "I10", "name": "原发性高血压"}]},
                 history={"followups": [{"date": "2026-09-01", "condition": "I10",
                                         "sbp": 134, "dbp": 84}]})),
        ("type 2 diabetes on metformin, fasting glucose recorded",
         with_rx(rx("metformin", "500 mg", "bid", duration="28 d"), patient={"conditions": _DM},
                 vitals={"glucose": "6.4 mmol/L", "glucose_context": "fasting"},
                 record={"diagnoses": [{"code": "E11.9", "name": "2型糖尿病"}]})),
        # a complete record of a penicillin prescription notes the skin test (处方管理办法
        # 第三十五条; rules/quality/skin_test.yaml)
        ("antibiotic with allergies reviewed and written",
         with_rx(dict(rx("amoxicillin", "500 mg", "tid"), skin_test={"result": "negative"}),
                 vitals={"temperature": "38.0 degC"},
                 record={"diagnoses": [{"code": "J02.9", "name": "急性咽炎"}]})),
        ("antibiotic at a return visit with a written allergy history only",
         with_rx(rx("cefuroxime", "250 mg", "bid"), visit_type="return",
                 patient={"allergies_reviewed": False},
                 record={"diagnoses": [{"code": "J20.9", "name": "急性支气管炎"}]})),
        ("woman with a female-genital diagnosis",
         encounter(patient=woman,
                   record={"diagnoses": [{"code": "N76.0", "name": "急性阴道炎"}]})),
        ("man with a male-genital diagnosis",
         encounter(patient={"birth_date": "1955-01-01"},
                   record={"diagnoses": [{"code": "N40", "name": "前列腺增生"}]})),
        ("signed at the visit time exactly",
         encounter(record={"signed_at": "2026-11-20T09:30:00+08:00"})),
        ("signed exactly 24 hours after the visit",
         encounter(record={"signed_at": "2026-11-21T09:30:00+08:00"})),
        ("signing time written in UTC, 10 minutes after the visit",
         encounter(record={"signed_at": "2026-11-20T01:40:00Z"})),
        ("several diagnoses and prescriptions",
         with_rx(rx("amlodipine", "5 mg"), rx("atorvastatin", "20 mg", "qn"),
                 patient={"conditions": [*_HTN, {"code": "E78.0", "name": "高胆固醇血症"}]},
                 vitals={"sbp": 128, "dbp": 78},
                 record={"diagnoses": [{"code": "I10", "name": "原发性高血压"},
                                       {"code": "E78.0", "name": "高胆固醇血症"}]})),
        ("short but present sections",
         encounter(record={"chief_complaint": "咳嗽3天", "present_illness": "咳嗽",
                           "past_history": "体健", "physical_exam": "无异常",
                           "treatment_plan": "观察", "physician": "王"})),
        ("no prescriptions, hypertension only on the problem list and no BP",
         encounter(patient={"conditions": _HTN}, vitals={"sbp": None, "dbp": None})),
    ]


QUALITY_PANEL = _quality_panel()


def test_quality_panel_is_large_enough() -> None:
    assert len(QUALITY_PANEL) >= 15
    assert {e.get("visit_type") for _, e in QUALITY_PANEL} == {"first", "return"}


@pytest.mark.parametrize("enc", [p[1] for p in QUALITY_PANEL], ids=[p[0] for p in QUALITY_PANEL])
def test_complete_records_get_no_quality_suggestion(enc: dict[str, Any]) -> None:
    report = ENGINE.check(enc)
    assert _ids(report, "quality") == [], _describe(report)


# -------------------------------------------------------------------------- audit
def _by(physician: str, ident: str, **kw: Any) -> dict[str, Any]:
    return encounter({"id": ident, "record": {"physician": physician}}, **kw)


def _audit_mix() -> list[Any]:
    return [
        _by("张医生", "a1"),                                                  # compliant
        _by("张医生", "a2", record={"physical_exam": ""}),                     # warning
        _by("张医生", "a3", record={"signed_at": None}),                       # info only
        _by("李医生", "b1"),                                                  # compliant
        _by("李医生", "b2", record={"diagnoses": []},
            prescriptions=[rx("paracetamol", "500 mg", "q6h", duration="3 d")]),  # 2 warnings
        _by("李医生", "b3", visit_type="return", record={"past_history": ""}),  # compliant
        _by("", "u1"),                                                       # unsigned
        {"id": "bad", "time": "not a time", "patient": {"id": "x"}},         # error
    ]


def test_audit_compliance_rate_and_by_physician() -> None:
    result = ENGINE.audit(_audit_mix())
    assert result.checked == 7
    assert result.inputs == 8
    assert [e["encounter_id"] for e in result.errors] == ["bad"]
    findings = {r["encounter_id"]: sorted(r["quality_findings"]) for r in result.records}
    assert findings == {
        "a1": [], "a2": ["quality.missing.physical_exam"], "a3": [], "b1": [],
        "b2": ["quality.inconsistent.prescription_without_diagnosis",
               "quality.missing.diagnosis"],
        "b3": [], "u1": ["quality.missing.physician"],
    }
    assert result.compliance_rate() == pytest.approx(4 / 7)
    assert result.compliance_by_physician() == {
        "": {"records": 1, "compliant": 0, "rate": 0.0},
        "张医生": {"records": 3, "compliant": 2, "rate": pytest.approx(2 / 3)},
        "李医生": {"records": 3, "compliant": 2, "rate": pytest.approx(2 / 3)},
    }
    # the info-only record still has its row in the suggestions
    assert any(r["encounter_id"] == "a3" and r["rule_id"] == "quality.missing.signing_time"
               for r in result.rows)


def test_audit_of_nothing_has_no_rate() -> None:
    result = ENGINE.audit([])
    assert result.compliance_rate() is None
    assert result.compliance_by_physician() == {}


def test_audit_all_compliant() -> None:
    result = ENGINE.audit([p[1] for p in QUALITY_PANEL[:5]])
    assert result.compliance_rate() == 1.0
    assert result.compliance_by_physician() == {"张医生": {"records": 5, "compliant": 5,
                                                         "rate": 1.0}}


# ------------------------------------------------------------------------- screen
AS_OF = "2026-05-01"


def _registry() -> list[dict[str, Any]]:
    return [
        # routine follow-up 120 days ago: due 2026-04-01, 30 days overdue
        {"patient": {"id": "p-htn", "sex": "male", "birth_date": "1960-01-01",
                     "conditions": _HTN},
         "history": {"followups": [{"date": "2026-01-01", "condition": "I10",
                                    "sbp": 132, "dbp": 84}]}},
        # diabetic uncontrolled (FPG 9.1) 11 days ago: recheck due 2026-05-04
        {"patient": {"id": "p-dm", "sex": "female", "birth_date": "1965-05-05",
                     "conditions": _DM},
         "history": {"followups": [{"date": "2026-04-20", "condition": "E11",
                                    "glucose": "9.1 mmol/L"}]}},
        # controlled, seen 30 days ago: nothing to do
        {"patient": {"id": "p-ok", "sex": "male", "birth_date": "1970-01-01",
                     "conditions": _HTN},
         "history": {"followups": [{"date": "2026-04-01", "condition": "I10",
                                    "sbp": 128, "dbp": 80}]}},
        # routine follow-up 181 days ago: due 2026-01-30, 91 days overdue
        {"patient": {"id": "p-htn2", "sex": "female", "birth_date": "1950-07-07",
                     "conditions": _HTN},
         "history": {"followups": [{"date": "2025-11-01", "condition": "I10",
                                    "sbp": 136, "dbp": 86}]}},
        # a bad entry: no patient id and an unreadable date
        {"patient": {"sex": "male"}, "history": {"followups": [{"date": "not a date"}]}},
    ]


EXPECTED_ROWS = [
    ("p-htn2", "hypertension", "followup.overdue.routine", "warning", "2026-01-30", 91),
    ("p-htn", "hypertension", "followup.overdue.routine", "warning", "2026-04-01", 30),
    ("p-dm", "diabetes", "followup.uncontrolled.last_followup", "warning", "2026-05-04", -3),
    ("p-dm", "diabetes", "followup.due.soon", "info", "2026-05-04", -3),
]


def _row_tuples(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["patient_id"], r["programme"], r["rule_id"], r["severity"], r["due_date"],
             r["days_overdue"]) for r in rows]


@pytest.mark.parametrize("as_of", [AS_OF, date(2026, 5, 1)], ids=["str", "date"])
def test_screen_lists_overdue_and_uncontrolled_by_urgency(as_of: Any) -> None:
    result = ENGINE.screen(_registry(), as_of=as_of)
    assert result.as_of == date(2026, 5, 1)
    assert result.screened == 4
    assert _row_tuples(result.rows) == EXPECTED_ROWS
    assert "p-ok" not in {r["patient_id"] for r in result.rows}
    assert [e["input"] for e in result.errors] == ["item 4"]
    assert "patient.id" in result.errors[0]["error"]
    ranks = [({"critical": 0, "warning": 1, "info": 2}[r["severity"]], -r["days_overdue"])
             for r in result.rows]
    assert ranks == sorted(ranks)
    for r in result.rows:
        date.fromisoformat(r["due_date"])
        assert r["why"] and "{" not in r["why"]


def test_screen_lists_enrolled_patients_without_follow_up_last() -> None:
    # a screen has no visit, so only the history is judged: an enrolled patient with no
    # follow-up on record is an info row, with no due date, after the overdue one
    new = {"patient": {"id": "p-new", "sex": "male", "conditions": _HTN},
           "history": {"followups": []}}
    entries = [new, *_registry()[:1]]
    result = ENGINE.screen(entries, as_of=AS_OF)
    assert _row_tuples(result.rows) == [
        EXPECTED_ROWS[1],
        ("p-new", "hypertension", "followup.overdue.none_recorded", "info", None, None),
    ]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cdss", *args], capture_output=True,
                          text=True, encoding="utf-8", timeout=300,
                          cwd=Path(__file__).resolve().parent.parent)


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_cli_screen_json(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"registry{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(_registry(), ensure_ascii=False), encoding="utf-8")
    else:
        path.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in _registry()),
                        encoding="utf-8")
    proc = _cli("screen", str(path), "--as-of", AS_OF, "--format", "json", "--lang", "en")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["as_of"] == AS_OF
    assert out["screened"] == 4
    assert _row_tuples(out["rows"]) == EXPECTED_ROWS
    assert len(out["errors"]) == 1
    assert out["errors"][0]["input"] == ("item 4" if suffix == ".json" else "line 5")


def test_cli_screen_text(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(_registry(), ensure_ascii=False), encoding="utf-8")
    proc = _cli("screen", str(path), "--as-of", AS_OF, "--lang", "en")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "4 patients screened" in lines[0]
    body = "\n".join(lines[1:])
    assert "p-ok" not in body
    order = [body.index(pid) for pid in ("p-htn2", "p-htn ", "p-dm")]
    assert order == sorted(order)
    assert "2026-01-30" in body and "2026-05-04" in body
    assert "error" in body


def test_cli_screen_rejects_a_bad_date(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text("[]", encoding="utf-8")
    proc = _cli("screen", str(path), "--as-of", "2026-13-01", "--format", "json")
    assert proc.returncode != 0
    assert "--as-of" in proc.stderr + proc.stdout


# --------------------------------------------------------- property: completing
#: section -> the value that fills it (record keys; "allergies_reviewed" is the patient's)
_SECTIONS: dict[str, Any] = {
    "chief_complaint": "头痛2天",
    "present_illness": "2天前无诱因出现头痛，无发热。",
    "past_history": "既往体健。",
    "allergy_history": "否认药物过敏史",
    "physical_exam": "神清，颈软，心肺无异常。",
    "diagnoses": [{"code": "R51", "name": "头痛"}],
    "treatment_plan": "对症治疗，不适随诊。",
    "physician": "张医生",
    "signed_at": "2026-11-20T09:50:00+08:00",
    "allergies_reviewed": True,
}


def _partial_record(present: frozenset[str], visit_type: str, prescribed: bool
                    ) -> dict[str, Any]:
    enc = encounter(visit_type=visit_type)
    for name in _SECTIONS:
        if name == "allergies_reviewed":
            enc["patient"][name] = name in present
        elif name in present:
            enc["record"][name] = copy.deepcopy(_SECTIONS[name])
        else:
            enc["record"].pop(name, None)
    if prescribed:  # with its skin-test result, as a complete record notes it
        enc["prescriptions"] = [dict(rx("amoxicillin", "500 mg", "tid"),
                                     skin_test={"result": "negative"})]
    return enc


def _missing(enc: dict[str, Any]) -> set[str]:
    return {s.rule_id for s in ENGINE.check(enc).suggestions
            if s.rule_id.startswith("quality.missing.")}


@PROPERTY
@given(present=st.frozensets(st.sampled_from(sorted(_SECTIONS))),
       visit_type=st.sampled_from(["first", "return"]), prescribed=st.booleans(),
       data=st.data())
def test_adding_a_section_never_adds_a_missing_finding(
        present: frozenset[str], visit_type: str, prescribed: bool, data: st.DataObject
) -> None:
    absent = sorted(set(_SECTIONS) - present)
    if not absent:
        assert _missing(_partial_record(present, visit_type, prescribed)) == set()
        return
    added = data.draw(st.sampled_from(absent), label="added")
    before = _missing(_partial_record(present, visit_type, prescribed))
    after = _missing(_partial_record(present | {added}, visit_type, prescribed))
    new = after - before
    assert not new, (added, before, after)
    own = {"diagnoses": "quality.missing.diagnosis",
           "signed_at": "quality.missing.signing_time"}.get(added, f"quality.missing.{added}")
    assert own not in after


def test_a_missing_signature_and_time_are_two_findings() -> None:
    """Adding the signature then removes one finding and adds none."""
    enc = encounter(record={"physician": None, "signed_at": None})
    assert _missing(enc) == {"quality.missing.physician", "quality.missing.signing_time"}
    enc["record"]["physician"] = "张医生"
    assert _missing(enc) == {"quality.missing.signing_time"}


# ---------------------------------------------------------- property: time shift
def _shift_date(text: str, days: int) -> str:
    return (date.fromisoformat(text) + timedelta(days=days)).isoformat()


def _shift_time(text: str, days: int) -> str:
    return (datetime.fromisoformat(text) + timedelta(days=days)).isoformat()


def _shifted(enc: dict[str, Any], days: int) -> dict[str, Any]:
    out = copy.deepcopy(enc)
    out["time"] = _shift_time(out["time"], days)
    out["patient"]["birth_date"] = _shift_date(out["patient"]["birth_date"], days)
    if out["record"].get("signed_at"):
        out["record"]["signed_at"] = _shift_time(out["record"]["signed_at"], days)
    for lab in out.get("labs", []):
        lab["time"] = _shift_date(lab["time"], days)
    for f in (out.get("history") or {}).get("followups", []):
        f["date"] = _shift_date(f["date"], days)
    return out


_followup_entry = st.fixed_dictionaries({
    "days_ago": st.integers(-5, 200),
    "condition": st.sampled_from(["I10", "E11", None]),
    "sbp": st.integers(110, 170), "dbp": st.integers(65, 105),
    "glucose": st.sampled_from([None, 5.8, 6.9, 7.0, 9.1]),
})


@st.composite
def _timed_encounters(draw: st.DrawFn) -> dict[str, Any]:
    hour, minute = draw(st.integers(0, 23)), draw(st.integers(0, 59))
    visit = datetime.fromisoformat(f"2026-11-20T{hour:02d}:{minute:02d}:00+08:00")
    conditions = draw(st.sampled_from([[], _HTN, _DM, [*_HTN, *_DM]]))
    entries = draw(st.lists(_followup_entry, max_size=3))
    history = None if draw(st.booleans()) and not entries else {"followups": [
        {k: v for k, v in {
            "date": (visit.date() - timedelta(days=e["days_ago"])).isoformat(),
            "condition": e["condition"], "sbp": e["sbp"], "dbp": e["dbp"],
            "glucose": None if e["glucose"] is None else f"{e['glucose']} mmol/L"}.items()
         if v is not None} for e in entries]}
    signed = draw(st.one_of(st.none(), st.integers(-120, 3000)))
    vitals: dict[str, Any] = {"sbp": draw(st.sampled_from([None, 118, 139, 140, 165])),
                              "dbp": draw(st.sampled_from([None, 76, 89, 90])),
                              "glucose": draw(st.sampled_from(["5.5 mmol/L", "7.0 mmol/L",
                                                               "9.1 mmol/L"])),
                              "glucose_context": draw(st.sampled_from(["fasting", "random"]))}
    diagnoses = draw(st.sampled_from([[], _HTN, _DM, [{"code": "Z00.0", "name": "体检"}]]))
    return encounter({
        "time": visit.isoformat(),
        "visit_type": draw(st.sampled_from(["first", "return"])),
        "patient": {"conditions": conditions},
        "vitals": vitals,
        "record": {"diagnoses": diagnoses,
                   "signed_at": None if signed is None
                   else (visit + timedelta(minutes=signed)).isoformat()},
        "history": history,
    })


@PROPERTY
@given(enc=_timed_encounters(), days=st.integers(-3650, 3650))
def test_shifting_every_date_keeps_followup_and_quality_findings(
        enc: dict[str, Any], days: int) -> None:
    before = ENGINE.check(enc)
    after = ENGINE.check(_shifted(enc, days))
    assert _ids(after, "followup") == _ids(before, "followup"), (enc, days)
    assert _ids(after, "quality") == _ids(before, "quality"), (enc, days)
