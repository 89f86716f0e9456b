"""Input models: parsing, canonical units, and errors that name every bad field."""

from __future__ import annotations

import copy
import pickle

import pytest

from cdss import Encounter, InputError
from cdss.models import Dose, Frequency, LabResult, Prescription, VitalSigns

BASE = {"id": "e", "time": "2026-11-20T09:30:00+08:00", "patient": {"id": "p"}}


def enc(**parts) -> dict:
    data = copy.deepcopy(BASE)
    data.update(parts)
    return data


def test_only_id_time_and_patient_id_are_required() -> None:
    e = Encounter.parse(BASE)
    assert e.vitals is None and e.labs == [] and e.record is None
    assert e.patient.conditions is None  # absent problem list is not "no conditions"
    assert e.patient.allergies_reviewed is None


def test_json_text_and_model_are_accepted() -> None:
    import json

    assert Encounter.parse(json.dumps(BASE)).id == "e"
    model = Encounter.parse(BASE)
    assert Encounter.parse(model) is model


@pytest.mark.parametrize(("raw", "expected"), [
    ("0.5 g", 500.0), ("500 mg", 500.0), ("500000 ug", 500.0), ("500000 µg", 500.0),
    ({"value": 0.5, "unit": "g"}, 500.0), ("  250mg ", 250.0),
])
def test_dose_is_converted_to_mg(raw, expected) -> None:
    assert Dose.model_validate(raw).value == pytest.approx(expected)


def test_insulin_units_and_volumes() -> None:
    assert Dose.model_validate("10 U") == Dose(value=10, unit="IU")
    assert Dose.model_validate("5 mL").unit == "mL"


@pytest.mark.parametrize(("code", "per_day"), [
    ("qd", 1), ("bid", 2), ("tid", 3), ("qid", 4), ("q6h", 4), ("q8h", 3), ("q12h", 2),
    ("qn", 1), ("qw", 1 / 7), ("once", 1), ("prn", None), ("BID", 2), ("b.i.d.", 2),
    ("每日两次", 2), ({"times_per_day": 3}, 3),
])
def test_frequencies(code, per_day) -> None:
    f = Frequency.model_validate(code)
    assert f.times_per_day == (pytest.approx(per_day) if per_day else None)


def test_daily_dose_is_dose_times_frequency_and_unknown_for_prn() -> None:
    rx = Prescription.model_validate({"drug": "x", "dose": "0.5 g", "frequency": "tid"})
    assert rx.daily_dose == pytest.approx(1500)
    assert Prescription.model_validate({"drug": "x", "dose": "1 g", "frequency": "prn"}
                                       ).daily_dose is None
    assert Prescription.model_validate({"drug": "x", "dose": "1 g"}).daily_dose is None


def test_durations() -> None:
    assert Prescription.model_validate({"drug": "x", "duration": "4 wk"}).duration == 28
    assert Prescription.model_validate({"drug": "x", "duration": "28 d"}).duration == 28


def test_vitals_accept_bare_numbers_and_units() -> None:
    v = VitalSigns.model_validate({"sbp": 150, "temperature": "100.4 degF", "spo2": "97 %",
                                   "heart_rate": "88 bpm", "glucose": "126 mg/dL"})
    assert v.sbp == 150
    assert v.temperature == pytest.approx(38.0)
    assert v.spo2 == 97 and v.heart_rate == 88
    assert v.glucose == pytest.approx(6.994, abs=1e-3)  # molar mass 180.16 g/mol


def test_glucose_needs_a_unit() -> None:
    with pytest.raises(InputError) as err:
        Encounter.parse(enc(vitals={"glucose": 7.8}))
    assert err.value.fields == ["vitals.glucose"]


@pytest.mark.parametrize(("code", "raw", "canonical", "unit"), [
    ("creatinine", "1.2 mg/dL", 106.08, "umol/L"),
    ("creatinine", "106 umol/L", 106.0, "umol/L"),
    ("glucose", "126 mg/dL", 6.994, "mmol/L"),
    ("hba1c", "7.1 %", 7.1, "percent"),
    ("hba1c", "53 mmol/mol", 7.0, "percent"),
    ("hemoglobin", "12.5 g/dL", 125.0, "g/L"),
    ("2160-0", "1.0 mg/dL", 88.4, "umol/L"),
    ("inr", 2.5, 2.5, "dimensionless"),
])
def test_labs_are_converted_by_the_analyte_catalogue(code, raw, canonical, unit) -> None:
    lab = LabResult.model_validate({"code": code, "value": raw})
    assert lab.value == pytest.approx(canonical, abs=0.05)
    assert lab.unit == unit and lab.known


