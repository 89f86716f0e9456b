"""The written outpatient record of the visit (病历)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from cdss.models._base import Model
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

    chief_complaint: str | None = None
    present_illness: str | None = None
    past_history: str | None = None
    allergy_history: str | None = None
    physical_exam: str | None = None
    auxiliary_exams: str | None = None
    diagnoses: list[Condition] = Field(default_factory=list)
    treatment_plan: str | None = None
    physician: str | None = None
    signed_at: datetime | None = None
