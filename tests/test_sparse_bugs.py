"""Regression tests for the five bugs of issue #11 (sparse van records).

1. a lab with a code and no value crashed build_facts (AssertionError);
2. the latest lab was chosen on wall-clock times, ignoring their zones;
3. vitals were rounded half-to-even before banding (SBP 100.5 scored as 100, 101.5 as
   102); bands are now read on the exact value and cover every real number once;
4. 每晚1次 was refused while 每晚一次 was accepted;
5. an engine whose knowledge lacks an analyte raised a bare KeyError.
"""

from __future__ import annotations

import math
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import cdss
from cdss._resources import knowledge_dir
from cdss.derive.facts import build_facts
from cdss.derive.scores import band_score, partial_band_score
from cdss.kb.prescribing import bundled_words
from cdss.kb.schema import Band, ScoredParameter
from cdss.models import Encounter, Frequency, LabResult
from cdss.models.prescription import frequency_key

FREQUENCIES = bundled_words().frequencies


def visit(labs: list[dict[str, Any]] | None = None, time: str = "2026-11-20T09:00:00+08:00",
          **extra: Any) -> dict[str, Any]:
    return {"id": "t", "time": time,
            "patient": {"id": "p", "sex": "male", "birth_date": "1960-01-01",
                        "weight": "70 kg"},
            "labs": labs or [], **extra}


def facts(kb, data: dict[str, Any]):
    return build_facts(Encounter.parse(data), kb)


def lab_fact(fs) -> dict[str, Any]:
    return next(f for f in fs.facts if f["t"] == "labs")


@pytest.fixture(scope="module")
def kb(engine_en):
    return engine_en.kb


# -- 1. a lab without a value ----------------------------------------------------------

@pytest.mark.parametrize("lab", [{"code": "creatinine"}, {"code": "creatinine", "value": None},
                                 {"code": "2160-0", "value": None}])
def test_lab_without_value_is_a_note_and_unused(engine_en, lab) -> None:
    assert LabResult.model_validate(lab).value is None
    report = engine_en.check(visit([lab]))
    assert {"field": "labs[0].value",
            "message": "lab result without a value: not used by any rule"} in report.to_dict()[
                "notes"]
    assert "egfr" not in report.derived
    # the rules that needed it say why
    missing = [m for n in report.to_dict()["not_evaluated"] for m in n["missing"]]
    assert "labs[0].value (no value)" in missing


def test_lab_without_value_note_in_chinese(engine) -> None:
    notes = engine.check(visit([{"code": "creatinine"}])).to_dict()["notes"]
    assert {"field": "labs[0].value", "message": "检验结果无数值：未用于任何规则"} in notes


def test_newer_lab_without_value_does_not_hide_an_older_value(kb) -> None:
    fs = facts(kb, visit([{"code": "creatinine", "value": "80 umol/L", "time": "2026-11-01"},
                          {"code": "creatinine", "time": "2026-11-20T08:00:00+08:00"}]))
    assert lab_fact(fs)["creatinine"] == 80
    assert fs.field_paths[("labs#0", "creatinine")] == "labs[0].value"
    assert "labs.creatinine" not in fs.missing


def test_lab_value_still_needs_a_unit_of_the_right_dimension() -> None:
    for value in ("80 mmHg", 80):
        with pytest.raises(cdss.InputError) as exc:
            Encounter.parse(visit([{"code": "creatinine", "value": value}]))
        assert exc.value.problems[0].path == "labs[0].value"


def test_audit_goes_on_past_labs_without_values(engine_en) -> None:
    encounters = [dict(visit([{"code": "creatinine"}]), id="a"),
                  dict(visit([{"code": "potassium", "value": None},
                              {"code": "creatinine", "value": "80 umol/L"}]), id="b")]
    result = engine_en.audit(encounters, progress=False)
    assert result.errors == [] and result.checked == 2


# -- 2. the latest lab, with time zones --------------------------------------------------

def latest_creatinine(kb, *labs: tuple[str, str | None], time: str = "2026-11-20T09:00:00+08:00"
                      ) -> float:
    sent = [{"code": "creatinine", "value": v, **({"time": t} if t else {})} for v, t in labs]
    return lab_fact(facts(kb, visit(sent, time=time)))["creatinine"]


