"""The facts of the visit and its record: ``record``, ``encounter``, ``symptom`` and
``condition``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cdss.derive.factset import Context
from cdss.derive.facttype import FactType, FieldSpec, Headline, round_to
from cdss.derive.facttype import field as f
from cdss.models import TEXT_SECTIONS


def _record_fields() -> dict[str, FieldSpec]:
    fields = {f"{s}_chars": f("number", s, "characters",
                              description=f"non-blank characters in {s}")
              for s in TEXT_SECTIONS}
    fields.update(
        diagnosis_count=f("number", "diagnoses"),
        diagnosis_groups=f("list", "diagnoses", vocabulary="condition_group"),
        physician_chars=f("number", "physician", "characters"),
        signed_minutes_after_visit=f("number", "signed_at", "min"),
    )
    return fields


RECORD = FactType("record", False, _record_fields(), "the written record of the visit")

ENCOUNTER = FactType("encounter", False, {
    "visit_type": f("string", "visit_type"),
    "prescription_count": f("number", "prescriptions"),
}, "the visit itself")

SYMPTOM = FactType("symptom", True, {
    "index": f("number", ""),
    "key": f("string", "", description="red-flag key from knowledge/symptoms.yaml"),
    "text": f("string", ""),
}, "one red-flag symptom named in the free-text symptoms (negated texts skipped)",
    Headline("text", "names {key}"))

CONDITION = FactType("condition", True, {
    "code": f("string", "code"),
    "origin": f("string", "", description="'conditions' or 'diagnoses'"),
    "code_valid": f("bool", "code", shows="code",
                    description="has the form of an ICD-10 code"),
    "groups": f("list", "code", shows="code", vocabulary="condition_group"),
}, "one ICD-10 code from the problem list or the record's diagnoses")


def _minutes_between(start: datetime, end: datetime) -> float:
    if (start.tzinfo is None) != (end.tzinfo is None):
        start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    return round_to((end - start).total_seconds() / 60, 1)


#: each text section of the record and its ``record`` field
_SECTION_FIELDS = tuple((s, f"{s}_chars") for s in TEXT_SECTIONS)


def _chars(text: str | None) -> int | None:
    return None if text is None else len("".join(text.split()))


def build_record(ctx: Context) -> None:
    """The record fact: sizes of its sections, diagnoses, signature delay; every field
    missing without a record."""
    r = ctx.enc.record
    record: dict[str, Any] = {}
    if r is not None:
        for section, name in _SECTION_FIELDS:
            text = getattr(r, section)
            record[name] = len("".join(text.split())) if text else 0
        record["diagnosis_count"] = len(r.diagnoses)
        record["diagnosis_groups"] = sorted({g for d in r.diagnoses for g in ctx.groups_of(d.code)})
        record["physician_chars"] = _chars(r.physician) or 0
        if r.signed_at is not None:
            record["signed_minutes_after_visit"] = _minutes_between(ctx.enc.time, r.signed_at)
    else:
        for name in RECORD.fields:
            ctx.fs.missing[f"record.{name}"] = ("record",)
    ctx.fs.add(RECORD, "record", record)


def build_encounter(ctx: Context) -> None:
    """The encounter fact: the visit type and how many prescriptions."""
    ctx.fs.add(ENCOUNTER, "", {"visit_type": ctx.enc.visit_type,
                               "prescription_count": len(ctx.enc.prescriptions)})


def build_symptoms(ctx: Context) -> None:
    """One symptom fact per red flag a symptom text names; a negated one is a note."""
    fs = ctx.fs
    for i, text in enumerate(ctx.enc.symptoms):
        keys, negated = ctx.kb.symptom_keys(text)
        if negated:
            fs.note(f"symptoms[{i}]", f"{text!r} negates {', '.join(negated)}: not used as a "
                    "symptom", f"“{text}”含否定表述（{'、'.join(negated)}）：未作为症状使用")
        for key in keys:
            fact = fs.add(SYMPTOM, f"symptoms[{i}]", {"index": i, "key": key, "text": text})
            # one finding per red flag, however many symptom texts name it
            fs.subjects[fact["id"]] = f"symptoms:{key}"


def build_conditions(ctx: Context) -> None:
    """One condition fact per problem-list code, then per diagnosis of the record."""
    p, r, kb = ctx.enc.patient, ctx.enc.record, ctx.kb
    coded = [("conditions", f"patient.conditions[{i}]", c) for i, c in
             enumerate(p.conditions or [])]
    if r is not None:
        coded += [("diagnoses", f"record.diagnoses[{i}]", d) for i, d in enumerate(r.diagnoses)]
    for origin, path, cond in coded:
        ctx.fs.add(CONDITION, path, {"code": cond.code.strip(), "origin": origin,
                                     "code_valid": kb.icd10_form_ok(cond.code),
                                     "groups": list(ctx.groups_of(cond.code))})
