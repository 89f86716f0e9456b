"""The ``patient`` fact: the patient at the time of the visit."""

from __future__ import annotations

from typing import Any

from cdss.derive import body, joins
from cdss.derive.factset import Context
from cdss.derive.facttype import Fact, FactType
from cdss.derive.facttype import field as f
from cdss.derive.plausible import plausible
from cdss.derive.products import decomposed
from cdss.derive.values import Derived, Missing
from cdss.kb import KnowledgeBase
from cdss.kb.schema import Drug

PATIENT = FactType("patient", False, {
    "age_years": f("number", "age", "y",
                   description="completed years at the visit, from birth_date"),
    "age_decimal": f("number", "age", "y",
                     description="age in years with decimals (infants' age limits)"),
    "sex": f("string", "sex"),
    "pregnant": f("bool", "pregnant", description="false for male patients"),
    "lactating": f("bool", "lactating", description="false for male patients"),
    "weight": f("number", "weight", "kg"),
    "height": f("number", "height", "cm"),
    "allergies_reviewed": f("bool", "allergies_reviewed"),
    "allergy_count": f("number", "allergies"),
    "ckd_risk": f("bool", "conditions", description=(
        "at risk of CKD: age or a known condition (knowledge/inference.yaml); absent "
        "when the problem list was not sent and nothing known decides it")),
    "problem_groups": f("list", "conditions", vocabulary="condition_group",
                        context=True,
                        description="groups of the problem list, of this visit's "
                                    "diagnoses and implied by prescriptions; absent "
                                    "when the problem list was not sent"),
}, "the patient at the time of the visit")


def build(ctx: Context) -> None:
    """The patient fact; sets ``ctx.age``, ``weight``, ``height`` and ``problem_groups``."""
    enc, kb, fs, p = ctx.enc, ctx.kb, ctx.fs, ctx.enc.patient
    ctx.age = _age(ctx)
    ctx.weight = plausible(ctx, "patient.weight", p.weight, "kg")
    ctx.height = plausible(ctx, "patient.height", p.height, "cm")
    pregnant, lactating = p.pregnant, p.lactating
    if p.sex == "male":
        pregnant = False if pregnant is None else pregnant
        lactating = False if lactating is None else lactating
    inferred: dict[str, list[dict[str, Any]]] = {}
    if pregnant is None and p.sex == "female":
        how = _not_pregnant_by_age(kb, ctx.age)
        if how is not None:
            pregnant, inferred["pregnant"] = False, how
    ctx.problem_groups, group_inferences = _problem_groups(ctx)
    if group_inferences:
        inferred["problem_groups"] = group_inferences
    fact = fs.add(PATIENT, "patient", {
        "age_years": ctx.age, "age_decimal": body.age_decimal(p.birth_date, enc.time),
        "sex": p.sex, "pregnant": pregnant, "lactating": lactating,
        "weight": ctx.weight,
        "height": ctx.height, "allergies_reviewed": p.allergies_reviewed,
        "allergy_count": len(p.allergies) if (p.allergies or p.allergies_reviewed) else None,
        # without a problem list the set of conditions is open: left absent, with its
        # known items kept for the reasoning over missing data
        "problem_groups": ctx.problem_groups if p.conditions is not None else None,
        "ckd_risk": _ckd_risk(kb, ctx.age, ctx.problem_groups, p.conditions is not None),
    })
    _bookkeeping(ctx, fact, inferred)


def _age(ctx: Context) -> int | None:
    """Completed years at the visit, kept as a derived value; None (missing) if unknown."""
    p, fs, when = ctx.enc.patient, ctx.fs, ctx.enc.time
    age = body.age_years(p.birth_date, when)
    if isinstance(age, Missing):
        fs.missing["patient.age_years"] = age.missing
        if age.reason:
            fs.note("patient.birth_date", age.reason, "出生日期晚于就诊日期")
        return None
    fs.derived["patient.age"] = Derived(
        "age", age, "completed years from birth_date to the visit date",
        {"birth_date": str(p.birth_date), "visit": when.date().isoformat()}, unit="y")
    return age