@pytest.mark.parametrize("order", [1, -1])
def test_latest_lab_compares_instants_with_their_zones(kb, order) -> None:
    # 01:30Z is 09:30+08:00: after 08:00+08:00 (the case: eGFR came from 80)
    labs = [("80 umol/L", "2026-11-20T08:00+08:00"), ("300 umol/L", "2026-11-20T01:30Z")]
    assert latest_creatinine(kb, *labs[::order]) == 300
    labs = [("80 umol/L", "2026-11-20T08:00+08:00"), ("300 umol/L", "2026-11-19T23:30Z")]
    assert latest_creatinine(kb, *labs[::order]) == 80


@pytest.mark.parametrize("order", [1, -1])
def test_naive_lab_time_is_read_in_the_encounters_zone(kb, order) -> None:
    # naive 09:00 at a +08:00 visit is 01:00Z: before 02:00Z, after 00:30Z
    labs = [("80 umol/L", "2026-11-20T09:00"), ("300 umol/L", "2026-11-20T02:00Z")]
    assert latest_creatinine(kb, *labs[::order]) == 300
    labs = [("80 umol/L", "2026-11-20T09:00"), ("300 umol/L", "2026-11-20T00:30Z")]
    assert latest_creatinine(kb, *labs[::order]) == 80


@pytest.mark.parametrize("order", [1, -1])
def test_naive_encounter_reads_naive_times_in_the_zone_of_the_labs(kb, order) -> None:
    labs = [("80 umol/L", "2026-11-20T09:00"), ("300 umol/L", "2026-11-20T08:30+08:00")]
    assert latest_creatinine(kb, *labs[::order], time="2026-11-20T10:00:00") == 80


@pytest.mark.parametrize("order", [1, -1])
def test_date_only_result_counts_as_the_end_of_its_day(kb, order) -> None:
    same_day = [("80 umol/L", "2026-11-20"), ("300 umol/L", "2026-11-20T08:00+08:00")]
    assert latest_creatinine(kb, *same_day[::order]) == 80
    next_day = [("80 umol/L", "2026-11-19"), ("300 umol/L", "2026-11-20T00:10+08:00")]
    assert latest_creatinine(kb, *next_day[::order]) == 300
    # the day is the encounter's (+08:00): 2026-11-19 ends at 2026-11-19T16:00Z
    zoned = [("80 umol/L", "2026-11-19"), ("300 umol/L", "2026-11-19T17:00Z")]
    assert latest_creatinine(kb, *zoned[::order]) == 300
    zoned = [("80 umol/L", "2026-11-19"), ("300 umol/L", "2026-11-19T15:00Z")]
    assert latest_creatinine(kb, *zoned[::order]) == 80


def test_date_only_lab_time_stays_a_date() -> None:
    lab = LabResult.model_validate({"code": "urea", "value": "5 mmol/L", "time": "2026-11-01"})
    assert type(lab.time).__name__ == "date"
    with pytest.raises(ValidationError):
        LabResult.model_validate({"code": "urea", "value": "5 mmol/L", "time": "2026-13-01"})


def test_equal_times_keep_the_last_result_sent(kb) -> None:
    labs = [("80 umol/L", "2026-11-20T08:00+08:00"), ("300 umol/L", "2026-11-20T00:00Z")]
    assert latest_creatinine(kb, *labs) == 300
    assert latest_creatinine(kb, *labs[::-1]) == 80


# -- 3. band scores on the exact value ---------------------------------------------------

NEWS2_ZERO = {"resp_rate": 16, "spo2": 97, "on_oxygen": False, "sbp": 120, "heart_rate": 80,
              "consciousness": "alert", "temperature": 37.0}


def news2_part(kb, name: str, value: float) -> int:
    return band_score(kb.scores["news2"], dict(NEWS2_ZERO, **{name: value})).parts[name]


