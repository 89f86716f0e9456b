"""The facts of the visit and its record (cdss/derive/visit.py), pinned exactly where
mutation testing showed them untested (docs/mutation-testing.md)."""

from __future__ import annotations

from typing import Any

import cdss
from cdss.derive import build_facts
from cdss.kb import load_knowledge
from cdss.models import TEXT_SECTIONS

KB = load_knowledge()
ENGINE = cdss.Engine(lang="en", backend="python")


def facts(**parts: Any):
    patient = {"id": "p", "sex": "male", "birth_date": "1960-01-01",
               **parts.pop("patient", {})}
    return build_facts(ENGINE.parse({"id": "e", "time": "2026-11-20T09:00:00+08:00",
                                     "patient": patient, **parts}), KB)


def test_the_record_fact_measures_each_section_without_blanks() -> None:
    fs = facts(record={"chief_complaint": " 头晕 3 天 ", "present_illness": "",
                       "diagnoses": [{"code": "E11.9", "name": "糖尿病"},
                                     {"code": "I10", "name": "高血压"}],
                       "physician": "张 医生", "signed_at": "2026-11-20T08:59:00+08:00"})
    [record] = fs.of_type("record")
    assert record == {"t": "record", "id": "record#0", "chief_complaint_chars": 4,
                      **{f"{s}_chars": 0 for s in TEXT_SECTIONS[1:]},
                      "diagnosis_count": 2,
                      "diagnosis_groups": ["diabetes", "hypertension", "type2_diabetes"],
                      "physician_chars": 3, "signed_minutes_after_visit": -1.0}
    assert not [k for k in fs.missing if k.startswith("record.")]


def test_without_a_record_every_record_field_is_missing() -> None:
    fs = facts()
    assert fs.of_type("record") == [{"t": "record", "id": "record#0"}]
    names = [f"{s}_chars" for s in TEXT_SECTIONS] + [
        "diagnosis_count", "diagnosis_groups", "physician_chars", "signed_minutes_after_visit"]
    assert {k: v for k, v in fs.missing.items() if k.startswith("record.")} == {
        f"record.{n}": ("record",) for n in names}


def test_an_unsigned_record_has_no_signing_delay_and_misses_nothing_else() -> None:
    [record] = facts(record={"chief_complaint": "头晕"}).of_type("record")
    assert "signed_minutes_after_visit" not in record
    assert (record["chief_complaint_chars"], record["diagnosis_count"],
            record["diagnosis_groups"], record["physician_chars"]) == (2, 0, [], 0)


def test_the_signing_delay_in_minutes_across_zones() -> None:
    [record] = facts(record={"chief_complaint": "头晕", "signed_at": "2026-11-20T02:30:00Z"}
                     ).of_type("record")
    assert record["signed_minutes_after_visit"] == 90.0
    [record] = facts(record={"chief_complaint": "头晕", "signed_at": "2026-11-20T09:10:20+08:00"}
                     ).of_type("record")
    assert record["signed_minutes_after_visit"] == 10.3     # to a tenth of a minute


def test_the_encounter_fact() -> None:
    fs = facts(visit_type="return",
               prescriptions=[{"drug": "amlodipine", "dose": "5 mg", "frequency": "qd"},
                              {"drug": "metformin", "dose": "500 mg", "frequency": "bid"}])
    assert fs.of_type("encounter") == [{"t": "encounter", "id": "encounter#0",
                                        "visit_type": "return", "prescription_count": 2}]


def test_a_red_flag_symptom_is_a_fact_and_a_negated_one_a_note() -> None:
    fs = facts(symptoms=["头痛", "无呼吸困难", "胸痛"])
    [symptom] = fs.of_type("symptom")
    assert symptom == {"t": "symptom", "id": symptom["id"], "index": 2, "key": "chest_pain",
                       "text": "胸痛"}
    assert fs.subjects[symptom["id"]] == "symptoms:chest_pain"
    assert fs.notes == [{"field": "symptoms[1]",
                         "message": "'无呼吸困难' negates dyspnoea: not used as a symptom",
                         "message_zh": "“无呼吸困难”含否定表述（dyspnoea）：未作为症状使用"}]


def test_conditions_from_the_problem_list_then_the_diagnoses() -> None:
    fs = facts(patient={"conditions": [{"code": " I10 "}, {"code": "XYZ"}]},
               record={"diagnoses": [{"code": "E11.9", "name": "糖尿病"}]})
    assert [{k: v for k, v in c.items() if k != "id"} for c in fs.of_type("condition")] == [
        {"t": "condition", "code": "I10", "origin": "conditions", "code_valid": True,
         "groups": ["hypertension"]},
        {"t": "condition", "code": "XYZ", "origin": "conditions", "code_valid": False,
         "groups": []},
        {"t": "condition", "code": "E11.9", "origin": "diagnoses", "code_valid": True,
         "groups": ["diabetes", "type2_diabetes"]}]


def test_each_record_field_is_explained_by_the_input_it_is_read_from() -> None:
    # evidence names the input a record fact's field came from (record.physician for
    # physician_chars): a wrong source would point the doctor at the wrong field
    from cdss.derive.visit import RECORD
    from cdss.models import TEXT_SECTIONS

    sources = {name: spec.source for name, spec in RECORD.fields.items()}
    assert sources == {**{f"{s}_chars": s for s in TEXT_SECTIONS},
                       "diagnosis_count": "diagnoses", "diagnosis_groups": "diagnoses",
                       "physician_chars": "physician", "signed_minutes_after_visit": "signed_at"}
