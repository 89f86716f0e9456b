"""The encounter: one visit, the root of the input JSON (contract section 2)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field, ValidationError

from cdss.errors import FieldProblem, InputError
from cdss.models._base import MmHg, Model, input_error
from cdss.models.labs import LabResult
from cdss.models.patient import Patient
from cdss.models.prescription import Prescription
from cdss.models.record import MedicalRecord
from cdss.models.vitals import Glucose, VitalSigns


class Followup(Model):
    """A past chronic-disease follow-up visit."""

    date: date
    condition: str | None = None
    sbp: MmHg | None = None
    dbp: MmHg | None = None
    glucose: Glucose | None = None


class History(Model):
    """What is known from earlier visits."""

    followups: list[Followup] = Field(default_factory=list)


class Encounter(Model):
    """One visit. Only ``id``, ``time`` and ``patient.id`` are required."""

    id: str = Field(min_length=1)
    time: datetime
    visit_type: Literal["first", "return"] | None = None
    #: where the visit took place (a van, township health centre or village clinic);
    #: reviewers' audits group by it
    site: str | None = None
    patient: Patient
    vitals: VitalSigns | None = None
    labs: list[LabResult] = Field(default_factory=list)
    symptoms: list[str] = Field(default_factory=list)
    record: MedicalRecord | None = None
    prescriptions: list[Prescription] = Field(default_factory=list)
    history: History | None = None

    @classmethod
    def parse(cls, data: Encounter | dict[str, Any] | str | bytes) -> Encounter:
        """Read an encounter from a model, a dict or a JSON text.

        :raises cdss.InputError: naming every bad field by its path.
        """
        if isinstance(data, Encounter):
            return data
        if isinstance(data, str | bytes | bytearray):
            try:
                data = json.loads(data)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InputError([FieldProblem("$", f"not valid JSON: {exc}")]) from None
        if not isinstance(data, dict):
            raise InputError([FieldProblem("$", f"expected a JSON object, got "
                                                f"{type(data).__name__}")])
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise input_error(exc) from None
