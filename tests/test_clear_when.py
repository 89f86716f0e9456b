"""What would clear a suggestion (issue #16): boundaries computed from the rule itself.

Properties: moving the input to the stated boundary clears the suggestion; a value just
past it keeps it. Examples: dose limits, renal thresholds, age-dependent BP targets; no
boundary for identities (an allergy) or counts."""

from __future__ import annotations

import copy
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cdss

from _encounters import encounter, rx, with_rx

ENGINE = cdss.Engine(lang="en")
VITALS = ("vitals.sbp", "vitals.dbp")


def suggestion(report: cdss.Report, rule_id: str) -> cdss.Suggestion | None:
    return next((s for s in report.suggestions if s.rule_id == rule_id), None)


def _clearing_value(op: str, boundary: float, step: float) -> float:
    """A value that satisfies ``op boundary`` (the boundary itself where it may)."""
    return {"≤": boundary, "≥": boundary, "<": boundary - step, ">": boundary + step}[op]


def _past(op: str, boundary: float, step: float) -> float:
    """The nearest value that does not satisfy ``op boundary``."""
    return {"≤": boundary + step, "≥": boundary - step, "<": boundary, ">": boundary}[op]


def _set_vitals(enc: dict[str, Any], values: dict[str, float]) -> dict[str, Any]:
    out = copy.deepcopy(enc)
    for path, value in values.items():
        out["vitals"][path.split(".")[1]] = value
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sbp=st.integers(90, 230), dbp=st.integers(50, 140), age=st.integers(20, 95),
       hypertensive=st.booleans())
