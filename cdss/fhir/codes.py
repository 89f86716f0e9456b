"""Code systems and codes the mapping reads and writes (from the FHIR R4 spec, HL7
terminology, LOINC and SNOMED CT as the spec's examples use them; no clinical numbers)."""

from __future__ import annotations

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ATC = "http://www.whocc.no/atc"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD10_SYSTEMS = frozenset({ICD10, "http://hl7.org/fhir/sid/icd-10-cn"})
GTS = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
#: cdss's own extension on a glucose Observation: fasting | random | 2h_postprandial
GLUCOSE_CONTEXT_URL = "urn:cdss:fhir:StructureDefinition:glucose-context"
#: the identifier system of a patient id that is not a valid FHIR id
PATIENT_ID_SYSTEM = "urn:cdss:patient-id"

#: vital-sign LOINC codes (FHIR R4 vital signs profile) -> contract field
VITAL_LOINC: dict[str, str] = {
    "8480-6": "sbp", "8462-4": "dbp", "8867-4": "heart_rate", "9279-1": "resp_rate",
    "8310-5": "temperature", "59408-5": "spo2", "2708-6": "spo2",
    "29463-7": "weight", "8302-2": "height",
}
#: the BP panel (vital signs profile); any Observation with SBP/DBP components is read
BP_PANEL = "85354-9"
#: the field a vital-sign field is written to by from_encounter
VITAL_EXPORT: dict[str, str] = {
    "sbp": "8480-6", "dbp": "8462-4", "heart_rate": "8867-4", "resp_rate": "9279-1",
    "temperature": "8310-5", "spo2": "59408-5", "weight": "29463-7", "height": "8302-2",
}
#: patient-level fields among the vital-sign codes
PATIENT_VITALS = frozenset({"weight", "height"})

#: Pregnancy status (LOINC 82810-3) answers, LOINC answer list and SNOMED CT
PREGNANCY_STATUS = "82810-3"
PREGNANT = {"LA15173-0": True, "77386006": True, "LA26683-5": False, "60001007": False}

#: "no known allergy" / "no known drug allergy" (SNOMED CT), the allergy history taken
NO_KNOWN_ALLERGY = frozenset({"716186003", "409137002"})

#: HL7 TimingAbbreviation (v3-GTSAbbreviation) -> a contract frequency
GTS_FREQUENCY: dict[str, str | dict[str, float]] = {
    "QD": "qd", "BID": "bid", "TID": "tid", "QID": "qid", "QOD": "qod", "AM": "qam",
    "PM": "qpm", "BED": "hs", "Q4H": "q4h", "Q6H": "q6h", "Q8H": "q8h", "WK": "qw",
    "Q1H": {"times_per_day": 24}, "Q2H": {"times_per_day": 12}, "Q3H": {"times_per_day": 8},
}
#: contract frequency -> TimingAbbreviation, for from_encounter
FREQUENCY_GTS: dict[str, str] = {v: k for k, v in GTS_FREQUENCY.items() if isinstance(v, str)}

#: SNOMED CT route of administration -> the contract's route code
ROUTE_SNOMED: dict[str, str] = {
    "26643006": "oral", "47625008": "iv", "78421000": "im", "34206005": "sc",
    "37839007": "sublingual", "37161004": "rectal", "6064005": "topical",
}
SNOMED_ROUTE: dict[str, str] = {v: k for k, v in ROUTE_SNOMED.items()}

#: MedicationRequest statuses that are not current prescriptions
NOT_CURRENT = frozenset({"cancelled", "entered-in-error", "stopped", "completed"})
#: Observation statuses without a usable result
NO_RESULT = frozenset({"cancelled", "entered-in-error", "registered"})
#: clinicalStatus of a Condition on the problem list
ACTIVE_CONDITION = frozenset({"active", "recurrence", "relapse"})
#: resource types the mapping reads; others are notes
MAPPED_TYPES = frozenset({"Patient", "Observation", "Condition", "AllergyIntolerance",
                          "MedicationRequest", "Encounter", "Medication", "Composition"})
#: CDS Hooks order types that are not medication orders (ignored, a note)
OTHER_ORDERS = frozenset({"NutritionOrder", "ServiceRequest", "DeviceRequest",
                          "VisionPrescription", "CommunicationRequest", "SupplyRequest"})
