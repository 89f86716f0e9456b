"""Patient -> ``patient`` (id, sex, birth date)."""

from __future__ import annotations

import re
from typing import Any

from cdss.fhir.build import Builder

_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SEX = {"male": "male", "female": "female", "other": "other", "unknown": "unknown"}


def map_patient(b: Builder, res: dict[str, Any], path: str) -> None:
    """Sex from ``gender``, ``birth_date`` from a full ``birthDate``; the id from
    ``Patient.id``, else the first identifier value."""
    if "id" in b.patient:
        b.note(path, "a second Patient: not used")
        return
    pid = res.get("id") or next((i.get("value") for i in res.get("identifier") or []
                                 if isinstance(i, dict) and i.get("value")), None)
    if pid:
        b.patient["id"] = pid
        b.sources["patient.id"] = path
    gender = res.get("gender")
    if gender in _SEX:
        b.patient["sex"] = _SEX[gender]
    birth = res.get("birthDate")
    if isinstance(birth, str):
        if _FULL_DATE.match(birth):
            b.patient["birth_date"] = birth
            b.sources["patient.birth_date"] = f"{path}.birthDate"
        else:
            b.note(f"{path}.birthDate", "a partial birth date (year or month only): age "
                                        "not computed from it")