def test_moving_to_the_boundary_clears_and_just_past_keeps(sbp: int, dbp: int, age: int,
                                                          hypertensive: bool) -> None:
    patient: dict[str, Any] = {"birth_date": f"{2026 - age}-01-01"}
    history = None
    if hypertensive:
        patient["conditions"] = [{"code": "I10", "name": "高血压"}]
        history = {"followups": [{"date": "2026-10-20", "condition": "I10",
                                  "sbp": 130, "dbp": 80}]}
    enc = encounter(patient=patient, vitals={"sbp": sbp, "dbp": dbp},
                    **({"history": history} if history else {}))
    report = ENGINE.check(enc)
    for s in report.suggestions:
        for alternative in s.clear_when:
            conditions = alternative["all"]
            if not all(c["field"] in VITALS for c in conditions):
                continue
            cleared = _set_vitals(enc, {c["field"]: _clearing_value(c["op"], c["value"], 1)
                                        for c in conditions})
            assert suggestion(ENGINE.check(cleared), s.rule_id) is None, \
                (s.rule_id, alternative, cleared["vitals"])
            if len(conditions) == 1:
                (c,) = conditions
                kept = _set_vitals(enc, {c["field"]: _past(c["op"], c["value"], 1)})
                assert suggestion(ENGINE.check(kept), s.rule_id) is not None, \
                    (s.rule_id, alternative, kept["vitals"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drug=st.sampled_from(["amlodipine", "metformin", "paracetamol", "ibuprofen",
                             "atorvastatin", "losartan"]),
       times=st.sampled_from([("qd", 1), ("bid", 2), ("tid", 3)]),
       excess=st.integers(1, 400))
def test_a_daily_dose_at_the_stated_maximum_clears(drug: str, times: tuple[str, int],
                                                   excess: int) -> None:
    frequency, n = times
    limit = ENGINE.kb.dose_limit(ENGINE.kb.drugs[drug], "oral")
    assert limit is not None and limit.max_daily is not None
    daily = limit.max_daily * (1 + excess / 1000)
    report = ENGINE.check(with_rx(rx(drug, f"{daily / n:.4f} mg", frequency)))
    s = suggestion(report, "dosing.dose_high.max_daily")
    assert s is not None
    (alternative,) = [a for a in s.clear_when
                      if a["all"][0]["field"] == "prescriptions[0].daily_dose"]
    (c,) = alternative["all"]
    assert (c["op"], c["value"], c["unit"]) == ("≤", limit.max_daily, "mg/d")
    assert abs(c["now"] - daily) < 0.01
    # (the single dose written with 4 decimals, rounded down: n of them are at most the
    # boundary)
    at = ENGINE.check(with_rx(rx(drug, f"{math.floor(c['value'] / n * 1e4) / 1e4:.4f} mg",
                                 frequency)))
    assert suggestion(at, "dosing.dose_high.max_daily") is None
    past = ENGINE.check(with_rx(rx(drug, f"{(c['value'] + 1) / n:.4f} mg", frequency)))
    assert suggestion(past, "dosing.dose_high.max_daily") is not None


def test_a_renal_contraindication_names_the_egfr_needed() -> None:
    enc = with_rx(rx("metformin", "500 mg", "tid"),
                  labs=[{"code": "creatinine", "value": "250 umol/L", "time": "2026-11-19"}])
    s = suggestion(ENGINE.check(enc), "dosing.renal.egfr_contraindicated")
    assert s is not None
    (alternative,) = s.clear_when
    (c,) = alternative["all"]
    assert (c["field"], c["op"], c["value"]) == ("derived.egfr", "≥", 30)
    assert c["now"] < 30 and s.texts["en"]["clear"].startswith("eGFR ≥ 30 mL/min/1.73m² (now")
    assert s.texts["zh"]["clear"].startswith("估算肾小球滤过率（eGFR） ≥ 30")


def _uncontrolled(age: int, sbp: int, dbp: int) -> dict[str, Any]:
    return encounter(patient={"birth_date": f"{2026 - age}-01-01",
                              "conditions": [{"code": "I10", "name": "高血压"}]},
                     vitals={"sbp": sbp, "dbp": dbp},
                     history={"followups": [{"date": "2026-10-20", "condition": "I10",
                                             "sbp": 130, "dbp": 80}]})


def test_the_bp_target_is_the_one_for_the_patients_age() -> None:
    older = suggestion(ENGINE.check(_uncontrolled(85, 156, 84)),
                       "followup.uncontrolled.this_visit")
    younger = suggestion(ENGINE.check(_uncontrolled(50, 146, 84)),
                         "followup.uncontrolled.this_visit")
    assert older is not None and younger is not None
    targets = {(c["field"], c["op"], c["value"]) for c in older.clear_when[0]["all"]}
    assert targets == {("vitals.sbp", "<", 150), ("vitals.dbp", "<", 90)}
    targets = {(c["field"], c["op"], c["value"]) for c in younger.clear_when[0]["all"]}
    assert targets == {("vitals.sbp", "<", 140), ("vitals.dbp", "<", 90)}
    assert "systolic blood pressure < 150 mmHg (now 156)" in older.texts["en"]["clear"]
    assert suggestion(ENGINE.check(_uncontrolled(85, 149, 84)),
                      "followup.uncontrolled.this_visit") is None


def test_identities_and_counts_have_no_boundary() -> None:
    allergic = with_rx(rx("amoxicillin", "500 mg", "tid"),
                       patient={"allergies": [{"substance": "青霉素", "reaction": "皮疹"}]})
    s = suggestion(ENGINE.check(allergic), "dosing.allergy.same_drug_or_class")
    assert s is not None and s.clear_when == () and s.texts["en"]["clear"] == ""
    assert "clear_when" not in s.to_dict("en")
    unindicated = suggestion(ENGINE.check(with_rx(rx("amlodipine", "5 mg"))),
                             "quality.inconsistent.prescription_not_indicated")
    assert unindicated is not None and unindicated.clear_when == ()


def test_a_boundary_into_a_worse_finding_is_not_offered() -> None:
    s = suggestion(ENGINE.check(encounter(vitals={"sbp": 168, "dbp": 95})),
                   "diagnosis.hypertension.grade2")
    assert s is not None
    offered = [{(c["field"], c["op"], c["value"]) for c in a["all"]} for a in s.clear_when]
    assert offered == [{("vitals.sbp", "<", 160), ("vitals.dbp", "<", 100)}]


def test_every_rendering_says_what_would_clear() -> None:
    report = ENGINE.check(with_rx(rx("paracetamol", "1 g", "q4h")))
    data = report.to_dict()
    s = next(x for x in data["suggestions"] if x["rule_id"] == "dosing.dose_high.max_daily")
    assert s["clear_when"] == [{"all": [{"field": "prescriptions[0].daily_dose", "op": "≤",
                                         "value": 2000, "unit": "mg/d", "now": 6000.0}]}]
    assert "Clears when: daily dose of prescription 1 ≤ 2000 mg/d (now 6000)" in \
        report.to_text()
    card = next(c for c in report.to_cds_hooks()["cards"]
                if c["source"]["topic"]["code"] == "dosing.dose_high.max_daily")
    # (Markdown: the parentheses are escaped)
    assert "**Clears when**: daily dose of prescription 1 ≤ 2000 mg/d \\(now 6000\\)" in \
        card["detail"]
    assert "解除条件: 处方1的日剂量 ≤ 2000 mg/d（现为 6000）" in report.with_lang("zh").to_text()
