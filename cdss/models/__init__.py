"""Typed input models (contract section 2); quantities in canonical units."""

from cdss.models.encounter import Encounter, Followup, History
from cdss.models.labs import LabResult
from cdss.models.patient import Allergy, Condition, Patient
from cdss.models.prescription import Dose, Frequency, Prescription
from cdss.models.record import TEXT_SECTIONS, MedicalRecord
from cdss.models.vitals import VitalSigns

__all__ = [
    "TEXT_SECTIONS",
    "Allergy",
    "Condition",
    "Dose",
    "Encounter",
    "Followup",
    "Frequency",
    "History",
    "LabResult",
    "MedicalRecord",
    "Patient",
    "Prescription",
    "VitalSigns",
]
