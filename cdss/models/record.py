"""The written outpatient record of the visit (病历)."""

from __future__ import annotations

from pydantic import Field

from cdss import limits
from cdss.models._base import DateTime, Model, Name, Text
from cdss.models.patient import Condition

#: Text sections of the record, in the order of 病历书写基本规范.
TEXT_SECTIONS = (
    "chief_complaint",
    "present_illness",
    "past_history",
    "allergy_history",
    "physical_exam",
    "auxiliary_exams",
    "treatment_plan",
)


class MedicalRecord(Model):
    """Record sections as free text; any may be absent or empty."""

    chief_complaint: Text | None = None
    present_illness: Text | None = None
    past_history: Text | None = None
    allergy_history: Text | None = None
    physical_exam: Text | None = None
    auxiliary_exams: Text | None = None
    diagnoses: list[Condition] = Field(default_factory=list, max_length=limits.MAX_DIAGNOSES)
    treatment_plan: Text | None = None
    physician: Name | None = None
    signed_at: DateTime | None = None
