"""The fact builders and their declarations (issue #13): one number form, typed facts,
the engine's own knowledge for unit conversion, the latest lab by instant, and the
bookkeeping of derived, missing and partly known values."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

import cdss
from cdss._resources import knowledge_dir
from cdss.derive import build_facts
from cdss.derive.facts import BUILDERS
from cdss.derive.facttype import FactType, fact_value, field
from cdss.derive.schema import fact_types
from cdss.kb import load_knowledge
from cdss.kb.base import TABLES
from cdss.models import Encounter


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


def visit(**extra: Any) -> dict[str, Any]:
    return {"id": "e", "time": "2026-11-20T09:00:00+08:00",
            "patient": {"id": "p", "sex": "female", "birth_date": "1950-03-01",
                        "weight": "60 kg", "height": "160 cm"}, **extra}


def facts_of(kb, data: dict[str, Any]):
    return build_facts(Encounter.parse(data), kb)


def one(fs, t: str) -> dict[str, Any]:
    [fact] = fs.of_type(t)
    return fact


# -- the number form -----------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    (1.23456, 1.2346), (-0.0, 0.0), (1e-05, 0.0), (2.5, 2.5),
    (999_999_999_999_999.0, 999_999_999_999_999.0), (1e15, None), (-1e16, None),
    (123456789.123456, 123456789.1235),
])
def test_numbers_have_one_normal_form(value: float, expected: float | None) -> None:
    got = fact_value(value)
    assert got == expected
    if got is not None:
        assert "e" not in repr(got) and str(got) != "-0.0"


def test_a_fact_holds_numbers_in_normal_form_and_leaves_absent_values_out() -> None:
    t = FactType("t", True, {"x": field("number", ""), "y": field("number", ""),
                             "z": field("list", ""), "w": field("bool", "")}, "test")
    items = [1]
    fact = t.make("t#0", {"x": 2 / 3, "y": 1e16, "z": items, "w": None})
    assert fact == {"t": "t", "id": "t#0", "x": 0.6667, "z": [1]}
    assert fact["z"] is not items  # lists are copied


@pytest.mark.parametrize(("values", "message"), [
    ({"nope": 1}, "has no field 'nope'"),
    ({"x": "1"}, "t.x is a number, not str"),
    ({"x": True}, "t.x is a number, not bool"),
    ({"b": 1}, "t.b is a bool, not int"),
])
def test_a_builder_out_of_step_with_its_declaration_fails(values, message) -> None:
    t = FactType("t", True, {"x": field("number", ""), "b": field("bool", "")}, "test")
    with pytest.raises(ValueError, match=message):
        t.make("t#0", values)


def test_every_builder_makes_only_declared_fields(kb) -> None:
    types = fact_types(kb)
    fs = facts_of(kb, visit(
        vitals={"sbp": 250, "resp_rate": 24, "glucose": "7 mmol/L", "glucose_context": "fasting"},
        labs=[{"code": "creatinine", "value": "100 umol/L"},
              {"code": "potassium", "value": "99 mmol/L"}],
        symptoms=["胸痛"], record={"chief_complaint": "头晕", "diagnoses": [{"code": "I10"}]},
        prescriptions=[{"drug": "aspirin", "dose": "100 mg", "frequency": "qd"},
                       {"drug": "warfarin", "dose": "3 mg", "frequency": "qd"}],
        history={"followups": [{"date": "2026-10-01", "sbp": 150, "dbp": 90}]}))
    made = {f["t"] for f in fs.facts}
    assert {"patient", "vitals", "labs", "derived", "record", "encounter", "rx", "rx_key",
            "condition", "followup", "symptom", "implausible"} <= made
    for fact in fs.facts:
        assert set(fact) - {"t", "id"} <= set(types[fact["t"]].fields), fact
    assert len(BUILDERS) == 12  # + the prescription rules of issue #15


def test_the_catalogue_of_fact_types_is_unchanged_in_order(kb) -> None:
    # (rx_slips, slip, rx_skin_test, rx_tier: issue #15's prescription rules)
    assert list(fact_types(kb)) == [
        "patient",
        "vitals",
        "labs",
        "derived",
        "record",
        "encounter",
        "rx",
        "rx_renal",
        "rx_hepatic",
        "rx_key",
        "rx_allergen",
        "allergy_key",
        "condition",
        "followup",
        "symptom",
        "implausible",
        "rx_slips",
        "slip",
        "rx_skin_test",
        "rx_tier",
        "rx_total",
    ]


# -- the latest lab, by instant ----------------------------------------------------------

@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_the_latest_lab_by_instant_is_used_not_the_earliest(kb, order) -> None:
    # 01:30Z is 09:30+08:00: later than 08:00+08:00 although its clock reads earlier
    results = [{"code": "creatinine", "value": "100 umol/L", "time": "2026-11-20T01:30:00Z"},
               {"code": "creatinine", "value": "200 umol/L",
                "time": "2026-11-20T08:00:00+08:00"}]
    labs = [results[i] for i in order]
    fs = facts_of(kb, visit(labs=labs))
    assert one(fs, "labs")["creatinine"] == 100.0
    latest = order.index(0)
    assert fs.field_paths[("labs#0", "creatinine")] == f"labs[{latest}].value"
    assert fs.derived["egfr"].inputs["creatinine"].startswith("100 umol/L")


def test_the_latest_lab_is_reported(engine_en) -> None:
    report = engine_en.check(visit(labs=[
        {"code": "creatinine", "value": "200 umol/L", "time": "2026-11-19T23:00:00+08:00"},
        {"code": "creatinine", "value": "100 umol/L", "time": "2026-11-19T16:00:00Z"},
        {"code": "creatinine", "value": "300 umol/L", "time": "2026-11-18"}]))
    # 16:00Z is 00:00+08:00 on the 20th: the latest of the three
    assert report.derived["egfr"]["inputs"]["creatinine"].startswith("100 umol/L")


# -- derived values, missing and partly known ------------------------------------------

def test_derived_values_keep_their_parts(kb) -> None:
    fs = facts_of(kb, visit(vitals={"resp_rate": 24, "sbp": 96},
                            labs=[{"code": "creatinine", "value": "100 umol/L"}]))
    assert fs.derived["news2_lower_bound"].parts == {"resp_rate": 2, "sbp": 2}
    assert fs.derived["qsofa_lower_bound"].parts == {"resp_rate": 1, "sbp": 1}
    assert fs.derived["news2_lower_bound"].to_dict()["parts"] == {"resp_rate": 2, "sbp": 2}
    assert fs.derived["egfr"].parts["unrounded"] == pytest.approx(50.356, abs=1e-3)
    derived = one(fs, "derived")
    assert derived["egfr"] == 50.4 and derived["egfr_rounded"] == 50.0
    assert derived["news2_lower_bound"] == 4.0 and derived["news2_params_missing"] == 5
    assert derived["news2_max_param"] == 2 and derived["qsofa_lower_bound"] == 2.0
    assert "news2" not in derived and "qsofa" not in derived
    assert "derived.news2_max_param" not in fs.missing
    assert "vitals.spo2" in fs.missing["derived.news2"]
    assert fs.missing["derived.qsofa"] == ("vitals.consciousness",)


def test_missing_and_partial_bookkeeping(kb) -> None:
    data = visit(prescriptions=[{"drug": "metformin", "dose": "500 mg", "frequency": "bid"}])
    data["patient"].update(weight="900 kg")
    del data["patient"]["birth_date"]
    fs = facts_of(kb, data)
    patient = one(fs, "patient")
    # no problem list: the groups are open, the one a prescription implies is kept
    assert "problem_groups" not in patient
    assert fs.missing["patient.problem_groups"] == ("patient.conditions",)
    assert fs.partial[(patient["id"], "problem_groups")] == ("diabetes",)
    assert fs.inferred[(patient["id"], "problem_groups")][0]["from"] == \
        "prescriptions[0].drug"
    # a withheld weight is named as implausible where it is missing
    assert "weight" not in patient
    assert fs.missing["patient.weight"] == ("patient.weight (implausible)",)
    assert fs.missing["derived.bmi"] == ("patient.weight (implausible)",)
    assert one(fs, "implausible")["field"] == "patient.weight"
    assert fs.missing["patient.age_years"] == ("patient.birth_date",)
    assert fs.missing["derived.egfr_rounded"] == fs.missing["derived.egfr"]
    # a diabetic programme without an age: controlled-or-not depends on the record
    assert fs.missing["prescriptions[0].indicated"] == ("record.diagnoses",)
    assert fs.missing["prescriptions[0].mg_per_kg_day"] == ("patient.weight",)


def test_a_record_without_a_section_counts_zero_and_no_record_is_missing(kb) -> None:
    with_record = facts_of(kb, visit(record={"chief_complaint": "头 晕"}))
    assert one(with_record, "record")["chief_complaint_chars"] == 2
    assert one(with_record, "record")["present_illness_chars"] == 0
    without = facts_of(kb, visit())
    assert without.missing["record.diagnosis_count"] == ("record",)
    assert set(one(without, "record")) == {"t", "id"}


# -- the engine's own knowledge converts labs and glucose ------------------------------

def knowledge_without(tmp_path: Path, code: str) -> Path:
    root = tmp_path / "knowledge"
    shutil.copytree(knowledge_dir(), root)
    path = root / "analytes.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["analytes"] = [a for a in data["analytes"] if a["code"] != code]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return root


def test_a_lab_the_engines_knowledge_lacks_is_a_note(tmp_path) -> None:
    engine = cdss.Engine(lang="en", knowledge_dir=knowledge_without(tmp_path, "alt"))
    assert "alt" not in engine.kb.analytes
    data = visit(labs=[{"code": "alt", "value": "80 U/L"},
                       {"code": "creatinine", "value": "100 umol/L"}])
    report = engine.check(data)
    assert {"field": "labs[0].code",
            "message": "unknown lab code 'alt': not used by any rule"} in \
        report.to_dict()["notes"]
    assert report.derived["egfr"]["inputs"]["creatinine"].startswith("100 umol/L")
    fs = build_facts(engine.parse(data), engine.kb)
    assert "alt" not in one(fs, "labs") and one(fs, "labs")["creatinine"] == 100.0
    assert "alt" not in fact_types(engine.kb)["labs"].fields
    # the bundled engine reads it
    assert one(build_facts(Encounter.parse(data), load_knowledge()), "labs")["alt"] == 80.0


def test_rules_reading_a_lab_the_engines_knowledge_lacks_are_refused_by_name(tmp_path) -> None:
    with pytest.raises(cdss.RuleSpecError, match=r"unknown field labs\.potassium"):
        cdss.Engine(knowledge_dir=knowledge_without(tmp_path, "potassium"))


def test_a_bad_unit_is_an_input_error_with_the_engines_catalogue(engine_en) -> None:
    with pytest.raises(cdss.InputError) as exc:
        engine_en.check(visit(vitals={"glucose": "7 mmHg"},
                              labs=[{"code": "potassium", "value": "4 kg"}]))
    assert exc.value.fields == ["vitals.glucose", "labs[0].value"]


def test_the_models_do_not_import_the_knowledge_package() -> None:
    import ast

    models = Path(cdss.__file__).parent / "models"
    for path in models.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not [n for n in names if n.startswith(("cdss.kb", "cdss.derive"))], path


# -- knowledge tables --------------------------------------------------------------------

def test_each_knowledge_table_is_declared_once() -> None:
    # a file may hold several row lists (skin_test/: tests and record words), each
    # read by one table
    files = [(t.file, t.rows) for t in TABLES]
    names = [t.name for t in TABLES]
    assert len(files) == len(set(files)) and len(names) == len(set(names))
    shipped = {p.name for p in knowledge_dir().glob("*.yaml")} | {
        p.name + "/" for p in knowledge_dir().iterdir() if p.is_dir()}
    assert shipped <= {f for f, _ in files}, shipped - {f for f, _ in files}


def test_a_duplicate_row_names_its_file(tmp_path) -> None:
    root = tmp_path / "knowledge"
    shutil.copytree(knowledge_dir(), root)
    path = root / "allergy_cross/core.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["cross_reactions"].append(dict(data["cross_reactions"][0]))
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(cdss.KnowledgeError, match=r"allergy_cross/core\.yaml.*duplicate row id"):
        load_knowledge(root)


def test_a_lab_time_without_a_zone_is_read_in_the_encounters_zone(kb) -> None:
    # 08:30 at the visit's +08:00 is 00:30Z, before 00:45Z (08:45+08:00)
    fs = facts_of(kb, visit(labs=[
        {"code": "potassium", "value": "5.9 mmol/L", "time": "2026-11-20T00:45:00Z"},
        {"code": "potassium", "value": "4.1 mmol/L", "time": "2026-11-20T08:30:00"}]))
    assert one(fs, "labs")["potassium"] == 5.9


@pytest.mark.parametrize("time", [None, "2026-11-20T08:00:00+08:00", "2026-11-19"])
def test_of_two_results_at_the_same_time_the_last_sent_is_used(kb, time) -> None:
    labs = [{"code": "potassium", "value": "5.9 mmol/L"},
            {"code": "potassium", "value": "4.1 mmol/L"}]
    for lab in labs:
        if time is not None:
            lab["time"] = time
    fs = facts_of(kb, visit(labs=labs))
    assert one(fs, "labs")["potassium"] == 4.1
    assert fs.field_paths[("labs#0", "potassium")] == "labs[1].value"


def test_a_result_without_a_time_counts_as_taken_at_the_visit(kb) -> None:
    # the visit is 09:00+08:00: an untimed result is later than 08:59 and earlier than 09:01
    def latest(time: str) -> float:
        fs = facts_of(kb, visit(labs=[
            {"code": "potassium", "value": "4.1 mmol/L"},
            {"code": "potassium", "value": "5.9 mmol/L", "time": time}]))
        return one(fs, "labs")["potassium"]

    assert latest("2026-11-20T08:59:00+08:00") == 4.1
    assert latest("2026-11-20T01:01:00Z") == 5.9


def test_an_untimed_result_ties_with_one_timed_at_the_visit(kb) -> None:
    # both count as taken at 09:00+08:00: the last sent is used, whichever it is
    timed = {"code": "potassium", "value": "5.9 mmol/L", "time": "2026-11-20T01:00:00Z"}
    untimed = {"code": "potassium", "value": "4.1 mmol/L"}
    assert one(facts_of(kb, visit(labs=[timed, untimed])), "labs")["potassium"] == 4.1
    assert one(facts_of(kb, visit(labs=[untimed, timed])), "labs")["potassium"] == 5.9
