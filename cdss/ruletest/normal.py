"""The normal encounter: a complete adult visit on which no bundled rule has anything to say.

A 45-year-old man, every vital sign normal (NEWS2 0, BP 118/76, glucose 5.5 mmol/L), a
complete and signed record, allergies reviewed (none), an empty problem list and no
prescriptions. Rule cases change only what they are about: :func:`encounter` merges
overrides into it (dicts key by key; anything else, lists included, replaces the value;
``None`` removes the key).
"""

from __future__ import annotations

import copy
from typing import Any

NORMAL: dict[str, Any] = {
    "id": "enc-test",
    "time": "2026-11-20T09:30:00+08:00",
    "visit_type": "first",
    "patient": {
        "id": "p-test",
        "sex": "male",
        "birth_date": "1981-03-15",
        "pregnant": False,
        "weight": "70 kg",
        "height": "172 cm",
        "allergies": [],
        "allergies_reviewed": True,
        "conditions": [],
    },
    "vitals": {
        "sbp": 118,
        "dbp": 76,
        "heart_rate": 72,
        "resp_rate": 16,
        "temperature": "36.6 degC",
        "spo2": 98,
        "consciousness": "alert",
        "on_oxygen": False,
        "glucose": "5.5 mmol/L",
        "glucose_context": "random",
    },
    "labs": [
        {"code": "creatinine", "value": "80 umol/L", "time": "2026-11-01"},
        {"code": "potassium", "value": "4.2 mmol/L", "time": "2026-11-01"},
        {"code": "sodium", "value": "140 mmol/L", "time": "2026-11-01"},
        {"code": "hemoglobin", "value": "140 g/L", "time": "2026-11-01"},
        {"code": "hba1c", "value": "5.4 %", "time": "2026-11-01"},
    ],
    "symptoms": [],
    "record": {
        "chief_complaint": "体检复查1天",
        "present_illness": "无不适，前来常规体检。",
        "past_history": "既往体健。",
        "allergy_history": "否认药物过敏史",
        "physical_exam": "神清，心肺听诊无异常，腹软无压痛。",
        "auxiliary_exams": "无",
        "diagnoses": [{"code": "Z00.0", "name": "一般医学检查"}],
        "treatment_plan": "健康宣教，一年后复查。",
        "physician": "张医生",
        "signed_at": "2026-11-20T09:50:00+08:00",
    },
    "prescriptions": [],
}


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A new dict: ``base`` with ``overrides`` merged in (dicts recursively)."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def encounter(overrides: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    """A complete, normal adult encounter with ``overrides`` (and keyword overrides) merged."""
    merged = deep_merge(NORMAL, overrides or {})
    return deep_merge(merged, kw)