def test_loinc_codes_map_to_contract_codes() -> None:
    lab = LabResult.model_validate({"code": "2160-0", "value": "1 mg/dL"})
    assert lab.code == "creatinine" and lab.source_code == "2160-0"


def test_unknown_lab_code_is_kept_not_an_error() -> None:
    lab = LabResult.model_validate({"code": "ferritin", "value": "30 ng/mL"})
    assert not lab.known and lab.value == "30 ng/mL"


def test_every_bad_field_is_named_in_one_error() -> None:
    bad = enc(vitals={"sbp": "high"}, prescriptions=[{"drug": "x", "dose": "5 mmHg"}],
              labs=[{"code": "creatinine", "value": "1.1"}])
    del bad["patient"]["id"]
    with pytest.raises(InputError) as err:
        Encounter.parse(bad)
    assert err.value.fields == ["patient.id", "vitals.sbp", "labs[0].value",
                                "prescriptions[0].dose"]
    text = str(err.value)
    assert "4 bad fields" in text
    assert "expected a mass (mg)" in text  # wrong dimension names the expected one
    assert "needs a unit" in text


def test_wrong_dimension_names_expected_unit_for_labs() -> None:
    with pytest.raises(InputError, match=r"labs\[0\].value: cannot convert from 'mmHg'"):
        Encounter.parse(enc(labs=[{"code": "potassium", "value": "4 mmHg"}]))


@pytest.mark.parametrize("text", ["not json", "[1, 2]", "42", '{"id": "e"}'])
def test_not_an_encounter(text) -> None:
    with pytest.raises(InputError):
        Encounter.parse(text)


def test_nan_and_infinity_are_refused() -> None:
    with pytest.raises(InputError, match=r"vitals\.sbp"):
        Encounter.parse(enc(vitals={"sbp": float("nan")}))
    with pytest.raises(InputError, match=r"vitals\.sbp"):
        Encounter.parse(enc(vitals={"sbp": "inf mmHg"}))


def test_input_error_is_a_value_error_and_pickles() -> None:
    with pytest.raises(ValueError) as err:
        Encounter.parse(enc(visit_type="emergency"))
    again = pickle.loads(pickle.dumps(err.value))
    assert str(again) == str(err.value) and again.fields == ["visit_type"]


def test_models_are_immutable() -> None:
    e = Encounter.parse(BASE)
    with pytest.raises(ValueError):
        e.id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(("raw", "expected"), [
    ("7 10^9/L", 7.0), ("7 ×10^9/L", 7.0), ("7 10*9/L", 7.0), ("7000 /uL", 7.0),
    ("7 G/L", 7.0),
])
def test_blood_counts_as_written_in_chinese_emrs(raw, expected) -> None:
    assert LabResult.model_validate({"code": "wbc", "value": raw}).value == pytest.approx(
        expected)


@pytest.mark.parametrize("word, per_week", [("每周一次", 1), ("每周1次", 1), ("每周两次", 2),
                                            ("每周二次", 2), ("每周2次", 2), ("每周三次", 3),
                                            ("每周3次", 3), ("biw", 2), ("tiw", 3)])
def test_weekly_frequency_words(word: str, per_week: int) -> None:
    """Weekly frequencies as Chinese prescriptions write them (knowledge/prescribing.yaml)."""
    import cdss

    enc = cdss.Engine(backend="python").parse(
        {"id": "x", "time": "2026-11-20T09:30:00+08:00",
         "patient": {"id": "p", "sex": "male", "birth_date": "1960-01-01"},
         "prescriptions": [{"drug": "甲氨蝶呤", "dose": "7.5 mg", "frequency": word}]})
    assert enc.prescriptions[0].frequency.times_per_day == pytest.approx(per_week / 7)