@pytest.mark.parametrize(("name", "value", "score"), [
    # between two charted ranges a value takes the higher score
    ("sbp", 90.5, 3), ("sbp", 100.5, 2), ("sbp", 101.5, 1), ("sbp", 110.5, 1),
    ("sbp", 110.99, 1), ("sbp", 219.5, 3), ("sbp", 219.01, 3),
    ("resp_rate", 8.5, 3), ("resp_rate", 11.5, 1), ("resp_rate", 20.5, 2),
    ("resp_rate", 24.5, 3), ("heart_rate", 40.5, 3), ("heart_rate", 50.5, 1),
    ("heart_rate", 90.5, 1), ("heart_rate", 110.5, 2), ("heart_rate", 130.5, 3),
    ("spo2", 91.5, 3), ("spo2", 93.5, 2), ("spo2", 95.5, 1),
    ("temperature", 35.05, 3), ("temperature", 36.05, 1), ("temperature", 38.04, 1),
    ("temperature", 39.05, 2),
    # inside the charted normal ranges
    ("sbp", 150.5, 0), ("resp_rate", 15.5, 0), ("temperature", 37.45, 0),
])
def test_news2_bands_read_the_exact_value(kb, name, value, score) -> None:
    assert news2_part(kb, name, value) == score


def test_news2_appendix_a_vectors(kb) -> None:
    table = kb.scores["news2"]
    assert band_score(table, NEWS2_ZERO).value == 0
    assert band_score(table, {"resp_rate": 26, "spo2": 90, "on_oxygen": True, "sbp": 88,
                              "heart_rate": 135, "consciousness": "confusion",
                              "temperature": 39.5}).value == 19


@pytest.mark.parametrize(("values", "score"), [
    ({"resp_rate": 21.5, "sbp": 100.5}, 0), ({"resp_rate": 22, "sbp": 100}, 2),
    ({"resp_rate": 21.99, "sbp": 100.01}, 0),
])
def test_qsofa_reads_the_exact_value(kb, values, score) -> None:
    assert band_score(kb.scores["qsofa"], {**values, "consciousness": "alert"}).value == score


def test_curb65_urea_reads_the_exact_value(kb) -> None:
    base = {"consciousness": "alert", "resp_rate": 16, "sbp": 120, "dbp": 80, "age": 50}
    assert band_score(kb.scores["curb65"], {**base, "labs.urea": 7.04}).value == 1
    assert band_score(kb.scores["curb65"], {**base, "labs.urea": 7.0}).value == 0


@pytest.mark.parametrize(("temperature", "score"), [("96.8 degF", 1), ("100.4 degF", 0),
                                                    ("38.05 degC", 1), (36.05, 1)])
def test_converted_vitals_are_banded_without_float_noise(kb, temperature, score) -> None:
    # 96.8 degF is 36.0 degC (35.99999999999881 from pint): kept at 2 decimals
    fs = facts(kb, visit(vitals={**NEWS2_ZERO, "temperature": temperature}))
    parts = partial_band_score(kb.scores["news2"], next(f for f in fs.facts
                                                        if f["t"] == "vitals"))
    assert parts["temperature"] == score


# the RCP chart on its own grid (integers; tenths of a degree), clinical reference App. A
def _rr(x: int) -> int:
    return 3 if x <= 8 else 1 if x <= 11 else 0 if x <= 20 else 2 if x <= 24 else 3


def _spo2(x: int) -> int:
    return 3 if x <= 91 else 2 if x <= 93 else 1 if x <= 95 else 0


def _sbp(x: int) -> int:
    return 3 if x <= 90 else 2 if x <= 100 else 1 if x <= 110 else 0 if x <= 219 else 3


def _hr(x: int) -> int:
    return 3 if x <= 40 else 1 if x <= 50 else 0 if x <= 90 else 1 if x <= 110 else (
        2 if x <= 130 else 3)


def _temp_tenths(x: int) -> int:
    return 3 if x <= 350 else 1 if x <= 360 else 0 if x <= 380 else 1 if x <= 390 else 2


CHART = {"resp_rate": (_rr, 1), "spo2": (_spo2, 1), "sbp": (_sbp, 1),
         "heart_rate": (_hr, 1), "temperature": (_temp_tenths, 10)}
