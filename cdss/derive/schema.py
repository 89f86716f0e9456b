"""The facts rules can read: types, fields, and where each field comes from.

This is the contract between ``derive`` (which builds facts) and the rule compiler
(which refuses a rule that reads a field not declared here).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from cdss.kb import KnowledgeBase
from cdss.models.record import TEXT_SECTIONS

Kind = Literal["number", "string", "bool", "list"]


@dataclass(frozen=True)
class FieldSpec:
    """One fact field: its value kind, display unit and input path."""

    kind: Kind
    #: where the value comes from, relative to the fact's path ("" = the fact path itself)
    source: str
    unit: str = ""
    #: evidence shows this other field's value (a flag is explained by what it flags)
    shows: str | None = None
    #: vocabulary a literal compared with this field must belong to (checked by lint)
    vocabulary: Literal["drug_key", "condition_group", "analyte", None] = None
    description: str = ""
    #: the field is context, not a measurement ("is it already diagnosed?", "was the
    #: glucose fasting?"): a finding that holds only for some of its values is still
    #: reported, as conditional on it (cdss.reasoning)
    context: bool = False


@dataclass(frozen=True)
class Headline:
    """The field that always heads the evidence of a fact a rule matched (the drug of a
    prescription, the text of a symptom), with an optional condition label filled from
    the fact (``"names {key}"``)."""

    field: str
    condition: str | None = None


@dataclass(frozen=True)
class FactType:
    """A kind of fact; ``many`` facts of a type may exist per encounter."""

    name: str
    many: bool
    fields: dict[str, FieldSpec]
    description: str
    headline: Headline | None = None


def _f(kind: Kind, source: str, unit: str = "", **kw) -> FieldSpec:
    return FieldSpec(kind, source, unit, **kw)


def _of_prescription() -> dict[str, FieldSpec]:
    """Fields every fact derived from one prescription carries: which, and its names."""
    return {"rx": _f("number", ""), "drug": _f("string", "drug", vocabulary="drug_key"),
            "name_zh": _f("string", "drug"), "name_en": _f("string", "drug")}


#: (code, canonical unit) of each analyte of a knowledge base: the ``labs`` fact's fields
LabUnits = tuple[tuple[str, str], ...]


def lab_units(kb: KnowledgeBase) -> LabUnits:
    """The analytes of ``kb`` as the ``labs`` fact's fields."""
    return tuple((a.code, a.canonical) for a in kb.analytes.values())


def fact_types(kb: KnowledgeBase) -> dict[str, FactType]:
    """Every fact type and its fields for the knowledge ``kb`` (its analytes are the
    ``labs`` fact's fields); built once per set of analytes."""
    return _fact_types(lab_units(kb), tuple(kb.scores))


