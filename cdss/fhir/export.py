"""An encounter as a FHIR R4 Bundle (:func:`from_encounter`), the inverse of
:func:`cdss.fhir.to_encounter` for the parts FHIR carries (docs/fhir.md)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from cdss.fhir import codes as fc
from cdss.fhir.ucum import ucum
from cdss.kb import KnowledgeBase
from cdss.models import Encounter, Prescription

_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_VITAL_UNITS = {"sbp": "mm[Hg]", "dbp": "mm[Hg]", "heart_rate": "/min", "resp_rate": "/min",
                "temperature": "Cel", "spo2": "%", "weight": "kg", "height": "cm"}


def from_encounter(encounter: Any, *, zone: str = "+08:00",
                   kb: KnowledgeBase | None = None) -> dict[str, Any]:
    """A ``collection`` Bundle of Patient, Encounter, Observations, Conditions,
    AllergyIntolerances and MedicationRequests for ``encounter`` (a dict, JSON text
    or :class:`cdss.Encounter`; raises :class:`cdss.InputError` if it is invalid).

    FHIR times with a clock time need a zone: a time without one is written in
    ``zone`` (China Standard Time by default). Values are written in cdss's canonical
    units, as UCUM codes. With ``kb``, a known drug also gets its ATC coding.
    """
    enc = Encounter.parse(encounter)
    w = _Writer(enc, zone, kb)
    w.patient()
    w.encounter()
    w.vitals()
    w.labs()
    w.conditions()
    w.allergies()
    for rx in enc.prescriptions:
        w.prescription(rx)
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in w.out]}


class _Writer:
    def __init__(self, enc: Encounter, zone: str, kb: KnowledgeBase | None) -> None:
        self.enc, self.zone, self.kb = enc, zone, kb
        self.out: list[dict[str, Any]] = []
        self.pid = enc.patient.id if _FHIR_ID.match(enc.patient.id) else "patient"
        self.subject = {"reference": f"Patient/{self.pid}"}
        self.when = self.time(enc.time)

    def time(self, value: datetime | date) -> str:
        if isinstance(value, datetime):
            text = value.isoformat()
            return text if value.tzinfo is not None else text + self.zone
        return value.isoformat()

    def add(self, resource: dict[str, Any]) -> None:
        resource.setdefault("id", f"{resource['resourceType'].lower()}-{len(self.out)}")
        self.out.append(resource)

    def patient(self) -> None:
        p = self.enc.patient
        res: dict[str, Any] = {"resourceType": "Patient", "id": self.pid, "gender": p.sex}
        if p.id != self.pid:
            res["identifier"] = [{"system": fc.PATIENT_ID_SYSTEM, "value": p.id}]
            del res["id"]
        if p.birth_date:
            res["birthDate"] = p.birth_date.isoformat()
        self.add(res)
        if p.pregnant is not None:
            answer = "77386006" if p.pregnant else "60001007"
            self.observation("82810-3", {"valueCodeableConcept": {"coding": [
                {"system": fc.SNOMED, "code": answer}]}}, "social-history")

    def encounter(self) -> None:
        res: dict[str, Any] = {
            "resourceType": "Encounter", "status": "in-progress",
            "class": {"system": fc.ACT_CODE, "code": "AMB", "display": "ambulatory"},
            "subject": self.subject, "period": {"start": self.when}}
        if _FHIR_ID.match(self.enc.id):
            res["id"] = self.enc.id
        else:
            res["identifier"] = [{"value": self.enc.id}]
        if self.enc.site:
            res["location"] = [{"location": {"display": self.enc.site}}]
        self.add(res)

    def observation(self, loinc: str, value: dict[str, Any], category: str,
                    **extra: Any) -> None:
        self.add({"resourceType": "Observation", "status": "final",
                  "category": [{"coding": [{"system": fc.OBSERVATION_CATEGORY,
                                            "code": category}]}],
                  "code": {"coding": [{"system": fc.LOINC, "code": loinc}]},
                  "subject": self.subject, "effectiveDateTime": extra.pop("when", self.when),
                  **value, **extra})

    def vitals(self) -> None:
        v, p = self.enc.vitals, self.enc.patient
        values = {k: getattr(v, k) for k in ("sbp", "dbp", "heart_rate", "resp_rate",
                                               "temperature", "spo2")} if v else {}
        values |= {"weight": p.weight, "height": p.height}
        if values.get("sbp") is not None and values.get("dbp") is not None:
            self.observation(fc.BP_PANEL, {"component": [
                {"code": {"coding": [{"system": fc.LOINC, "code": fc.VITAL_EXPORT[k]}]},
                 "valueQuantity": _qty(values.pop(k), "mm[Hg]")} for k in ("sbp", "dbp")]},
                "vital-signs")
        for name, value in values.items():
            if value is not None:
                self.observation(fc.VITAL_EXPORT[name],
                                 {"valueQuantity": _qty(value, _VITAL_UNITS[name])},
                                 "vital-signs")
        if v is not None and v.glucose is not None:
            extra: dict[str, Any] = {}
            if v.glucose_context:
                extra["extension"] = [{"url": fc.GLUCOSE_CONTEXT_URL,
                                       "valueCode": v.glucose_context}]
            self.observation(self._loinc("glucose"), {"valueQuantity": _qty(
                v.glucose, "mmol/L")}, "vital-signs", **extra)

    def _loinc(self, code: str) -> str:
        from cdss.kb.analytes import analytes_by_code

        return analytes_by_code()[code].loinc[0]

    def labs(self) -> None:
        from cdss.kb.analytes import analytes_by_code

        for lab in self.enc.labs:
            analyte = analytes_by_code().get(lab.code)
            if analyte is None or not analyte.loinc or not isinstance(lab.value, float):
                continue  # an unknown code or a result without a value: nothing to send
            loinc = lab.source_code or analyte.loinc[0]
            extra = {"when": self.time(lab.time)} if lab.time is not None else {}
            self.observation(loinc, {"valueQuantity": _qty(lab.value, ucum(
                analyte.canonical))}, "laboratory", **extra)
            if lab.time is None:
                self.out[-1].pop("effectiveDateTime")

    def conditions(self) -> None:
        lists = [("problem-list-item", self.enc.patient.conditions or [])]
        if self.enc.record is not None:
            lists.append(("encounter-diagnosis", self.enc.record.diagnoses))
        for category, items in lists:
            for c in items:
                if not c.code:
                    continue  # a FHIR code cannot be empty
                coding = {"system": fc.ICD10, "code": c.code}
                code: dict[str, Any] = {"coding": [coding]}
                if c.name:
                    code["text"] = c.name
                self.add({"resourceType": "Condition", "clinicalStatus": {"coding": [
                    {"system": fc.CONDITION_CLINICAL, "code": "active"}]},
                    "category": [{"coding": [{"system": fc.CONDITION_CATEGORY,
                                              "code": category}]}],
                    "code": code, "subject": self.subject})
        if self.enc.patient.conditions == []:  # an empty problem list, as a search result
            self.add({"resourceType": "Bundle", "type": "searchset", "link": [
                {"relation": "self", "url": f"Condition?patient={self.pid}"}]})

    def allergies(self) -> None:
        p = self.enc.patient
        active = {"coding": [{"system": fc.ALLERGY_CLINICAL, "code": "active"}]}
        for a in p.allergies:
            res: dict[str, Any] = {"resourceType": "AllergyIntolerance",
                                   "clinicalStatus": active, "code": {"text": a.substance},
                                   "patient": self.subject}
            if a.reaction:
                res["reaction"] = [{"manifestation": [{"text": a.reaction}]}]
            self.add(res)
        if p.allergies_reviewed and not p.allergies:
            self.add({"resourceType": "AllergyIntolerance", "clinicalStatus": active,
                      "code": {"coding": [{"system": fc.SNOMED, "code": "716186003",
                                           "display": "No known allergy"}]},
                      "patient": self.subject})

    def prescription(self, rx: Prescription) -> None:
        concept: dict[str, Any] = {"text": rx.drug}
        drug = self.kb.resolve_drug(rx.drug) if self.kb else None
        if drug is not None and drug.atc:
            concept["coding"] = [{"system": fc.ATC, "code": drug.atc[0]}]
        dosage: dict[str, Any] = {}
        if rx.frequency is not None:
            timing: dict[str, Any] = {"code": {"text": rx.frequency.code}}
            gts = fc.FREQUENCY_GTS.get(rx.frequency.code)
            if gts:
                timing["code"]["coding"] = [{"system": fc.GTS, "code": gts}]
            n = rx.frequency.times_per_day
            if n is None:
                dosage["asNeededBoolean"] = True
            elif n >= 1 and float(n).is_integer():
                timing["repeat"] = {"frequency": int(n), "period": 1, "periodUnit": "d"}
            else:
                timing["repeat"] = {"frequency": 1, "period": round(1 / n, 6),
                                    "periodUnit": "d"}
            dosage["timing"] = timing
        if rx.route:
            route: dict[str, Any] = {"text": rx.route}
            if rx.route in fc.SNOMED_ROUTE:
                route["coding"] = [{"system": fc.SNOMED, "code": fc.SNOMED_ROUTE[rx.route]}]
            dosage["route"] = route
        if rx.dose is not None:
            dosage["doseAndRate"] = [{"doseQuantity": _qty(rx.dose.value, ucum(rx.dose.unit),
                                                           shown=rx.dose.unit)}]
        res: dict[str, Any] = {"resourceType": "MedicationRequest", "status": "active",
                               "intent": "order", "medicationCodeableConcept": concept,
                               "subject": self.subject}
        if dosage:
            res["dosageInstruction"] = [dosage]
        if rx.duration is not None:
            res["dispenseRequest"] = {"expectedSupplyDuration": _qty(rx.duration, "d")}
        self.add(res)


def _qty(value: float, unit: str, shown: str | None = None) -> dict[str, Any]:
    """A Quantity with UCUM ``unit`` as its code; ``shown``: its human unit when the code
    is an annotation (``{tbl}`` shown as "tablet")."""
    number: float | int = int(value) if float(value).is_integer() and abs(value) < 2**53 \
        else value
    return {"value": number, "unit": shown or unit, "system": fc.UCUM, "code": unit}
