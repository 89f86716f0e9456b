"""The vitals and labs facts and the values withheld as implausible
(cdss/derive/measures.py, plausible.py, factset.py), pinned exactly where mutation
testing showed them untested (docs/mutation-testing.md)."""

from __future__ import annotations

from typing import Any

import cdss
from cdss.derive import build_facts
from cdss.kb import load_knowledge

KB = load_knowledge()
ENGINE = cdss.Engine(lang="en", backend="python")


def facts(vitals: dict[str, Any] | None = None, labs=()):
    data: dict[str, Any] = {"id": "e", "time": "2026-11-20T09:00:00+08:00",
                            "labs": list(labs),
                            "patient": {"id": "p", "sex": "female", "birth_date": "1960-01-01"}}
    if vitals is not None:
        data["vitals"] = vitals
    return build_facts(ENGINE.parse(data), KB)


def the(fs, t: str) -> dict[str, Any]:
    [fact] = fs.of_type(t)
    return fact


def test_implausible_vitals_are_withheld_each_with_its_fact_and_missing_entry() -> None:
    fs = facts({"temperature": 45.126, "heart_rate": 19, "glucose": "0.4 mmol/L", "sbp": 120})
    assert fs.of_type("implausible") == [
        {"t": "implausible", "id": "implausible#0", "field": "vitals.heart_rate",
         "value": 19.0, "low": 20.0, "high": 300.0, "unit": "/min",
         "label_zh": "心率", "label_en": "heart rate"},
        {"t": "implausible", "id": "implausible#1", "field": "vitals.temperature",
         "value": 45.13, "low": 30.0, "high": 45.0, "unit": "°C",
         "label_zh": "体温", "label_en": "temperature"},
        {"t": "implausible", "id": "implausible#2", "field": "vitals.glucose",
         "value": 0.4, "low": 0.5, "high": 60.0, "unit": "mmol/L",
         "label_zh": "血糖", "label_en": "blood glucose"}]
    assert [fs.paths[f"implausible#{i}"] for i in range(3)] == [
        "vitals.heart_rate", "vitals.temperature", "vitals.glucose"]
    assert the(fs, "vitals") == {"t": "vitals", "id": "vitals#0", "sbp": 120.0}
    assert fs.paths["vitals#0"] == "vitals"
    assert {k: v for k, v in fs.missing.items() if k.startswith("vitals.")} == {
        "vitals.heart_rate": ("vitals.heart_rate (implausible)",),
        "vitals.temperature": ("vitals.temperature (implausible)",),
        "vitals.glucose": ("vitals.glucose (implausible)",)}


def test_a_vital_is_rounded_to_two_decimals_before_its_bounds_are_checked() -> None:
    fs = facts({"temperature": 45.004, "sbp": 120.456})
    assert the(fs, "vitals") == {"t": "vitals", "id": "vitals#0", "temperature": 45.0,
                                 "sbp": 120.46}
    assert not fs.of_type("implausible")


def test_the_vitals_fact_keeps_the_non_numeric_signs() -> None:
    fs = facts({"consciousness": "voice", "on_oxygen": True, "glucose": "5.5 mmol/L",
                "glucose_context": "fasting"})
    assert the(fs, "vitals") == {"t": "vitals", "id": "vitals#0", "consciousness": "voice",
                                 "on_oxygen": True, "glucose": 5.5,
                                 "glucose_context": "fasting"}


def test_without_vitals_the_vitals_fact_is_empty() -> None:
    assert the(facts(), "vitals") == {"t": "vitals", "id": "vitals#0"}


def test_an_implausible_lab_is_withheld_and_named_as_such() -> None:
    fs = facts(labs=[{"code": "potassium", "value": "12.0456 mmol/L"}, {"code": "potassium"}])
    assert the(fs, "labs") == {"t": "labs", "id": "labs#0"}
    assert the(fs, "implausible") == {"t": "implausible", "id": "implausible#0",
                                      "field": "labs[0].value", "value": 12.05, "low": 1.0,
                                      "high": 10.0, "unit": "mmol/L",
                                      "label_zh": "血钾", "label_en": "potassium"}
    # the implausible value, not the result without a value, is why it is missing
    assert fs.missing["labs.potassium"] == ("labs[0].value (implausible)",)


def test_a_lab_on_its_plausibility_bound_is_used() -> None:
    fs = facts(labs=[{"code": "potassium", "value": "10.0 mmol/L"},
                     {"code": "sodium", "value": "140 mmol/L"}])
    labs = the(fs, "labs")
    assert (labs["potassium"], labs["sodium"]) == (10.0, 140.0)
    assert fs.field_paths[("labs#0", "potassium")] == "labs[0].value"
    assert fs.field_paths[("labs#0", "sodium")] == "labs[1].value"
    assert not fs.of_type("implausible") and "labs.potassium" not in fs.missing


def test_a_laboratory_glucose_stands_in_for_a_visit_without_one() -> None:
    fs = facts({"sbp": 120}, labs=[{"code": "glucose", "value": "8.0 mmol/L"}])
    assert the(fs, "vitals")["glucose"] == 8.0
    assert fs.field_paths[("vitals#0", "glucose")] == "labs[0].value"
    # the visit's own glucose is kept
    fs = facts({"glucose": "6.0 mmol/L"}, labs=[{"code": "glucose", "value": "8.0 mmol/L"}])
    assert the(fs, "vitals")["glucose"] == 6.0 and ("vitals#0", "glucose") not in fs.field_paths