@cache
def _fact_types(labs: LabUnits, scores: tuple[str, ...]) -> dict[str, FactType]:
    record_fields = {f"{s}_chars": _f("number", s, "characters",
                                      description=f"non-blank characters in {s}")
                     for s in TEXT_SECTIONS}
    record_fields.update(
        diagnosis_count=_f("number", "diagnoses"),
        diagnosis_groups=_f("list", "diagnoses", vocabulary="condition_group"),
        physician_chars=_f("number", "physician", "characters"),
        signed_minutes_after_visit=_f("number", "signed_at", "min"),
    )
    types = [
        FactType("patient", False, {
            "age_years": _f("number", "age", "y",
                            description="completed years at the visit, from birth_date"),
            "age_decimal": _f("number", "age", "y",
                              description="age in years with decimals (infants' age limits)"),
            "sex": _f("string", "sex"),
            "pregnant": _f("bool", "pregnant", description="false for male patients"),
            "lactating": _f("bool", "lactating", description="false for male patients"),
            "weight": _f("number", "weight", "kg"),
            "height": _f("number", "height", "cm"),
            "allergies_reviewed": _f("bool", "allergies_reviewed"),
            "allergy_count": _f("number", "allergies"),
            "ckd_risk": _f("bool", "conditions", description=(
                "at risk of CKD: age or a known condition (knowledge/inference.yaml); absent "
                "when the problem list was not sent and nothing known decides it")),
            "problem_groups": _f("list", "conditions", vocabulary="condition_group",
                                 context=True,
                                 description="groups of the problem list, of this visit's "
                                             "diagnoses and implied by prescriptions; absent "
                                             "when the problem list was not sent"),
        }, "the patient at the time of the visit"),
        FactType("vitals", False, {
            "sbp": _f("number", "sbp", "mmHg"),
            "dbp": _f("number", "dbp", "mmHg"),
            "heart_rate": _f("number", "heart_rate", "/min"),
            "resp_rate": _f("number", "resp_rate", "/min"),
            "temperature": _f("number", "temperature", "°C"),
            "spo2": _f("number", "spo2", "%"),
            "consciousness": _f("string", "consciousness"),
            "on_oxygen": _f("bool", "on_oxygen"),
            "glucose": _f("number", "glucose", "mmol/L"),
            "glucose_context": _f("string", "glucose_context", context=True),
        }, "vital signs of this visit (implausible values withheld)"),
        FactType("labs", False, {code: _f("number", code, unit) for code, unit in labs},
                 "latest value of each lab, canonical units (implausible values withheld)"),
        FactType("derived", False, {
            # every score table of the knowledge (knowledge/scores/*.yaml); the bundled
            # ones are declared below with their descriptions
            **{name: _f("number", name, description=f"the {name} score table")
               for name in scores},
            "bmi": _f("number", "bmi", "kg/m²"),
            "egfr": _f("number", "egfr", "mL/min/1.73m²"),
            "egfr_rounded": _f("number", "egfr", "mL/min/1.73m²",
                               description="eGFR rounded to an integer, as labs report it "
                                           "(KDIGO categories use integers)"),
            "crcl": _f("number", "crcl", "mL/min"),
            "news2": _f("number", "news2", description="complete NEWS2 (all 7 parameters)"),
            "news2_lower_bound": _f("number", "news2", description=(
                "sum of the parameters measured: NEWS2 itself when complete, else the "
                "least it can be")),
            "news2_params_missing": _f("number", "news2"),
            "news2_max_param": _f("number", "news2",
                                  description="highest single-parameter score measured"),
            "qsofa": _f("number", "qsofa"),
            "qsofa_lower_bound": _f("number", "qsofa", description=(
                "sum of the qSOFA parameters measured: qSOFA itself when complete, else the "
                "least it can be")),
            "crb65": _f("number", "crb65", description="CURB-65 without urea"),
            "curb65": _f("number", "curb65", description="CRB-65 plus urea"),
        }, "values computed from the encounter (each keeps its derivation)"),
        FactType("record", False, record_fields, "the written record of the visit"),
        FactType("encounter", False, {
            "visit_type": _f("string", "visit_type"),
            "prescription_count": _f("number", "prescriptions"),
        }, "the visit itself"),
        FactType("rx", True, {
            "index": _f("number", ""),
            "drug": _f("string", "drug", vocabulary="drug_key",
                       description="INN id when known, else the name as written"),
            "known": _f("bool", "drug"),
            "name_zh": _f("string", "drug"),
            "name_en": _f("string", "drug"),
            "route": _f("string", "route"),
            "dose": _f("number", "dose"),
            "dose_unit": _f("string", "dose"),
            "times_per_day": _f("number", "frequency", "/d"),
            "daily_dose": _f("number", "daily_dose", description="dose × times per day"),
            "duration_days": _f("number", "duration", "d"),
            "max_single": _f("number", "max_single",
                             description="knowledge: adult max single dose"),
            "max_daily": _f("number", "max_daily", description="knowledge: adult max daily dose"),
            "min_daily": _f("number", "min_daily",
                            description="knowledge: lowest usual daily dose"),
            "limit_unit": _f("string", "max_daily", description=(
                "knowledge: the unit of the drug's dose limits, present only when the dose "
                "is written in another (mL of a liquid without its strength)")),
            "max_times_per_day": _f("number", "max_times_per_day",
                                    description="knowledge: most administrations per day"),
            "chronic": _f("bool", "drug", description="knowledge: a long-term drug"),
            "pregnancy": _f("string", "drug", description=(
                "knowledge: contraindicated | avoid | caution | compatible")),
            "lactation": _f("string", "drug", description="knowledge: as pregnancy"),
            "beers": _f("string", "drug", description="knowledge: avoid | caution | dose_limit"),
            "geriatric_max_daily": _f("number", "geriatric_max_daily",
                                      description="knowledge: Beers daily maximum"),
            "ped_min_age": _f("number", "ped_min_age", "y",
                              description="knowledge: youngest labelled age"),
            "ped_max_mg_kg_day": _f("number", "ped_max_mg_kg_day", "mg/kg/d",
                                    description="knowledge: children's weight-based maximum"),
            "ped_max_daily": _f("number", "ped_max_daily", "mg/d",
                                description="knowledge: children's absolute daily maximum"),
            "mg_per_kg_day": _f("number", "mg_per_kg_day", "mg/kg/d",
                                description="daily dose / body weight"),
            "indicated": _f("bool", "drug", shows="diagnoses_checked", description=(
                "a diagnosis of this visit or a problem-list code is among the drug's "
                "labelled indications (knowledge/indications.yaml); absent without an "
                "indication row or without diagnoses")),
            "diagnoses_checked": _f("string", "drug", description=(
                "the visit's diagnoses and problem-list codes that were checked")),
            "indication_codes": _f("string", "drug", description=(
                "knowledge: ICD-10 prefixes of the labelled indications")),
            "indications_zh": _f("string", "drug",
                                 description="knowledge: the labelled indications in words"),
            "indications_en": _f("string", "drug"),
        }, "one prescription; dose limits joined from knowledge in the dose's unit",
            Headline("drug")),
        FactType("rx_renal", True, {
            **_of_prescription(),
            "measure": _f("string", "", description="egfr | crcl"),
            "below": _f("number", "renal.below", description="knowledge: threshold"),
            "action": _f("string", "", description="contraindicated | avoid | reduce | caution"),
            "renal_max_daily": _f("number", "renal.max_daily"),
            "test_first": _f("string", "", description="knowledge: always | at_risk (a missing "
                                                       "kidney function matters for everyone, "
                                                       "or for patients at risk of CKD)"),
            "text_zh": _f("string", ""),
            "text_en": _f("string", ""),
        }, "one kidney-function rule of a prescribed drug (knowledge)", Headline("drug")),
        FactType("rx_hepatic", True, {
            **_of_prescription(),
            "applies_to": _f("string", "", vocabulary="condition_group"),
            "action": _f("string", ""),
            "text_zh": _f("string", ""),
            "text_en": _f("string", ""),
        }, "one liver-disease rule of a prescribed drug (knowledge)", Headline("drug")),
        FactType("rx_key", True, {
            **_of_prescription(),
            "key": _f("string", "drug", vocabulary="drug_key"),
        }, "one key (drug id or class:<id>) of a prescription, for joins", Headline("drug")),
        FactType("rx_allergen", True, {
            **_of_prescription(),
            "key": _f("string", "drug", vocabulary="drug_key"),
        }, "one key of a prescription for allergy checks: every class of the drug whatever "
           "the dose (low-dose aspirin is still an NSAID allergen); only when allergies "
           "are recorded", Headline("drug")),
        FactType("allergy_key", True, {
            "allergy": _f("number", ""),
            "key": _f("string", "substance", vocabulary="drug_key"),
            "substance": _f("string", "substance"),
        }, "one key a recorded allergy matches (drug id or class:<id>)",
            Headline("substance")),
        FactType("condition", True, {
            "code": _f("string", "code"),
            "origin": _f("string", "", description="'conditions' or 'diagnoses'"),
            "code_valid": _f("bool", "code", shows="code",
                             description="has the form of an ICD-10 code"),
            "groups": _f("list", "code", shows="code", vocabulary="condition_group"),
        }, "one ICD-10 code from the problem list or the record's diagnoses"),
        FactType("followup", True, {
            "programme": _f("string", "", description="knowledge/followup.yaml programme id"),
            "name_zh": _f("string", ""),
            "name_en": _f("string", ""),
            "followups_recorded": _f("number", "followups",
                                     description="past follow-ups for this programme"),
            "days_since_last": _f("number", "followups", "d"),
            "last_controlled": _f("bool", "followups",
                                  description="the last follow-up met the control targets"),
            "interval_days": _f("number", "", "d", description=(
                "knowledge: routine interval, or the short one after an uncontrolled "
                "follow-up")),
            "days_overdue": _f("number", "", "d",
                               description="days since last minus the interval"),
            "due_date": _f("string", "", description="last follow-up plus the interval"),
            "now_controlled": _f("bool", "", description="this visit's values met the targets"),
            "target_zh": _f("string", "", description=(
                "knowledge: the control target applied, by the patient's age at the visit")),
            "target_en": _f("string", ""),
            "recheck_date": _f("string", "",
                               description="this visit plus the short interval"),
        }, "one chronic-disease programme the patient is enrolled in (BPHS follow-up)",
            Headline("programme", "enrolled programme")),
        FactType("symptom", True, {
            "index": _f("number", ""),
            "key": _f("string", "", description="red-flag key from knowledge/symptoms.yaml"),
            "text": _f("string", ""),
        }, "one red-flag symptom named in the free-text symptoms (negated texts skipped)",
            Headline("text", "names {key}")),
        FactType("implausible", True, {
            "field": _f("string", ""),
            "value": _f("number", ""),
            "low": _f("number", ""),
            "high": _f("number", ""),
            "unit": _f("string", ""),
        }, "a value outside its plausibility bounds (withheld from other rules)"),
    ]
    return {t.name: t for t in types}