def _not_pregnant_by_age(kb: KnowledgeBase, age: int | None
                         ) -> list[dict[str, Any]] | None:
    """How a woman whose pregnancy is not recorded is taken as not pregnant, from the
    age of knowledge/inference.yaml; None when that does not apply."""
    rule = kb.inference.pregnancy
    if age is None or rule is None or age < rule.not_pregnant_from_age:
        return None
    limit = rule.not_pregnant_from_age
    return [{"value": False, "from": "patient.birth_date",
             "zh": f"未记录妊娠状态，{age}岁（≥{limit}岁）按未妊娠处理",
             "en": f"pregnancy status not recorded; taken as not pregnant at age {age} "
                   f"(≥ {limit})", "source": rule.source.title}]


def _bookkeeping(ctx: Context, fact: Fact, inferred: dict[str, list[dict[str, Any]]]
                 ) -> None:
    """What the patient fact leaves missing, partly known or inferred."""
    p, fs = ctx.enc.patient, ctx.fs
    if p.conditions is None:
        fs.missing["patient.problem_groups"] = ("patient.conditions",)
        fs.partial[(fact["id"], "problem_groups")] = tuple(ctx.problem_groups)
    if "ckd_risk" not in fact:
        fs.missing["patient.ckd_risk"] = tuple(
            path for path, absent in (("patient.birth_date", ctx.age is None),
                                      ("patient.conditions", p.conditions is None)) if absent)
    for name, how in inferred.items():
        fs.inferred[(fact["id"], name)] = how


def _problem_groups(ctx: Context) -> tuple[list[str], list[dict[str, Any]]]:
    """The condition groups known for this patient: from the problem list, this visit's
    diagnoses, and the prescriptions that imply a condition (an antidiabetic implies
    diabetes; knowledge/implied_conditions.yaml), with how each implied one was found."""
    enc, kb = ctx.enc, ctx.kb
    today = [d.code for d in enc.record.diagnoses] if enc.record else []
    known = {g for code in [*(c.code for c in enc.patient.conditions or []), *today]
             for g in ctx.groups_of(code)}
    inferences: list[dict[str, Any]] = []
    for i in range(len(enc.prescriptions)):
        # a product implies what its ingredients do (缬沙坦氨氯地平片: hypertension)
        for drug in (part.drug for part in decomposed(ctx, i).parts):
            _implied(kb, drug, i, known, inferences)
    return sorted(known), inferences


def _implied(kb: KnowledgeBase, drug: Drug, i: int, known: set[str],
             inferences: list[dict[str, Any]]) -> None:
    """The condition groups prescription ``i`` of ``drug`` implies that are not known."""
    implied = joins.per_object(kb, "implied_groups", drug.id, (drug,),
                               lambda: kb.implied_groups(drug))
    for group in implied:
        if group in known:
            continue
        known.add(group)
        name = kb.condition_groups[group].name
        inferences.append({
            "value": group, "from": f"prescriptions[{i}].drug",
            "zh": f"{name.zh}：由处方{drug.name.zh}推断",
            "en": f"{name.en}: implied by the prescription of {drug.name.en}"})


def _ckd_risk(kb: KnowledgeBase, age: int | None, groups: list[str],
              complete: bool) -> bool | None:
    """At risk of CKD (knowledge/inference.yaml): True once the age or a known condition
    says so; False only when the age and a complete problem list both say not."""
    risk = kb.inference.ckd_risk
    if risk is None:
        return None
    if (age is not None and age >= risk.age_from) or not _ckd_groups(kb).isdisjoint(groups):
        return True
    return False if (age is not None and complete) else None


def _ckd_groups(kb: KnowledgeBase) -> frozenset[str]:
    """The condition groups that put a patient at risk of CKD, as a set made once."""
    risk = kb.inference.ckd_risk
    return joins.per_object(kb, "ckd_groups", "", (risk,),
                            lambda: frozenset(risk.groups if risk is not None else ()))


def consistent(fact: Fact, kb: KnowledgeBase) -> bool:
    """Whether a (completed) fact could describe a real patient: no pregnant or
    breastfeeding man, no pregnancy from the age at which it is no longer assumed."""
    if fact.get("t") != "patient":
        return True
    if fact.get("sex") == "male" and (fact.get("pregnant") or fact.get("lactating")):
        return False
    rule = kb.inference.pregnancy
    age = fact.get("age_years")
    return not (fact.get("pregnant") and rule is not None and age is not None
                and age >= rule.not_pregnant_from_age)
