"""Composition (a clinical note) -> ``record``: its sections by LOINC document-section code.

The section codes are those of HL7's outpatient note sections (LOINC "Chief complaint
Narrative", "History of Present illness Narrative", ...); the text is the section's
narrative with its XHTML tags removed. A section with another code is a note.
"""

from __future__ import annotations

import html
import re
from typing import Any

from cdss.fhir.build import Builder

#: LOINC section code -> the contract's ``record`` field
SECTIONS: dict[str, str] = {
    "10154-3": "chief_complaint",       # Chief complaint Narrative - Reported
    "10164-2": "present_illness",       # History of Present illness Narrative
    "11348-0": "past_history",          # History of Past illness Narrative
    "48765-2": "allergy_history",       # Allergies and adverse reactions Document
    "29545-1": "physical_exam",         # Physical findings Narrative
    "30954-2": "auxiliary_exams",       # Relevant diagnostic tests/laboratory data Narrative
    "18776-5": "treatment_plan",        # Plan of care note
}
_LOINC = "http://loinc.org"
_TAG = re.compile(r"<[^>]*>")


def section_text(div: str) -> str:
    """The plain text of an XHTML narrative ``div``."""
    return html.unescape(_TAG.sub("", div)).strip()


def map_composition(b: Builder, res: dict[str, Any], path: str) -> None:
    """Each known section's narrative into ``record``; the first of a field wins."""
    for i, section in enumerate(res.get("section") or []):
        where = f"{path}.section[{i}]"
        codes = [c.get("code") for c in (section.get("code") or {}).get("coding") or []
                 if c.get("system") == _LOINC]
        field = next((SECTIONS[c] for c in codes if c in SECTIONS), None)
        div = (section.get("text") or {}).get("div")
        if field is None:
            b.note(where, "a section cdss does not read (no known LOINC section code)")
        elif not isinstance(div, str) or not section_text(div):
            b.note(where, f"{field}: no narrative text")
        elif field in b.record:
            b.note(where, f"{field}: given twice; the first used")
        else:
            b.record[field] = section_text(div)
            b.sources[f"record.{field}"] = f"{where}.text.div"
