"""Build the flat facts the rules read, from a parsed encounter and the knowledge.

Every fact is a dict with a type ``t``, an ``id`` and only the fields that are
known: an absent value is left out, never filled with a "normal" default. Values
outside their plausibility bounds are withheld and become ``implausible`` facts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cdss.derive import body, labs, renal, scores
from cdss.derive.schema import fact_types
from cdss.derive.values import Derived, Missing
from cdss.kb import KnowledgeBase
from cdss.kb.schema import Drug, FollowupProgramme
from cdss.models import TEXT_SECTIONS, Encounter, Prescription

Fact = dict[str, Any]


@dataclass
class FactSet:
    """The facts of one encounter, and what is needed to explain them."""

    facts: list[Fact] = field(default_factory=list)
    #: fact id -> input path of the fact ("prescriptions[0]", "vitals")
    paths: dict[str, str] = field(default_factory=dict)
    #: (fact id, field) -> input path, where it differs from path + field source
    field_paths: dict[tuple[str, str], str] = field(default_factory=dict)
    derived: dict[str, Derived] = field(default_factory=dict)
    #: "type.field" -> the input paths whose absence left it missing
    missing: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: (fact id, list field) -> the items known to be in a list that is absent because
    #: the rest of it was not sent (a problem list not sent, a drug implying diabetes)
    partial: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    #: fact id -> what the fact is about, where its input path does not tell facts apart
    #: (every follow-up programme's fact comes from history.followups)
    subjects: dict[str, str] = field(default_factory=dict)
    #: (fact id, field) -> how a value the record did not state was inferred:
    #: [{"value", "from", "zh", "en"}]
    inferred: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[dict[str, str]] = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=dict, repr=False)

    def add(self, t: str, path: str, values: dict[str, Any]) -> Fact:
        n = self._counts.get(t, 0)
        self._counts[t] = n + 1
        fact: Fact = {"t": t, "id": f"{t}#{n}"}
        for key, value in values.items():
            if value is None:
                continue
            if type(value) is float or isinstance(value, list):  # what fact_value changes
                value = fact_value(value)
                if value is None:
                    continue
            fact[key] = value
        self.facts.append(fact)
        self.paths[fact["id"]] = path
        return fact

    def of_type(self, t: str) -> list[Fact]:
        return [f for f in self.facts if f["t"] == t]

    def note(self, field_path: str, message_en: str, message_zh: str) -> None:
        self.notes.append({"field": field_path, "message": message_en, "message_zh": message_zh})


#: decimals a fact keeps of a number (the fact schema's normal form)
FACT_DECIMALS = 4
#: numbers at or beyond this size are no fact: JSON would write them with an exponent
FACT_NUMBER_LIMIT = 1e15


def fact_value(value: Any) -> Any:
    """A value in the fact schema's normal form, which every backend and the evidence
    read alike: a float to :data:`FACT_DECIMALS` decimals (so a backend never sees a
    number the others round differently), None (the field left absent) for one JSON
    cannot write without an exponent; a list copied."""
    if type(value) is float:
        value = round(value, FACT_DECIMALS)
        if abs(value) >= FACT_NUMBER_LIMIT:
            return None
        return value + 0.0
    if isinstance(value, list):
        return list(value)
    return value


def _plausible(kb: KnowledgeBase, facts: FactSet, path: str, value: float | None,
               unit: str) -> float | None:
    bound = kb.plausibility.vitals.get(path)
    if value is None or bound is None:
        return value
    if bound.low <= value <= bound.high:
        return value
    facts.add("implausible", path, {"field": path, "value": round(value, 2), "low": bound.low,
                                    "high": bound.high, "unit": bound.unit or unit})
    facts.missing[path] = (f"{path} (implausible)",)
    return None


def _minutes_between(start: datetime, end: datetime) -> float:
    if (start.tzinfo is None) != (end.tzinfo is None):
        start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    return round((end - start).total_seconds() / 60, 1)


def _chars(text: str | None) -> int | None:
    return None if text is None else len("".join(text.split()))


#: rx fields joined from the knowledge (absent for a drug the knowledge does not know)
KNOWLEDGE_RX_FIELDS = ("max_single", "max_daily", "min_daily", "max_times_per_day", "chronic",
                       "pregnancy", "lactation", "beers", "geriatric_max_daily", "ped_min_age",
                       "ped_max_mg_kg_day", "ped_max_daily", "indicated")


def _drug_knowledge(kb: KnowledgeBase, drug: Drug, rx: Prescription, path: str,
                    fs: FactSet, weight: float | None) -> dict[str, Any]:
    """Fields of an rx fact joined from the drug's knowledge, in the dose's unit."""
    values: dict[str, Any] = {"chronic": drug.chronic}
    formulation = kb.formulation_of(rx.formulation) or kb.formulation_of(rx.drug)
    limit = kb.dose_limit(drug, rx.route, formulation)
    route = rx.route or kb.prescribing.default_route
    if limit is not None and rx.dose is not None and limit.unit == rx.dose.unit:
        values.update(max_single=limit.max_single, max_daily=limit.max_daily,
                      min_daily=limit.min_daily)
    unchecked = limit is not None and rx.dose is not None and limit.unit != rx.dose.unit
    if unchecked:  # a volume of a liquid without its strength (5 mL of a suspension)
        values["limit_unit"] = limit.unit
    if limit is not None:
        values["max_times_per_day"] = limit.max_times_per_day
    for name in ("max_single", "max_daily"):
        if values.get(name) is None:
            fs.missing[f"{path}.{name}"] = (
                (f"{path}.dose (in {rx.dose.unit}; the limits are in {limit.unit})",)
                if unchecked else (f"knowledge.drugs.{drug.id}.{route}.{name}",))
    for name, status in (("pregnancy", drug.pregnancy), ("lactation", drug.lactation)):
        values[name] = status.status if status else None
    # the Beers list is explicit: a drug that is not on it is "none", not unknown
    values["beers"] = drug.geriatric.beers if drug.geriatric is not None else "none"
    if drug.geriatric is not None:
        values["geriatric_max_daily"] = drug.geriatric.max_daily
    ped = next((x for x in drug.pediatric if x.route == route), None)
    if ped is not None:
        values.update(ped_min_age=ped.min_age_years, ped_max_mg_kg_day=ped.max_mg_per_kg_day,
                      ped_max_daily=ped.max_daily)
    daily = rx.daily_dose
    if daily is not None and rx.dose is not None and rx.dose.unit == "mg":
        if weight:
            values["mg_per_kg_day"] = round(daily / weight, 2)
            fs.derived[f"{path}.mg_per_kg_day"] = Derived(
                "mg_per_kg_day", round(daily / weight, 2), "daily dose / body weight",
                {"daily_dose": f"{daily:g} mg/d", "weight": f"{weight:g} kg"}, unit="mg/kg/d")
        else:
            fs.missing[f"{path}.mg_per_kg_day"] = ("patient.weight",)
    return values


def _indication(kb: KnowledgeBase, drug: Drug, path: str, fs: FactSet,
                codes: list[str] | None) -> dict[str, Any]:
    """rx fields saying whether a diagnosis or problem-list code is a labelled indication.

    ``indicated`` is left absent without an indication row, without diagnoses (``codes``
    None: its own finding), or when only a code that is not ICD-10 could be the one.
    """
    prefixes = kb.indication_prefixes(drug)
    if not prefixes:
        fs.missing[f"{path}.indicated"] = (f"knowledge.indications.{drug.id}",)
        return {}
    rows = kb.indication_rows(drug)
    values: dict[str, Any] = {"indication_codes": ", ".join(prefixes),
                              "indications_zh": "；".join(r.text.zh for r in rows),
                              "indications_en": "; ".join(r.text.en for r in rows)}
    if codes is None:
        fs.missing[f"{path}.indicated"] = ("record.diagnoses",)
        return values
    readable = [c.strip().upper() for c in codes if kb.icd10_form_ok(c)]
    indicated = any(c.startswith(prefixes) for c in readable)
    if not indicated and len(readable) < len(codes):
        fs.missing[f"{path}.indicated"] = ("record.diagnoses (not an ICD-10 code)",)
        return values
    return {**values, "indicated": indicated,
            "diagnoses_checked": ", ".join(c.strip() for c in codes)}


def _controlled(targets: dict[str, Any], values: dict[str, float | None]) -> bool | None:
    """Every target met (True), one missed (False), or unknown for lack of a value."""
    verdicts = []
    for name, bound in targets.items():
        value = values.get(name)
        verdicts.append(None if value is None else value < bound.below)
    if any(v is False for v in verdicts):
        return False
    return None if any(v is None for v in verdicts) else True


def _target_verdict(programme: FollowupProgramme, age: int | None,
                    values: dict[str, float | None]) -> tuple[bool | None, str, str]:
    """Controlled (True/False/None) against the target that applies at ``age``, and the
    target in words (zh, en). Without an age every target that could apply is named, and
    there is a verdict only when they all give the same one."""
    options = programme.targets_for(age)
    verdicts = {_controlled(bounds, values) for bounds, _, _ in options}
    verdict = verdicts.pop() if len(verdicts) == 1 else None
    return (verdict, "；".join(t.zh for _, t, _ in options),
            "; ".join(t.en for _, t, _ in options))


def _followups(enc: Encounter, kb: KnowledgeBase, fs: FactSet, groups: set[str],
               vitals: dict[str, Any], age: int | None) -> None:
    """One ``followup`` fact per programme the patient is enrolled in; the control target
    is picked by the patient's age at the visit (and at the past follow-up's date)."""
    day = enc.time.date()
    history = enc.history.followups if enc.history is not None else None
    fasting = vitals.get("glucose") if vitals.get("glucose_context") == "fasting" else None
    now = {"sbp": vitals.get("sbp"), "dbp": vitals.get("dbp"), "fasting_glucose": fasting}
    for programme in kb.followup:
        if not groups & set(programme.groups):
            continue
        values: dict[str, Any] = {"programme": programme.id, "name_zh": programme.name.zh,
                                  "name_en": programme.name.en}
        now_controlled, target_zh, target_en = _target_verdict(programme, age, now)
        values.update(now_controlled=now_controlled, target_zh=target_zh, target_en=target_en)
        if now_controlled is None and age is None and programme.age_targets:
            fs.missing["history.followups.now_controlled"] = ("patient.birth_date",)
        if now_controlled is False:
            values["recheck_date"] = (day + timedelta(days=programme.after_uncontrolled_days)
                                      ).isoformat()
        if history is not None:
            mine = sorted((f for f in history if f.date <= day and (
                f.condition is None or set(kb.groups_of(f.condition)) & set(programme.groups))),
                key=lambda f: f.date)
            values["followups_recorded"] = len(mine)
            if mine:
                last = mine[-1]
                then = body.age_years(enc.patient.birth_date,
                                      datetime.combine(last.date, datetime.min.time()))
                last_controlled, _, _ = _target_verdict(
                    programme, None if isinstance(then, Missing) else then,
                    {"sbp": last.sbp, "dbp": last.dbp, "fasting_glucose": last.glucose})
                interval = (programme.after_uncontrolled_days if last_controlled is False
                            else programme.routine_interval_days)
                if last_controlled is None and isinstance(then, Missing) and programme.age_targets:
                    fs.missing["history.followups.last_controlled"] = ("patient.birth_date",)
                since = (day - last.date).days
                values.update(days_since_last=since, last_controlled=last_controlled,
                              interval_days=interval, days_overdue=since - interval,
                              due_date=(last.date + timedelta(days=interval)).isoformat())
        else:
            fs.missing[f"followup:{programme.id}"] = ("history.followups",)
        fact = fs.add("followup", "history.followups", values)
        fs.subjects[fact["id"]] = f"history.followups:{programme.id}"
        # every enrolled programme is in the report, with its due date and target
        fs.derived[f"followup.{programme.id}"] = Derived(
            "followup", float(fact.get("days_overdue", 0)),
            "days since the last follow-up minus the programme's interval",
            {k: fact[k] for k in ("days_since_last", "interval_days", "due_date",
                                  "last_controlled", "now_controlled", "recheck_date",
                                  "followups_recorded", "target_en") if k in fact},
            programme.source.title, "d")
        for name in ("days_since_last", "last_controlled", "days_overdue", "due_date",
                     "followups_recorded", "interval_days"):
            if name not in fact:
                fs.missing.setdefault(f"history.followups.{name}", ("history.followups",))


def _problem_groups(enc: Encounter, kb: KnowledgeBase
                    ) -> tuple[list[str], list[dict[str, Any]]]:
    """The condition groups known for this patient: from the problem list, this visit's
    diagnoses, and the prescriptions that imply a condition (an antidiabetic implies
    diabetes; knowledge/implied_conditions.yaml), with how each implied one was found."""
    today = [d.code for d in enc.record.diagnoses] if enc.record else []
    known = {g for code in [*(c.code for c in enc.patient.conditions or []), *today]
             for g in kb.groups_of(code)}
    inferences: list[dict[str, Any]] = []
    for i, rx in enumerate(enc.prescriptions):
        drug = kb.resolve_drug(rx.drug)
        if drug is None:
            continue
        for group in kb.implied_groups(drug):
            if group in known:
                continue
            known.add(group)
            name = kb.condition_groups[group].name
            inferences.append({
                "value": group, "from": f"prescriptions[{i}].drug",
                "zh": f"{name.zh}：由处方{drug.name.zh}推断",
                "en": f"{name.en}: implied by the prescription of {drug.name.en}"})
    return sorted(known), inferences


def _ckd_risk(kb: KnowledgeBase, age: int | None, groups: list[str],
              complete: bool) -> bool | None:
    """At risk of CKD (knowledge/inference.yaml): True once the age or a known condition
    says so; False only when the age and a complete problem list both say not."""
    risk = kb.inference.ckd_risk
    if risk is None:
        return None
    if (age is not None and age >= risk.age_from) or set(groups) & set(risk.groups):
        return True
    return False if (age is not None and complete) else None


def _lower_bound(kb: KnowledgeBase, fs: FactSet, score: str, vitals: dict[str, Any]
                 ) -> dict[str, int]:
    """The scores of a band score's parameters that were measured (their sum is the least
    the score can be); when some are missing, the sum is kept as a derived value
    ``<score>_lower_bound`` with how it was computed."""
    table = kb.scores[score]
    parts = scores.partial_band_score(table, vitals)
    n_missing = len(table.parameters) - len(parts)
    if parts and n_missing:
        fs.derived[f"{score}_lower_bound"] = Derived(
            f"{score}_lower_bound", float(sum(parts.values())),
            f"sum of the {len(parts)} parameter scores measured ({n_missing} missing)",
            {k: vitals.get(table.parameters[k].field) for k in parts},
            table.source.title, "", parts)
    return parts


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


#: prescriptions of one drug that take part, for each of its keys, in the rules joining
#: two prescriptions (interactions, duplicates) and in the drug-disease rules: the first
#: two; a further one adds no new pair (the drug is already paired with every other drug
#: and flagged as prescribed twice), only a quadratic number of repeated findings
#: (docs/performance.md, "Bounded pairwise work"). Its own checks (dose, renal, hepatic,
#: allergy) are made as for any prescription.
PAIRED_PER_KEY = 2


def _note_unpaired(kb: KnowledgeBase, fs: FactSet, unpaired: dict[str, list[int]]) -> None:
    """One note per drug prescribed more than :data:`PAIRED_PER_KEY` times."""
    for drug_id, indices in unpaired.items():
        drug = kb.drugs[drug_id]
        items = ", ".join(str(i) for i in indices[:20]) + (" …" if len(indices) > 20 else "")
        fs.note(f"prescriptions[{indices[0]}]",
                f"{drug.name.en} is prescribed more than {PAIRED_PER_KEY} times: items "
                f"{items} (counted from 0) are checked for interactions, duplicates and "
                f"contraindications through its first {PAIRED_PER_KEY} prescriptions",
                f"{drug.name.zh}开具超过{PAIRED_PER_KEY}次：第 {items} 项（从0计）的相互作用、"
                f"重复用药和禁忌核查以其前{PAIRED_PER_KEY}项处方为准")


@dataclass
class _Visit:
    """What one fact builder leaves for the next ones (age, body, problems, vitals, labs)."""

    enc: Encounter
    kb: KnowledgeBase
    fs: FactSet
    age: int | None = None
    weight: float | None = None
    height: float | None = None
    problem_groups: list[str] = field(default_factory=list)
    vitals: dict[str, Any] = field(default_factory=dict)
    vitals_fact: Fact = field(default_factory=dict)
    lab_values: dict[str, float] = field(default_factory=dict)


def _patient(c: _Visit) -> None:
    """The ``patient`` fact: age, sex, pregnancy (stated or inferred), body, problems."""
    enc, kb, fs, p = c.enc, c.kb, c.fs, c.enc.patient
    age = body.age_years(p.birth_date, enc.time)
    if not isinstance(age, Missing):
        fs.derived["patient.age"] = Derived(
            "age", age, "completed years from birth_date to the visit date",
            {"birth_date": str(p.birth_date), "visit": enc.time.date().isoformat()}, unit="y")
    if isinstance(age, Missing):
        fs.missing["patient.age_years"] = age.missing
        if age.reason:
            fs.note("patient.birth_date", age.reason, "出生日期晚于就诊日期")
        age = None
    c.weight = weight = _plausible(kb, fs, "patient.weight", p.weight, "kg")
    c.height = height = _plausible(kb, fs, "patient.height", p.height, "cm")
    pregnant, lactating = p.pregnant, p.lactating
    if p.sex == "male":
        pregnant = False if pregnant is None else pregnant
        lactating = False if lactating is None else lactating
    pregnancy_rule = kb.inference.pregnancy
    inferred: dict[str, list[dict[str, Any]]] = {}
    if (pregnant is None and p.sex == "female" and age is not None
            and pregnancy_rule is not None and age >= pregnancy_rule.not_pregnant_from_age):
        pregnant = False
        limit = pregnancy_rule.not_pregnant_from_age
        inferred["pregnant"] = [{
            "value": False, "from": "patient.birth_date",
            "zh": f"未记录妊娠状态，{age}岁（≥{limit}岁）按未妊娠处理",
            "en": f"pregnancy status not recorded; taken as not pregnant at age {age} "
                  f"(≥ {limit})", "source": pregnancy_rule.source.title}]
    problem_groups, group_inferences = _problem_groups(enc, kb)
    if group_inferences:
        inferred["problem_groups"] = group_inferences
    fact = fs.add("patient", "patient", {
        "age_years": age, "age_decimal": body.age_decimal(p.birth_date, enc.time),
        "sex": p.sex, "pregnant": pregnant, "lactating": lactating,
        "weight": weight,
        "height": height, "allergies_reviewed": p.allergies_reviewed,
        "allergy_count": len(p.allergies) if (p.allergies or p.allergies_reviewed) else None,
        # without a problem list the set of conditions is open: left absent, with its
        # known items kept for the reasoning over missing data
        "problem_groups": problem_groups if p.conditions is not None else None,
        "ckd_risk": _ckd_risk(kb, age, problem_groups, p.conditions is not None),
    })
    if p.conditions is None:
        fs.missing["patient.problem_groups"] = ("patient.conditions",)
        fs.partial[(fact["id"], "problem_groups")] = tuple(problem_groups)
    if "ckd_risk" not in fact:
        fs.missing["patient.ckd_risk"] = tuple(
            path for path, absent in (("patient.birth_date", age is None),
                                      ("patient.conditions", p.conditions is None)) if absent)
    for name, how in inferred.items():
        fs.inferred[(fact["id"], name)] = how

    c.age, c.problem_groups = age, problem_groups


def _vitals(c: _Visit) -> None:
    """The ``vitals`` fact: each measured value in range, or withheld as implausible."""
    enc, kb, fs = c.enc, c.kb, c.fs
    v = enc.vitals
    vitals: dict[str, Any] = {}
    if v is not None:
        for name, unit in (("sbp", "mmHg"), ("dbp", "mmHg"), ("heart_rate", "/min"),
                           ("resp_rate", "/min"), ("temperature", "degC"), ("spo2", "%"),
                           ("glucose", "mmol/L")):
            raw = getattr(v, name)
            vitals[name] = _plausible(kb, fs, f"vitals.{name}",
                                      None if raw is None else round(raw, 2), unit)
        vitals.update(consciousness=v.consciousness, on_oxygen=v.on_oxygen,
                      glucose_context=v.glucose_context)
    c.vitals, c.vitals_fact = vitals, fs.add("vitals", "vitals", vitals)



def _labs(c: _Visit) -> None:
    """The ``labs`` fact: the latest usable result of each analyte."""
    enc, kb, fs, vitals_fact = c.enc, c.kb, c.fs, c.vitals_fact
    # converted with the engine's knowledge; unknown codes, results without a value or
    # with a unit it cannot convert are notes (cdss.derive.labs)
    lab_values = c.lab_values
    labs_fact_id = "labs#0"
    usable, unusable = labs.usable_labs(enc.labs, kb, fs)
    for code, result in labs.latest(usable, enc.time).items():
        i, value, bound = result.index, round(result.value, 4), result.analyte.plausible
        if bound is not None and not bound.low <= value <= bound.high:
            fs.add("implausible", f"labs[{i}].value", {
                "field": f"labs[{i}].value", "value": round(value, 2), "low": bound.low,
                "high": bound.high, "unit": result.analyte.canonical})
            fs.missing[f"labs.{code}"] = (f"labs[{i}].value (implausible)",)
            continue
        lab_values[code] = value
        fs.field_paths[(labs_fact_id, code)] = f"labs[{i}].value"
    for code, path in unusable.items():
        if code not in lab_values:
            fs.missing.setdefault(f"labs.{code}", (path,))
    fs.add("labs", "labs", lab_values)
    if "glucose" in lab_values and "glucose" not in vitals_fact:
        # a laboratory glucose, when the visit has no point-of-care one: the glucose
        # rules read the visit's glucose (its timing stays as recorded, or unknown)
        vitals_fact["glucose"] = lab_values["glucose"]
        fs.field_paths[(vitals_fact["id"], "glucose")] = fs.field_paths[(labs_fact_id,
                                                                          "glucose")]



def _derived(c: _Visit) -> None:
    """The ``derived`` fact: BMI, renal function, scores and their lower bounds."""
    kb, fs, p = c.kb, c.fs, c.enc.patient
    age, weight, height, vitals, lab_values = c.age, c.weight, c.height, c.vitals, c.lab_values
    formulas = kb.formulas
    sex = p.sex
    derived: dict[str, Derived | Missing] = {
        "bmi": body.bmi(weight, height, formulas["bmi"].source.title),
        "egfr": renal.egfr_ckd_epi_2021(lab_values.get("creatinine"), age, sex,
                                        formulas["ckd_epi_2021"]),
        "crcl": renal.crcl_cockcroft_gault(lab_values.get("creatinine"), age, weight, sex,
                                           formulas["cockcroft_gault"]),
    }
    # every score table of the knowledge, on what the visit measured: its parameters
    # name their inputs (a vital sign, ``age``, ``labs.<code>``)
    score_inputs = {**vitals, "age": age, **{f"labs.{k}": v for k, v in lab_values.items()}}
    for name, table in kb.scores.items():
        derived[name] = scores.band_score(table, score_inputs)
    derived_values: dict[str, Any] = {}
    for name, result in derived.items():
        if isinstance(result, Missing):
            # an input withheld as implausible is named as such
            fs.missing[f"derived.{name}"] = tuple(
                m for path in result.missing for m in fs.missing.get(path, (path,)))
            continue
        fs.derived[name] = result
        derived_values[name] = result.value
    if "egfr" in derived_values:
        # half up from the unrounded value, as a laboratory reports an integer eGFR
        # (Python's round() would send 44.5 to 44 and round 44.54 twice)
        unrounded = fs.derived["egfr"].parts["unrounded"]
        derived_values["egfr_rounded"] = float(math.floor(unrounded + 0.5))
    else:
        fs.missing["derived.egfr_rounded"] = fs.missing["derived.egfr"]
    partial = _lower_bound(kb, fs, "news2", vitals)
    if partial:
        derived_values.update(news2_lower_bound=float(sum(partial.values())),
                              news2_params_missing=len(kb.scores["news2"].parameters)
                              - len(partial),
                              news2_max_param=max(partial.values()))
    for name in ("news2_lower_bound", "news2_params_missing", "news2_max_param"):
        if name not in derived_values:
            fs.missing[f"derived.{name}"] = fs.missing["derived.news2"]
    # qSOFA from the parameters measured: 2 points already measured make it high risk
    # whatever the missing one is (RR 24 and SBP 96 with consciousness not recorded)
    qsofa_parts = _lower_bound(kb, fs, "qsofa", vitals)
    if qsofa_parts:
        derived_values["qsofa_lower_bound"] = float(sum(qsofa_parts.values()))
    else:
        fs.missing["derived.qsofa_lower_bound"] = fs.missing.get("derived.qsofa",
                                                                  ("vitals",))
    fs.add("derived", "derived", derived_values)



def _record(c: _Visit) -> None:
    """The ``record`` and ``encounter`` facts: what the medical record holds."""
    enc, kb, fs = c.enc, c.kb, c.fs
    r = enc.record
    record: dict[str, Any] = {}
    if r is not None:
        for section in TEXT_SECTIONS:
            record[f"{section}_chars"] = _chars(getattr(r, section)) or 0
        record["diagnosis_count"] = len(r.diagnoses)
        record["diagnosis_groups"] = sorted({g for d in r.diagnoses for g in kb.groups_of(d.code)})
        record["physician_chars"] = _chars(r.physician) or 0
        if r.signed_at is not None:
            record["signed_minutes_after_visit"] = _minutes_between(enc.time, r.signed_at)
    else:
        for name in fact_types(kb)["record"].fields:
            fs.missing[f"record.{name}"] = ("record",)
    fs.add("record", "record", record)
    fs.add("encounter", "", {"visit_type": enc.visit_type,
                             "prescription_count": len(enc.prescriptions)})



def _programmes(c: _Visit) -> None:
    """One ``followup`` fact per chronic-disease programme the patient is in."""
    _followups(c.enc, c.kb, c.fs, set(c.problem_groups), c.vitals, c.age)


def _symptoms(c: _Visit) -> None:
    """One ``symptom`` fact per red flag a symptom text names (negated ones: a note)."""
    enc, kb, fs = c.enc, c.kb, c.fs
    for i, text in enumerate(enc.symptoms):
        keys, negated = kb.symptom_keys(text)
        if negated:
            fs.note(f"symptoms[{i}]", f"{text!r} negates {', '.join(negated)}: not used as a "
                    "symptom", f"“{text}”含否定表述（{'、'.join(negated)}）：未作为症状使用")
        for key in keys:
            fact = fs.add("symptom", f"symptoms[{i}]", {"index": i, "key": key, "text": text})
            # one finding per red flag, however many symptom texts name it
            fs.subjects[fact["id"]] = f"symptoms:{key}"



def _conditions(c: _Visit) -> None:
    """One ``condition`` fact per coded problem-list entry and diagnosis."""
    kb, fs, p, r = c.kb, c.fs, c.enc.patient, c.enc.record
    coded = [("conditions", f"patient.conditions[{i}]", entry) for i, entry in
             enumerate(p.conditions or [])]
    if r is not None:
        coded += [("diagnoses", f"record.diagnoses[{i}]", d) for i, d in enumerate(r.diagnoses)]
    for origin, path, cond in coded:
        fs.add("condition", path, {"code": cond.code.strip(), "origin": origin,
                                   "code_valid": kb.icd10_form_ok(cond.code),
                                   "groups": list(kb.groups_of(cond.code))})



def _prescriptions(c: _Visit) -> None:
    """``rx`` facts with their knowledge, and the ``rx_key``/``rx_renal``/``rx_hepatic``
    facts of each known drug."""
    enc, kb, fs, p, r, weight = c.enc, c.kb, c.fs, c.enc.patient, c.enc.record, c.weight
    # codes that may indicate a drug: only when the record has diagnoses (a record
    # without any is its own finding)
    dx_codes = ([*(d.code for d in r.diagnoses), *(c.code for c in p.conditions or [])]
                if r is not None and r.diagnoses else None)
    paired: dict[tuple[str, str], int] = {}
    unpaired: dict[str, list[int]] = {}
    for i, rx in enumerate(enc.prescriptions):
        path = f"prescriptions[{i}]"
        drug = kb.resolve_drug(rx.drug)
        values: dict[str, Any] = {"index": i, "drug": drug.id if drug else rx.drug,
                                  "known": drug is not None,
                                  "name_zh": drug.name.zh if drug else rx.drug,
                                  "name_en": drug.name.en if drug else rx.drug,
                                  "route": rx.route, "duration_days": rx.duration}
        if rx.dose is not None:
            values.update(dose=round(rx.dose.value, 4), dose_unit=rx.dose.unit)
        if rx.frequency is not None:
            values["times_per_day"] = (None if rx.frequency.times_per_day is None
                                       else round(rx.frequency.times_per_day, 4))
        daily = rx.daily_dose
        if daily is not None and rx.dose is not None and rx.frequency is not None:
            values["daily_dose"] = round(daily, 4)
            fs.derived[f"{path}.daily_dose"] = Derived(
                "daily_dose", round(daily, 4), "dose × times per day",
                {"dose": f"{rx.dose.value:g} {rx.dose.unit}",
                 "frequency": f"{rx.frequency.code} ({rx.frequency.times_per_day:g}/d)"},
                unit=f"{rx.dose.unit}/d")
        else:
            reason = (f"{path}.frequency" if rx.frequency is None or
                      rx.frequency.times_per_day is None else f"{path}.dose")
            fs.missing[f"{path}.daily_dose"] = (reason,)
        if drug is None:
            for name in KNOWLEDGE_RX_FIELDS:
                fs.missing[f"{path}.{name}"] = (f"{path}.drug (not in knowledge)",)
        else:
            values.update(_drug_knowledge(kb, drug, rx, path, fs, weight))
            values.update(_indication(kb, drug, path, fs, dx_codes))
        fact = fs.add("rx", path, values)
        if "indicated" in fact:
            fs.field_paths[(fact["id"], "indicated")] = "record.diagnoses"
        if drug is not None:
            names = {"drug": drug.id, "name_zh": drug.name.zh, "name_en": drug.name.en}
            mg_daily = daily if rx.dose is not None and rx.dose.unit == "mg" else None
            for key in kb.drug_keys(drug, mg_daily):
                # pairwise rules join two rx_key facts: bounded per drug and key
                seen = paired.get((drug.id, key), 0)
                if seen >= PAIRED_PER_KEY:
                    if i not in unpaired.setdefault(drug.id, []):
                        unpaired[drug.id].append(i)
                    continue
                paired[(drug.id, key)] = seen + 1
                fs.add("rx_key", path, {"rx": i, "key": key, **names})
            for rule in drug.renal:
                if rule.above_daily is not None and mg_daily is not None \
                        and mg_daily <= rule.above_daily:
                    continue  # a dose-dependent rule (aspirin as an NSAID) below its dose
                fs.add("rx_renal", path, {"rx": i, **names, "measure": rule.measure,
                                          "below": rule.below, "action": rule.action,
                                          "renal_max_daily": rule.max_daily,
                                          "test_first": rule.test_first,
                                          "text_zh": rule.text.zh, "text_en": rule.text.en})
            for rule in drug.hepatic:
                fs.add("rx_hepatic", path, {"rx": i, **names, "applies_to": rule.applies_to,
                                            "action": rule.action, "text_zh": rule.text.zh,
                                            "text_en": rule.text.en})

    _note_unpaired(kb, fs, unpaired)



def _allergies(c: _Visit) -> None:
    """``allergy_key`` facts of each recorded allergy and, when there are any, the
    ``rx_allergen`` facts of each prescription."""
    enc, kb, fs, p = c.enc, c.kb, c.fs, c.enc.patient
    for i, allergy in enumerate(p.allergies):
        keys = kb.allergy_keys(allergy.substance)
        if not keys:
            fs.note(f"patient.allergies[{i}].substance",
                    f"allergy to {allergy.substance!r} is not a known drug or class: "
                    "not used by drug checks",
                    f"过敏原“{allergy.substance}”不是已知药物或药物类别：未用于用药核查")
        for key in keys:
            fs.add("allergy_key", f"patient.allergies[{i}]",
                   {"allergy": i, "key": key, "substance": allergy.substance})
    if fs.of_type("allergy_key"):
        for i, rx in enumerate(enc.prescriptions):
            drug = kb.resolve_drug(rx.drug)
            if drug is not None:
                for key in kb.all_drug_keys(drug):
                    fs.add("rx_allergen", f"prescriptions[{i}]",
                           {"rx": i, "key": key, "drug": drug.id, "name_zh": drug.name.zh,
                            "name_en": drug.name.en})


#: the fact builders, in order: each may read what the ones before it left in ``_Visit``
BUILDERS: tuple[Callable[[_Visit], None], ...] = (
    _patient, _vitals, _labs, _derived, _record, _programmes, _symptoms, _conditions,
    _prescriptions, _allergies)


def build_facts(enc: Encounter, kb: KnowledgeBase) -> FactSet:
    """All facts of ``enc``; pure (the encounter is not modified)."""
    visit = _Visit(enc, kb, FactSet())
    for build in BUILDERS:
        build(visit)
    return visit.fs