NUMBERS = st.floats(min_value=-50, max_value=400, allow_nan=False, allow_infinity=False)


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(CHART)), x=NUMBERS)
def test_news2_parameter_is_the_chart_on_its_grid_and_the_higher_score_between(kb, name,
                                                                              x) -> None:
    chart, per_unit = CHART[name]
    scaled = Fraction(x) * per_unit  # exact: no float error at the grid points
    low, high = math.floor(scaled), math.ceil(scaled)
    assert news2_part(kb, name, x) == max(chart(low), chart(high))


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(CHART)), a=NUMBERS, b=NUMBERS)
def test_news2_parameter_is_monotone_away_from_its_zero_band(kb, name, a, b) -> None:
    x, y = sorted((a, b))
    bands = kb.scores["news2"].parameters[name].bands
    zero = next(band for band in bands if band.score == 0)
    sx, sy = news2_part(kb, name, x), news2_part(kb, name, y)
    if zero.min is not None and y <= zero.min:
        assert sx >= sy          # below the 0 band: lower is worse
    if zero.max is not None and x >= zero.max:
        assert sx <= sy          # above it: higher is worse
    if (zero.min is None or x >= zero.min) and (zero.max is None or x <= zero.max):
        assert sx == 0


@pytest.mark.parametrize("bands", [
    [{"max": 10, "score": 1}, {"min": 11, "score": 0}],          # gap (10, 11)
    [{"max": 10, "score": 1}, {"min": 10, "score": 0}],          # 10 in both
    [{"below": 10, "score": 1}, {"above": 10, "score": 0}],      # 10 in neither
    [{"min": 0, "below": 10, "score": 1}, {"min": 10, "score": 0}],  # nothing below 0
    [{"min": 5, "above": 4, "score": 1}],
])
def test_bands_that_do_not_cover_each_value_once_are_refused(bands) -> None:
    with pytest.raises(ValidationError):
        ScoredParameter(field="x", bands=[Band(**b) for b in bands])


def test_every_shipped_score_table_tiles_the_line(kb) -> None:
    for table in kb.scores.values():
        for param in table.parameters.values():
            ScoredParameter.model_validate(param.model_dump())


# -- 4. Chinese frequencies: Arabic and Chinese numerals -----------------------------------

@pytest.mark.parametrize(("text", "times"), [
    ("每晚1次", 1), ("每晚一次", 1), ("每日1次", 1), ("每日一次", 1), ("每天1次", 1),
    ("每天一次", 1), ("一日1次", 1), ("1日1次", 1), ("一天一次", 1),
    ("每日2次", 2), ("每日两次", 2), ("每日二次", 2), ("每天2次", 2), ("一日两次", 2),
    ("每日3次", 3), ("每日三次", 3), ("一日3次", 3), ("每天三次", 3),
    ("每日4次", 4), ("每日四次", 4), ("一日四次", 4),
    ("每8小时1次", 3), ("每八小时一次", 3), ("每8小时一次", 3),
    ("每12小时1次", 2), ("每十二小时一次", 2), ("每6小时1次", 4), ("每六小时一次", 4),
    ("每周1次", 1 / 7), ("隔日1次", 0.5), ("隔天一次", 0.5), ("1次", 1),
    ("每日 3 次", 3),
])
def test_chinese_frequencies_accept_both_numerals(text, times) -> None:
    assert Frequency.model_validate(text).times_per_day == pytest.approx(times)


@pytest.mark.parametrize("text", ["每日5次", "每晚2次", "每3小时1次", "每日十次"])
def test_unlisted_frequencies_are_still_refused(text) -> None:
    with pytest.raises(ValidationError):
        Frequency.model_validate(text)


def test_frequency_spellings_do_not_collide() -> None:
    seen: dict[str, float | None] = {}
    for text, times in FREQUENCIES.items():
        key = frequency_key(text)
        assert seen.setdefault(key, times) == times, text


def test_frequency_code_is_the_text_as_written() -> None:
    assert Frequency.model_validate("每晚1次").code == "每晚1次"
    assert Frequency.model_validate("每日一次").code == "每日一次"


# -- 5. the engine's own analyte table ----------------------------------------------------

