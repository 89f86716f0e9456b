"""Which lab result the rules see (cdss/derive/labs.py), pinned exactly where a mutmut
run showed it untested (docs/mutation-testing.md): the notes and missing entries of a
result that cannot be used, and the latest result by time, zone and order sent."""

from __future__ import annotations

from typing import Any

import pytest

import cdss
from cdss.derive import build_facts
from cdss.kb import load_knowledge

KB = load_knowledge()
ENGINE = cdss.Engine(lang="en", backend="python")
VISIT = "2026-11-20T09:00:00+08:00"
NO_VALUE = {"message": "lab result without a value: not used by any rule",
            "message_zh": "检验结果无数值：未用于任何规则"}


def facts(labs: list[dict[str, Any]], time: str = VISIT):
    return build_facts(ENGINE.parse({
        "id": "e", "time": time, "labs": labs,
        "patient": {"id": "p", "sex": "male", "birth_date": "1960-01-01"}}), KB)


def potassium(fs) -> tuple[float, str]:
    """The potassium the rules see, and the result it came from."""
    [labs] = fs.of_type("labs")
    return labs["potassium"], fs.field_paths[(labs["id"], "potassium")]


def test_results_without_a_value_are_notes_and_the_first_is_the_missing_source() -> None:
    fs = facts([{"code": "potassium"}, {"code": "potassium"}])
    assert fs.of_type("labs") == [{"t": "labs", "id": "labs#0"}]
    assert fs.notes == [{"field": "labs[0].value", **NO_VALUE},
                        {"field": "labs[1].value", **NO_VALUE}]
    assert fs.missing["labs.potassium"] == ("labs[0].value (no value)",)


def test_a_result_without_a_value_does_not_hide_one_with_a_value() -> None:
    fs = facts([{"code": "potassium", "value": "4.2 mmol/L", "time": "2026-11-19"},
                {"code": "potassium"}])
    assert potassium(fs) == (4.2, "labs[0].value")
    assert "labs.potassium" not in fs.missing


def test_an_unknown_code_is_a_note_and_nothing_is_missing_for_it() -> None:
    fs = facts([{"code": "zzz", "value": "1 mmol/L"}])
    assert fs.notes == [{"field": "labs[0].code",
                         "message": "unknown lab code 'zzz': not used by any rule",
                         "message_zh": "未知检验代码 'zzz'：未用于任何规则"}]
    assert not [k for k in fs.missing if k.startswith("labs.")]


@pytest.mark.parametrize(("labs", "time", "expected"), [
    # untimed results count as taken at the visit; on a tie the last one sent wins
    ([{"value": "4.0 mmol/L"}, {"value": "5.0 mmol/L"}], VISIT, (5.0, "labs[1].value")),
    ([{"value": "4.0 mmol/L", "time": VISIT}, {"value": "5.0 mmol/L", "time": VISIT}],
     VISIT, (5.0, "labs[1].value")),
    ([{"value": "4.0 mmol/L"}, {"value": "5.0 mmol/L", "time": VISIT}],
     VISIT, (5.0, "labs[1].value")),
    ([{"value": "5.0 mmol/L", "time": VISIT}, {"value": "4.0 mmol/L"}],
     VISIT, (4.0, "labs[1].value")),
    # before the visit, the untimed one (at the visit) is later; after it, the timed one
    ([{"value": "4.0 mmol/L"}, {"value": "5.0 mmol/L", "time": "2026-11-20T08:59:00+08:00"}],
     VISIT, (4.0, "labs[0].value")),
    ([{"value": "4.0 mmol/L"}, {"value": "5.0 mmol/L", "time": "2026-11-20T09:01:00+08:00"}],
     VISIT, (5.0, "labs[1].value")),
    # a date is the whole day: later than anything timed that day
    ([{"value": "4.0 mmol/L", "time": "2026-11-20T23:00:00+08:00"},
      {"value": "5.0 mmol/L", "time": "2026-11-20"}], VISIT, (5.0, "labs[1].value")),
    ([{"value": "5.0 mmol/L", "time": "2026-11-20"},
      {"value": "4.0 mmol/L", "time": "2026-11-20T23:00:00+08:00"}],
     VISIT, (5.0, "labs[0].value")),
    # a zoneless time is read in the visit's zone: 08:00+08:00 is before 01:30Z
    ([{"value": "4.0 mmol/L", "time": "2026-11-20T08:00:00"},
      {"value": "5.0 mmol/L", "time": "2026-11-20T01:30:00Z"}], VISIT, (5.0, "labs[1].value")),
    # a zoneless visit: zoneless times are read in the first lab zone (here UTC)
    ([{"value": "4.0 mmol/L", "time": "2026-11-20T08:00:00"},
      {"value": "5.0 mmol/L", "time": "2026-11-20T01:30:00Z"}],
     "2026-11-20T09:00:00", (4.0, "labs[0].value")),
    ([{"value": "4.0 mmol/L", "time": "2026-11-20T08:00:00+08:00"},
      {"value": "5.0 mmol/L", "time": "2026-11-20T01:30:00Z"}],
     "2026-11-20T09:00:00", (5.0, "labs[1].value")),
])
def test_the_latest_result_is_the_one_the_rules_see(labs, time, expected) -> None:
    fs = facts([{"code": "potassium", **lab} for lab in labs], time)
    assert potassium(fs) == expected


def test_a_glucose_in_mg_dl_is_converted_by_its_molar_mass() -> None:
    [labs] = facts([{"code": "glucose", "value": "126 mg/dL"}]).of_type("labs")
    assert labs["glucose"] == pytest.approx(126 / 18.016, abs=0.01)


def test_a_loinc_code_the_parsing_catalogue_did_not_know_is_read_by_the_engines() -> None:
    """An encounter parsed with another catalogue keeps a LOINC code it did not know as
    the code; the engine's knowledge still finds the analyte by that LOINC code."""
    from cdss.derive.labs import analyte_of, convert
    from cdss.models import LabResult

    lab = LabResult.model_construct(code="2160-0", value=1.0, unit=None, time=None,
                                    known=False, source_code=None, sent_value=1.0,
                                    sent_unit="mg/dL")
    analyte = analyte_of(KB, lab)
    assert analyte is not None and analyte.code == "creatinine"
    assert convert(analyte, lab) == pytest.approx(88.40, abs=0.01)  # µmol/L
