"""Input limits, the unit grammar and the reproducers of issue #12: every bad input is an
InputError naming the field (and the limit it passed), fast, without the raw value."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

import cdss
from cdss import Encounter, InputError, limits, units
from cdss.errors import masked

from _encounters import encounter, rx, with_rx


def _error(raw: Any) -> InputError:
    with pytest.raises(InputError) as err:
        Encounter.parse(raw)
    return err.value


def _check_error(raw: Any) -> InputError:
    """The error of ``cdss.check`` (which parses, then derives and evaluates)."""
    with pytest.raises(InputError) as err:
        cdss.check(raw)
    return err.value


def _dose(dose: Any) -> dict[str, Any]:
    return with_rx({**rx("metformin", "500 mg", "tid"), "dose": dose})


# ---------------------------------------------------------------------------------
# Reproducers of issue #12, each once as it was reported
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dose", [
    "5 mg**9**9**9",  # pint computed 9^(9^9) holding the GIL: the host froze
    "5 mg)", "5 (mg", "5 mg/(L", "5 mg/L)",  # tokenize errors
    "5 mg/0",  # ZeroDivisionError
    "5 IU**0",  # KeyError
    "5 1e308**2",  # OverflowError
    {"value": 5, "unit": "mg**9**9**9"},
    {"value": 5, "unit": "mg/0"},
])
def test_hostile_units_are_input_errors_before_pint(dose: Any) -> None:
    err = _check_error(_dose(dose))
    assert err.fields == ["prescriptions[0].dose"]
    assert "expected a unit such as" in str(err)


def test_a_power_tower_is_refused_in_well_under_a_millisecond() -> None:
    units.linear_map.cache_clear()
    raw = _dose("5 mg**9**9**9")["prescriptions"][0]
    best = float("inf")
    for _ in range(20):
        start = time.perf_counter()
        with pytest.raises(ValueError):
            cdss.models.Prescription.model_validate(raw)
        best = min(best, time.perf_counter() - start)
    assert best < 1e-3


@pytest.mark.parametrize(("overrides", "field"), [
    ({"vitals": {"sbp": 10**400}}, "vitals.sbp"),  # OverflowError
    ({"vitals": {"sbp": 1e15}}, "vitals.sbp"),  # KeyError in the explainer
    ({"vitals": {"sbp": -(10**400)}}, "vitals.sbp"),
    ({"vitals": {"heart_rate": "1e300 /min"}}, "vitals.heart_rate"),
    ({"patient": {"weight": {"value": 10**30, "unit": "kg"}}}, "patient.weight"),
    ({"labs": [{"code": "creatinine", "value": "1e200 umol/L"}]}, "labs[0].value"),
    ({"labs": [{"code": "hba1c", "value": "1e12 mmol/mol"}]}, "labs[0].value"),
    ({"labs": [{"code": "not_a_code", "value": 10**400}]}, "labs[0].value"),
])
def test_huge_numbers_are_input_errors(overrides: dict[str, Any], field: str) -> None:
    err = _check_error(encounter(overrides))
    assert err.fields == [field]
    assert "1,000,000,000" in str(err)


def test_a_number_within_the_limit_but_converted_past_it_is_an_error() -> None:
    """1e9 g is within the number limit, but 1e12 mg is not."""
    err = _check_error(_dose("1000000000 g"))
    assert err.fields == ["prescriptions[0].dose"]


def test_an_implausible_but_bounded_vital_is_a_finding_not_an_error() -> None:
    report = cdss.check(encounter(vitals={"sbp": 1e9}))
    assert "quality.implausible.value" in {s.rule_id for s in report.suggestions}


@pytest.mark.parametrize("times_per_day", [10**400, -3, 0, 0.0, -0.5, 1441, True, "3"])
def test_times_per_day_must_be_positive_and_bounded(times_per_day: Any) -> None:
    for frequency in ({"times_per_day": times_per_day},
                      {"code": "tid", "times_per_day": times_per_day}):
        err = _check_error(with_rx({**rx("metformin", "1500 mg"), "frequency": frequency}))
        assert err.fields == ["prescriptions[0].frequency"]


def test_metformin_tid_with_an_explicit_count_keeps_its_max_daily_alert() -> None:
    """The issue: {"code": "tid", "times_per_day": -3} skipped the positive check and the
    max-daily alert became "below usual dose"."""
    good = with_rx({**rx("metformin", "1500 mg"),
                    "frequency": {"code": "tid", "times_per_day": 3}})
    rules = {s.rule_id for s in cdss.check(good).suggestions}
    assert "dosing.dose_high.max_daily" in rules
    assert "dosing.dose_low.below_usual" not in rules
    prn = Encounter.parse(with_rx({**rx("metformin", "500 mg"),
                                   "frequency": {"code": "prn", "times_per_day": None}}))
    assert prn.prescriptions[0].daily_dose is None


def test_a_5000_digit_integer_in_the_json_text_is_an_input_error() -> None:
    text = json.dumps(encounter()).replace('"sbp": 118', '"sbp": ' + "9" * 5000)
    assert '"sbp": 999' in text
    err = _check_error(text)
    assert err.fields == ["$"] and str(limits.MAX_NUMBER_LENGTH) in str(err)
    err = _error(text.replace('"sbp": 9', '"sbp": 0.9'))  # a long float literal too
    assert err.fields == ["$"]


@pytest.mark.parametrize("depth", [limits.MAX_JSON_DEPTH + 1, 10**4, 10**5])
def test_deeply_nested_json_is_an_input_error(depth: int) -> None:
    base = json.dumps(encounter())
    for nest in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        err = _check_error(base[:-1] + ', "extension": ' + nest + "}")
        assert err.fields == ["$"] and str(limits.MAX_JSON_DEPTH) in str(err)
    unbalanced = base[:-1] + ', "x": ' + "[" * depth + "}"
    assert _error(unbalanced).fields == ["$"]


def test_nesting_within_the_limit_and_brackets_in_strings_are_fine() -> None:
    nest = "[" * (limits.MAX_JSON_DEPTH - 2) + "]" * (limits.MAX_JSON_DEPTH - 2)
    base = json.dumps(encounter())
    assert Encounter.parse(base[:-1] + ', "extension": ' + nest + "}").id == "enc-test"
    text = json.dumps(encounter(record={"present_illness": "[" * 10**4 + '\\"{'}))
    assert Encounter.parse(text).record.present_illness.startswith("[[[")
    assert limits.json_depth('{"a": "[[[\\"[[", "b": [[1]]}') == 3


@pytest.mark.parametrize(("overrides", "field"), [
    ({"time": "9999-12-31T10:00:00+08:00"}, "time"),
    ({"time": "0001-01-01T00:00:00"}, "time"),
    ({"history": {"followups": [{"date": "9999-12-31", "condition": "hypertension",
                                 "sbp": 150}]}}, "history.followups[0].date"),
    ({"labs": [{"code": "creatinine", "value": "80 umol/L", "time": "0001-01-01"}]},
     "labs[0].time"),
    ({"labs": [{"code": "creatinine", "value": "80 umol/L",
                "time": "9999-12-31T23:59:59-12:00"}]}, "labs[0].time"),
    ({"patient": {"birth_date": "1800-01-01"}}, "patient.birth_date"),
    ({"record": {"signed_at": "2101-01-01T00:00:00+08:00"}}, "record.signed_at"),
])
def test_dates_out_of_range_are_input_errors(overrides: dict[str, Any], field: str) -> None:
    err = _check_error(encounter(overrides))
    assert err.fields == [field]
    assert f"{limits.MIN_YEAR} and {limits.MAX_YEAR}" in str(err)


def test_dates_at_the_edges_of_the_range_are_accepted() -> None:
    e = Encounter.parse(encounter(
        patient={"birth_date": "1900-01-01"},
        labs=[{"code": "creatinine", "value": "80 umol/L", "time": "2100-12-31"}]))
    assert e.patient.birth_date.year == 1900


def test_a_16_mib_drug_name_is_an_input_error_naming_field_and_limit() -> None:
    """It was durable-rules error 314."""
    start = time.perf_counter()
    err = _check_error(with_rx(rx("x" * (16 << 20), "5 mg")))
    assert time.perf_counter() - start < 1
    assert err.fields == ["prescriptions[0].drug"]
    assert str(limits.MAX_NAME_LENGTH) in str(err)


@pytest.mark.parametrize(("overrides", "field", "limit"), [
    ({"id": "e" * (limits.MAX_ID_LENGTH + 1)}, "id", limits.MAX_ID_LENGTH),
    ({"patient": {"id": "p" * (limits.MAX_ID_LENGTH + 1)}}, "patient.id", limits.MAX_ID_LENGTH),
    ({"site": "s" * (limits.MAX_NAME_LENGTH + 1)}, "site", limits.MAX_NAME_LENGTH),
    ({"record": {"present_illness": "痛" * (limits.MAX_TEXT_LENGTH + 1)}},
     "record.present_illness", limits.MAX_TEXT_LENGTH),
    ({"record": {"physician": "医" * (limits.MAX_NAME_LENGTH + 1)}}, "record.physician",
     limits.MAX_NAME_LENGTH),
    ({"symptoms": ["胸" * (limits.MAX_SHORT_TEXT_LENGTH + 1)]}, "symptoms[0]",
     limits.MAX_SHORT_TEXT_LENGTH),
    ({"patient": {"allergies": [{"substance": "a" * (limits.MAX_NAME_LENGTH + 1)}]}},
     "patient.allergies[0].substance", limits.MAX_NAME_LENGTH),
    ({"patient": {"conditions": [{"code": "I" * (limits.MAX_CODE_LENGTH + 1)}]}},
     "patient.conditions[0].code", limits.MAX_CODE_LENGTH),
    ({"labs": [{"code": "c" * (limits.MAX_CODE_LENGTH + 1), "value": 1}]}, "labs[0].code",
     limits.MAX_CODE_LENGTH),
    ({"labs": [{"code": "unknown_test", "value": "阳" * 501}]}, "labs[0].value",
     limits.MAX_SHORT_TEXT_LENGTH),
    ({"prescriptions": [{**rx("metformin", "500 mg"), "route": "o" * 65}]},
     "prescriptions[0].route", limits.MAX_CODE_LENGTH),
    ({"prescriptions": [{**rx("metformin", "500 mg"), "frequency": "q" * 65}]},
     "prescriptions[0].frequency", limits.MAX_CODE_LENGTH),
    ({"prescriptions": [rx("metformin", "5" * 30 + " mg" + " " * 40)]},
     "prescriptions[0].dose", limits.MAX_QUANTITY_LENGTH),
])
def test_long_strings_are_input_errors_naming_field_and_limit(
        overrides: dict[str, Any], field: str, limit: int) -> None:
    err = _check_error(encounter(overrides))
    assert err.fields == [field]
    assert str(limit) in str(err)


@pytest.mark.parametrize(("path", "item", "limit"), [
    (("prescriptions",), rx("metformin", "500 mg"), limits.MAX_PRESCRIPTIONS),
    (("labs",), {"code": "potassium", "value": "4 mmol/L"}, limits.MAX_LABS),
    (("symptoms",), "头晕", limits.MAX_SYMPTOMS),
    (("patient", "allergies"), {"substance": "青霉素"}, limits.MAX_ALLERGIES),
    (("patient", "conditions"), {"code": "I10"}, limits.MAX_CONDITIONS),
    (("record", "diagnoses"), {"code": "I10"}, limits.MAX_DIAGNOSES),
    (("history", "followups"), {"date": "2026-01-01"}, limits.MAX_FOLLOWUPS),
])
def test_list_lengths_are_bounded(path: tuple[str, ...], item: Any, limit: int) -> None:
    def build(n: int) -> dict[str, Any]:
        raw = encounter()
        node = raw
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = [item] * n
        return raw

    Encounter.parse(build(limit))
    err = _error(build(limit + 1))
    assert err.fields == [".".join(path)]
    assert str(limit) in str(err)
    start = time.perf_counter()
    _error(build(10**6))
    assert time.perf_counter() - start < 1


def test_json_text_larger_than_the_limit_is_refused_before_parsing() -> None:
    text = json.dumps(encounter(record={"present_illness": "x" * limits.MAX_JSON_SIZE}))
    err = _error(text)
    assert err.fields == ["$"] and str(limits.MAX_JSON_SIZE) in str(err)
    assert _error(text.encode()).fields == ["$"]


@pytest.mark.parametrize("raw", [
    b'{"id": "e", "time": "2026-01-01T00:00:00", "patient": {"id": "\xff"}}',
    "{\"id\": \"e\", \"patient\": {\"id\": \"张\"}}".encode()[:-4],  # a character cut in half
    "not json", "", "[]", "1e999", "NaN", '{"id": 1e999}',
])
def test_bad_json_texts_are_input_errors(raw: str | bytes) -> None:
    assert _error(raw).fields  # no UnicodeDecodeError, ValueError...


def test_a_byte_order_mark_is_accepted() -> None:
    text = json.dumps(encounter())
    assert Encounter.parse("\ufeff" + text).id == "enc-test"
    assert Encounter.parse(b"\xef\xbb\xbf" + text.encode()).id == "enc-test"


# ---------------------------------------------------------------------------------
# The unit grammar accepts what the contract accepts
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("unit", [
    "mg", "g", "ug", "µg", "mL", "L", "IU", "U", "u", "units", "单位", "kg", "lb", "cm", "m",
    "mmHg", "kPa", "/min", "1/min", "bpm", "次/分", "次/min", "degC", "℃", "°C", "°F", "degF",
    "%", "percent", "mmol/L", "umol/L", "µmol/L", "mg/dL", "g/L", "g/dL", "U/L", "IU/L",
    "mmol/mol", "mg/mmol", "mg/g", "ng/L", "ng/mL", "10^9/L", "×10^9/L", "x10^9/L", "10*9/L",
    "G/L", "10^12/L", "/uL", "/µL", "/mm3", "1/nL", "d", "day", "wk", "周", "天", "kg/m2",
    "mg/kg/d", "mg·kg", "mg*kg", "mg / dL",
])
def test_the_unit_grammar_accepts_the_contract_units(unit: str) -> None:
    assert units.check_unit(unit) == unit


@pytest.mark.parametrize("unit", [
    "mg**9**9**9", "mg**2", "mg^2", "10^99/L", "mg)", "(mg", "mg/(L)", "mg/0", "IU**0",
    "1e308**2", "mg+mg", "mg-mg", "mg mg", "mg//L", "mg/", "/", "2mg", "mg/1.73", "m²",
    "mg⁹⁹⁹⁹⁹⁹", "mg½", "①",
    "mg;L", "__import__", "mg\n", "a/b/c/d/e", "m" * 33,
])
def test_the_unit_grammar_refuses_operators_exponents_and_numbers(unit: str) -> None:
    start = time.perf_counter()
    with pytest.raises(units.UnitProblem):
        units.check_unit(unit)
    assert time.perf_counter() - start < 1e-3


@pytest.mark.parametrize(("raw", "mg"), [
    ("500 mg", 500), ("0.5 g", 500), ("5e2 mg", 500), ({"value": 0.5, "unit": "g"}, 500),
    ({"value": "500", "unit": "mg"}, 500), ("500mg", 500),
])
def test_doses_still_read(raw: Any, mg: float) -> None:
    dose = Encounter.parse(_dose(raw)).prescriptions[0].dose
    assert dose is not None and dose.value == pytest.approx(mg) and dose.unit == "mg"


def test_pint_failures_after_the_grammar_are_unit_problems() -> None:
    """Letters pint does not know, or parses into something unusable: an InputError."""
    for unit in ("zzz", "mgg", "inf", "nan", "e", "pi", "ǅ", "次"):
        with pytest.raises(units.UnitProblem):
            units.to_canonical(f"5 {unit}", units.MASS)


# ---------------------------------------------------------------------------------
# Messages name the field and what was expected, never the patient's value
# ---------------------------------------------------------------------------------

_PHI = "Zhang San 330102199001011234"


@pytest.mark.parametrize("overrides", [
    {"vitals": {"sbp": _PHI}},
    {"vitals": {"sbp": {"value": _PHI, "unit": "mmHg"}}},
    {"vitals": {"sbp": {"value": 120, "unit": _PHI}}},
    {"prescriptions": [{**rx("metformin", "500 mg"), "dose": f"5 {_PHI.split()[0]}"}]},
    {"prescriptions": [{**rx("metformin", "500 mg"), "dose": f"5 {_PHI}"}]},
    {"prescriptions": [{**rx("metformin", "500 mg"), "frequency": _PHI}]},
    {"prescriptions": [{**rx("metformin", "500 mg"), "frequency": [_PHI]}]},
    {"prescriptions": [{**rx("metformin", "500 mg"),
                        "frequency": {"times_per_day": _PHI}}]},
    {"prescriptions": [{**rx("metformin", "500 mg"), "duration": _PHI}]},
    {"labs": [{"code": "creatinine", "value": _PHI}]},
    {"labs": [{"code": "creatinine", "value": f"80 {_PHI[:20]}"}]},
    {"patient": {"weight": 330102199001011234}},  # a bare number is not repeated either
    {"prescriptions": [{**rx("metformin", "500 mg"), "duration": 330102199}]},
    {"prescriptions": [{**rx("metformin", "500 mg"), "dose": 330102199}]},
])
def test_messages_do_not_repeat_the_raw_value(overrides: dict[str, Any]) -> None:
    message = str(_check_error(encounter(overrides)))
    for fragment in ("Zhang", "San", "3301", "0102", "1234"):
        assert fragment not in message


def test_messages_stay_useful() -> None:
    message = str(_error(encounter(vitals={"sbp": _PHI})))
    assert "vitals.sbp" in message and "'5 mg'" in message and "28 characters" in message
    message = str(_error(_dose("5 zzz")))
    assert "unknown unit" in message and "prescriptions[0].dose" in message
    message = str(_error(_dose("5 mmHg")))
    assert "mmHg" in message  # a unit pint knows is not patient data


@pytest.mark.parametrize(("value", "shown"), [
    ("Zhang San", "'Zh…' (9 characters)"), ("ab", "'ab'"), (12345, "an int"),
    (1.5, "a float"), (None, "None"), ([1, 2], "a list"), ({"a": 1}, "a dict"),
])
def test_masked(value: Any, shown: str) -> None:
    assert masked(value) == shown


def test_input_error_with_limits_still_pickles() -> None:
    import pickle

    err = _error(with_rx(rx("x" * 300, "5 mg")))
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.fields == err.fields


def test_deep_python_objects_are_input_errors_or_ignored() -> None:
    deep: Any = 1
    for _ in range(10**4):
        deep = [deep]
    for key, value in (("vitals", {"sbp": deep}), ("labs", [{"code": "x", "value": deep}]),
                       ("prescriptions", [{"drug": "metformin", "dose": deep}]),
                       ("record", {"physician": deep}), ("symptoms", deep)):
        raw = encounter()  # (deep-copies: the deep value is set afterwards)
        raw[key] = value
        assert _check_error(raw).fields
    raw = encounter()
    raw["extension"] = deep
    assert cdss.check(raw).suggestions is not None
    assert _error(deep).fields == ["$"]


def test_a_json_control_character_is_named_without_a_doubled_at() -> None:
    # json says "Invalid control character at"; the reason must not read "at at line"
    with pytest.raises(InputError) as err:
        limits.load_json('{"id": "a\x01b"}')
    text = str(err.value)
    assert "Invalid control character at line 1" in text and "at at" not in text