def custom_knowledge(root: Path, change) -> Path:
    """A copy of the bundled knowledge with analytes.yaml changed by ``change``."""
    target = root / "knowledge"
    shutil.copytree(knowledge_dir(), target)
    path = target / "analytes.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data["analytes"])
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def engine_without_platelets(tmp_path_factory) -> cdss.Engine:
    def drop(analytes: list[dict[str, Any]]) -> None:
        analytes[:] = [a for a in analytes if a["code"] != "platelets"]
    return cdss.Engine(lang="en", knowledge_dir=custom_knowledge(
        Path(tmp_path_factory.mktemp("kb")), drop))


@pytest.mark.parametrize("code", ["platelets", "777-3"])
def test_analyte_missing_from_the_engines_knowledge_is_a_note(engine_without_platelets,
                                                              code) -> None:
    report = engine_without_platelets.check(visit([
        {"code": code, "value": "50 10^9/L"},
        {"code": "2160-0", "value": "1.2 mg/dL"},      # still converted by molar mass
        {"code": "glucose", "value": "126 mg/dL"}]))
    notes = report.to_dict()["notes"]
    # the engine's own knowledge reads the code (a LOINC code it lacks is not renamed)
    assert {"field": "labs[0].code",
            "message": f"unknown lab code {code!r}: not used by any rule"} in notes
    assert report.derived["egfr"]["inputs"]["creatinine"].startswith("106.082 umol/L")
    fs = build_facts(Encounter.parse(visit([{"code": code, "value": "50 10^9/L"},
                                            {"code": "glucose", "value": "126 mg/dL"}])),
                     engine_without_platelets.kb)
    assert "platelets" not in lab_fact(fs)
    assert lab_fact(fs)["glucose"] == pytest.approx(6.9938, abs=1e-4)


def test_engines_own_units_are_used(tmp_path) -> None:
    def grams_per_decilitre(analytes: list[dict[str, Any]]) -> None:
        for a in analytes:
            if a["code"] == "hemoglobin":
                a["canonical"] = "g/dL"
                a["plausible"] = {"low": 2, "high": 25}
            if a["code"] == "wbc":
                a["canonical"] = "mmol/L"                 # cannot be reached from 10^9/L
    kb = cdss.Engine(knowledge_dir=custom_knowledge(tmp_path, grams_per_decilitre)).kb
    fs = build_facts(Encounter.parse(visit([{"code": "hemoglobin", "value": "130 g/L"},
                                            {"code": "wbc", "value": "6 10^9/L"},
                                            {"code": "potassium", "value": "4.0 mmol/L"}])),
                     kb)
    assert lab_fact(fs)["hemoglobin"] == pytest.approx(13.0)
    assert "wbc" not in lab_fact(fs)
    assert lab_fact(fs)["potassium"] == 4.0     # the results after it are still read
    assert fs.notes == [{
        "field": "labs[1].value",
        "message": "the value cannot be converted to mmol/L with this knowledge: "
                   "not used by any rule",
        "message_zh": "该数值无法按本知识库换算为 mmol/L：未用于任何规则"}]
    assert fs.missing["labs.wbc"] == ("labs[1].value (unit)",)


def test_a_glucose_the_engines_knowledge_cannot_read_is_an_input_error(tmp_path) -> None:
    """Knowledge is passed, never read from a global: an engine whose knowledge has no
    glucose analyte names the field (it used to be a bare KeyError, or the bundled
    table silently used)."""
    def drop(analytes: list[dict[str, Any]]) -> None:
        analytes[:] = [a for a in analytes if a["code"] != "glucose"]
    try:
        engine = cdss.Engine(lang="en", knowledge_dir=custom_knowledge(tmp_path, drop))
    except cdss.KnowledgeError as exc:  # the knowledge itself may require glucose
        pytest.skip(f"this knowledge cannot drop glucose: {exc}")
    with pytest.raises(cdss.InputError, match=r"vitals\.glucose"):
        engine.check(visit(vitals={"glucose": "7.0 mmol/L"}))


def test_a_parse_with_no_catalogue_keeps_every_lab_as_sent() -> None:
    enc = Encounter.parse(visit([{"code": "creatinine", "value": "98 umol/L"}]), analytes={})
    (lab,) = enc.labs
    assert lab.known is False and lab.sent_value == 98 and lab.sent_unit == "umol/L"
