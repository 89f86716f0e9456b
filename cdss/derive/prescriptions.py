"""The facts of prescriptions and allergies: ``rx`` (with the drug's knowledge joined),
``rx_key``, ``rx_renal``, ``rx_hepatic``, ``allergy_key`` and ``rx_allergen``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

from cdss.derive import joins
from cdss.derive.factset import Context, FactSet
from cdss.derive.facttype import FACT_DECIMALS, FactType, FieldSpec, Headline, round_to
from cdss.derive.facttype import field as f
from cdss.derive.products import Decomposed, Part, decomposed, dose_derivation
from cdss.derive.values import Derived
from cdss.kb import CLASS_PREFIX, KnowledgeBase
from cdss.kb.schema import DosageUnit, DoseLimit, Drug, Product
from cdss.models import Prescription

RX = FactType("rx", True, {
    "index": f("number", ""),
    "drug": f("string", "drug", vocabulary="drug_key",
              description="INN id when known, else the name as written"),
    "known": f("bool", "drug"),
    "name_zh": f("string", "drug"),
    "name_en": f("string", "drug"),
    "route": f("string", "route"),
    "dose": f("number", "dose"),
    "dose_unit": f("string", "dose"),
    "dose_unit_zh": f("string", "dose", description="the dose's unit as a message names "
                      "it (片 for tablet; mg as it is)"),
    "dose_unit_en": f("string", "dose"),
    "times_per_day": f("number", "frequency", "/d"),
    "daily_dose": f("number", "daily_dose", description="dose × times per day"),
    "duration_days": f("number", "duration", "d"),
    "max_single": f("number", "max_single",
                    description="knowledge: adult max single dose"),
    "max_daily": f("number", "max_daily", description="knowledge: adult max daily dose"),
    "min_daily": f("number", "min_daily",
                   description="knowledge: lowest usual daily dose"),
    "limit_unit": f("string", "max_daily", description=(
        "knowledge: the unit of the drug's dose limits, present only when the dose "
        "is written in another (mL of a liquid without its strength)")),
    "max_times_per_day": f("number", "max_times_per_day",
                           description="knowledge: most administrations per day"),
    "chronic": f("bool", "drug", description="knowledge: a long-term drug"),
    "pregnancy": f("string", "drug", description=(
        "knowledge: contraindicated | avoid | caution | compatible")),
    "lactation": f("string", "drug", description="knowledge: as pregnancy"),
    "beers": f("string", "drug", description="knowledge: avoid | caution | dose_limit"),
    "geriatric_max_daily": f("number", "geriatric_max_daily",
                             description="knowledge: Beers daily maximum"),
    "ped_min_age": f("number", "ped_min_age", "y",
                     description="knowledge: youngest labelled age"),
    "ped_max_mg_kg_day": f("number", "ped_max_mg_kg_day", "mg/kg/d",
                           description="knowledge: children's weight-based maximum"),
    "ped_max_daily": f("number", "ped_max_daily", "mg/d",
                       description="knowledge: children's absolute daily maximum"),
    "mg_per_kg_day": f("number", "mg_per_kg_day", "mg/kg/d",
                       description="daily dose / body weight"),
    "indicated": f("bool", "drug", shows="diagnoses_checked", description=(
        "a diagnosis of this visit or a problem-list code is among the drug's "
        "labelled indications (knowledge/indications/); absent without an "
        "indication row or without diagnoses")),
    "indication_here": f("bool", "drug", description=(
        "the prescription's indication is judged on this fact: true for a drug; for a "
        "product of several parts only on one of them (its label's part, else its first "
        "ingredient), whose `indicated` then says whether any part's labelled "
        "indications cover a diagnosis (one finding per product, not per ingredient)")),
    "diagnoses_checked": f("string", "drug", description=(
        "the visit's diagnoses and problem-list codes that were checked")),
    "indication_codes": f("string", "drug", description=(
        "knowledge: ICD-10 prefixes of the labelled indications")),
    "indications_zh": f("string", "drug",
                        description="knowledge: the labelled indications in words"),
    "indications_en": f("string", "drug"),
    "product": f("string", "drug", description=(
        "the product (knowledge/products/) the drug is given in, when the prescription "
        "names one: the fact is one of its ingredients")),
    "product_zh": f("string", "drug"),
    "product_en": f("string", "drug"),
    "units": f("number", "dose", description=(
        "dosage units per dose as written (2 for '2 片'), when the dose was converted "
        "through the product's strength")),
    "strength": f("number", "", description=(
        "knowledge: the product's amount of this drug per dosage unit, in dose_unit")),
    "child_max_single": f("number", "child_max_daily", description=(
        "knowledge: a children's product's label, the most dosage units a dose for the "
        "child's age band (on the product's own part, for a child in a band)")),
    "child_max_daily": f("number", "child_max_daily", description=(
        "knowledge: as child_max_single, the most dosage units a day")),
    "child_band_zh": f("string", "child_max_daily",
                       description="the age band of the label's row, in words"),
    "child_band_en": f("string", "child_max_daily"),
}, "one prescription, or one ingredient of a product it names; dose limits joined from "
   "knowledge in the dose's unit", Headline("drug"))


def _of_prescription() -> dict[str, FieldSpec]:
    """Fields every fact derived from one prescription carries: which, and its names."""
    return {"rx": f("number", ""), "drug": f("string", "drug", vocabulary="drug_key"),
            "name_zh": f("string", "drug"), "name_en": f("string", "drug")}


#: whether a key holds at the prescribed dose: true for a drug id and its classes; for a
#: dose-dependent class (aspirin as an NSAID above 325 mg/day), true above the threshold
#: and missing when the daily dose is unknown (the rule is then undecided and asks for
#: it). Its input is the drug's line, whose evidence item it shares.
_AT_DOSE = f("bool", "drug", description="the key holds at this dose (missing: a "
                                         "dose-dependent class, daily dose unknown); "
                                         "a pattern that does not name it demands true",
            implied=True)

RX_RENAL = FactType("rx_renal", True, {
    **_of_prescription(),
    "measure": f("string", "", description="egfr | crcl"),
    "below": f("number", "renal.below", description="knowledge: threshold"),
    "action": f("string", "", description="contraindicated | avoid | reduce | caution"),
    "renal_max_daily": f("number", "renal.max_daily"),
    "test_first": f("string", "", description="knowledge: always | at_risk (a missing "
                                              "kidney function matters for everyone, "
                                              "or for patients at risk of CKD)"),
    "text_zh": f("string", ""),
    "text_en": f("string", ""),
    "at_dose": _AT_DOSE,
}, "one kidney-function rule of a prescribed drug (knowledge)", Headline("drug"))

RX_HEPATIC = FactType("rx_hepatic", True, {
    **_of_prescription(),
    "applies_to": f("string", "", vocabulary="condition_group"),
    "action": f("string", ""),
    "text_zh": f("string", ""),
    "text_en": f("string", ""),
}, "one liver-disease rule of a prescribed drug (knowledge)", Headline("drug"))

RX_KEY = FactType("rx_key", True, {
    **_of_prescription(),
    "key": f("string", "drug", vocabulary="drug_key"),
    "at_dose": _AT_DOSE,
}, "one key (drug id or class:<id>) of a prescription, for joins", Headline("drug"))

RX_ALLERGEN = FactType("rx_allergen", True, {
    **_of_prescription(),
    "key": f("string", "drug", vocabulary="drug_key"),
}, "one key of a prescription for allergy checks: every class of the drug whatever "
   "the dose (low-dose aspirin is still an NSAID allergen); only when allergies "
   "are recorded", Headline("drug"))

ALLERGY_KEY = FactType("allergy_key", True, {
    "allergy": f("number", ""),
    "key": f("string", "substance", vocabulary="drug_key"),
    "substance": f("string", "substance"),
}, "one key a recorded allergy matches (drug id or class:<id>)",
    Headline("substance"))

RX_TOTAL = FactType("rx_total", True, {
    "drug": f("string", "drug", vocabulary="drug_key"),
    "name_zh": f("string", "drug"),
    "name_en": f("string", "drug"),
    "route": f("string", "route"),
    "total_daily": f("number", "total_daily", description=(
        "the sum of the daily doses of the drug over every prescription that gives it "
        "(plain, or as an ingredient of a product), in dose_unit per day")),
    "dose_unit": f("string", "total_daily"),
    "dose_unit_zh": f("string", "total_daily", description="the unit as a message names it"),
    "dose_unit_en": f("string", "total_daily"),
    "max_daily": f("number", "max_daily",
                   description="knowledge: adult max daily dose for the route"),
    "prescriptions": f("number", "", description="how many prescriptions give the drug"),
    "items": f("string", "", description="their indices, counted from 0"),
    "parts_zh": f("string", "", description="each prescription's share, in words"),
    "parts_en": f("string", ""),
}, "one drug given by two or more prescriptions (a combination product and the plain "
   "drug): its total daily dose", Headline("drug"))

#: rx fields joined from the knowledge (absent for a drug the knowledge does not know)
KNOWLEDGE_RX_FIELDS = ("max_single", "max_daily", "min_daily", "max_times_per_day", "chronic",
                       "pregnancy", "lactation", "beers", "geriatric_max_daily", "ped_min_age",
                       "ped_max_mg_kg_day", "ped_max_daily", "indicated")

#: prescriptions of one drug that take part, for each of its keys, in the rules joining
#: two prescriptions (interactions, duplicates) and in the drug-disease rules: the first
#: two; a further one adds no new pair (the drug is already paired with every other drug
#: and flagged as prescribed twice), only a quadratic number of repeated findings
#: (docs/performance.md, "Bounded pairwise work"). Its own checks (dose, renal, hepatic,
#: allergy) are made as for any prescription.
PAIRED_PER_KEY = 2


def build_prescriptions(ctx: Context) -> None:
    """Per prescription, per drug it gives (itself, or each ingredient of the product it
    names: :mod:`cdss.derive.products`): its rx fact, then its rx_key, rx_renal and
    rx_hepatic facts; an rx_total fact per drug given by two or more prescriptions; a
    note per drug prescribed more than :data:`PAIRED_PER_KEY` times."""
    enc, kb = ctx.enc, ctx.kb
    r, p = enc.record, enc.patient
    # codes that may indicate a drug: only when the record has diagnoses (a record
    # without any is its own finding)
    dx_codes = ([*(d.code for d in r.diagnoses), *(c.code for c in p.conditions or [])]
                if r is not None and r.diagnoses else None)
    codes = _Codes(kb, dx_codes) if dx_codes is not None else None
    paired: dict[tuple[str, str], int] = {}
    unpaired: dict[str, list[int]] = {}
    given: dict[tuple[str, str], list[tuple[int, Part, Any]]] = {}
    for i, rx in enumerate(enc.prescriptions):
        found = decomposed(ctx, i)
        if not found.parts and found.product is None:
            rx_fact(ctx, i, rx, None, codes)
            continue
        if found.product is not None:
            _note_product(ctx.fs, i, found)
        once = _indication_once(kb, found, codes)
        # the parts of a product (its ingredients, its own label) describe one
        # prescription: every fact made for them is about prescriptions[i], so a kind of
        # finding (pregnancy, a dose above a limit, a duplicate, an interaction with
        # another prescription...) is one card for it, the most severe kept
        # (report.deduplicate); its evidence still names the ingredient
        shared = len(found.parts) > 1
        for part in found.parts:
            first = len(ctx.fs.facts)
            fact = rx_fact(ctx, i, part.rx, part.drug, codes, part, once)
            mg = _mg_dose(part.rx)
            rx_keys(ctx, i, part.drug, mg, paired, unpaired, part)
            rx_renal(ctx, i, part.drug, mg, part)
            rx_hepatic(ctx, i, part.drug, part)
            if shared:
                for made in ctx.fs.facts[first:]:
                    ctx.fs.subjects[made["id"]] = f"prescriptions[{i}]"
            route = part.rx.route or kb.prescribing.default_route
            given.setdefault((part.drug.id, route), []).append((i, part, fact))
    for (_, route), parts in given.items():
        if len({i for i, _, _ in parts}) > 1:
            rx_total(ctx, route, parts)
    _note_unpaired(kb, ctx.fs, unpaired)


def _note_product(fs: FactSet, i: int, found: Decomposed) -> None:
    """A note naming the ingredients of a product that are not checked (no drug of the
    knowledge: 人工牛黄, caffeine)."""
    product = found.product
    if product is None or not found.unchecked:
        return
    en = ", ".join(x.name.en for x in found.unchecked)
    zh = "、".join(x.name.zh for x in found.unchecked)
    if product.label is not None:
        fs.note(f"prescriptions[{i}].drug",
                f"{product.name.en}: ingredient(s) {en} are not drugs of the knowledge base; "
                "they are bounded by the product's own label (dose limits in dosage units, "
                "pregnancy, lactation), checked with its other ingredients",
                f"{product.name.zh}：成分{zh}不在知识库药物中，以本品说明书的用量上限及孕期、"
                "哺乳期用药要求审核；其余成分已逐一审核")
        return
    fs.note(f"prescriptions[{i}].drug",
            f"{product.name.en}: ingredient(s) {en} are not drugs of the knowledge base and "
            "were not checked; its other ingredients were",
            f"{product.name.zh}：成分{zh}不在知识库药物中，未审核；其余成分已审核")


class _Codes:
    """The visit's diagnoses and problem-list codes (None without diagnoses), as the
    indication check reads them: worked out once per encounter, not once per drug."""

    def __init__(self, kb: KnowledgeBase, codes: list[str]) -> None:
        self.codes = codes
        self.readable = [c.strip().upper() for c in codes if kb.icd10_form_ok(c)]
        self.checked = ", ".join(c.strip() for c in codes)


def _names(kb: KnowledgeBase, drug: Drug, part: Part | None = None) -> dict[str, str]:
    """The drug id and names of the facts of a prescription (:meth:`Part.names` for a
    part), in the facts' normal form; worked out once per drug (and product)."""
    product = part.product if part is not None else None
    if product is not None and (not part.several or part.whole):  # type: ignore[union-attr]
        product = None  # named as the drug itself
    if product is None:
        return joins.per_object(kb, "rx_names", (drug.id, None), (drug,),
                                lambda: RX_KEY.normal(
                                    {"drug": drug.id, "name_zh": drug.name.zh,
                                     "name_en": drug.name.en}))
    assert part is not None
    return joins.per_object(kb, "rx_names", (drug.id, product.id), (drug, product),
                            lambda: RX_KEY.normal(part.names()))


def _indication_once(kb: KnowledgeBase, found: Decomposed, codes: _Codes | None
                     ) -> tuple[str, bool | None] | None:
    """For a product of several parts: the path of the part its indication is judged on
    (its label's part, else the first) and whether a diagnosis is among the labelled
    indications of any part (None without readable diagnoses); None for a drug."""
    parts = found.parts
    if found.product is None or len(parts) < 2:
        return None
    here = next((p.path for p in parts if p.whole), parts[0].path)
    if codes is None:
        return here, None
    prefixes = tuple(x for p in parts for x in kb.indication_prefixes(p.drug))
    return here, (any(c.startswith(prefixes) for c in codes.readable) if prefixes else None)


def rx_fact(ctx: Context, i: int, rx: Prescription, drug: Drug | None,
            dx_codes: _Codes | None, part: Part | None = None,
            once: tuple[str, bool | None] | None = None) -> dict[str, Any]:
    """The rx fact of prescription ``i`` (or of one ingredient of the product it names,
    ``part``): as written, its daily dose, and the drug's knowledge joined (every
    knowledge field missing for a drug the knowledge lacks)."""
    fs, src = ctx.fs, f"prescriptions[{i}]"
    path = part.path if part is not None else src
    values: dict[str, Any] = {"index": i, "drug": drug.id if drug else rx.drug,
                              "known": drug is not None,
                              "name_zh": drug.name.zh if drug else rx.drug,
                              "name_en": drug.name.en if drug else rx.drug,
                              "route": rx.route, "duration_days": rx.duration}
    if drug is not None:
        values.update(_names(ctx.kb, drug, part))
    if rx.dose is not None:
        words = ctx.kb.prescribing
        values.update(dose=round_to(rx.dose.value, FACT_DECIMALS), dose_unit=rx.dose.unit,
                      dose_unit_zh=words.unit_name(rx.dose.unit, "zh"),
                      dose_unit_en=words.unit_name(rx.dose.unit, "en"))
    if rx.frequency is not None:
        values["times_per_day"] = (None if rx.frequency.times_per_day is None
                                   else round_to(rx.frequency.times_per_day, FACT_DECIMALS))
    values.update(_daily_dose(fs, path, src, rx, part))
    # structural, not knowledge: known for a drug the knowledge lacks as well
    values["indication_here"] = once is None or once[0] == path
    # the fact is made in three runs, in this order: ``values`` above, the drug's
    # knowledge (``joined``: made once per drug and codes) and ``tail``; each field is
    # made alone, so this is the fact of all three in one dict
    joined: dict[str, Any] = {}
    tail: dict[str, Any] = {}
    chronic: bool | None = None
    drop_limit_unit = False
    if drug is None:
        for name in KNOWLEDGE_RX_FIELDS:
            fs.missing[f"{path}.{name}"] = (f"{src}.drug (not in knowledge)",)
    else:
        joined = _drug_knowledge(ctx.kb, drug, rx, path, src, fs, ctx.weight, tail)
        tail.update(_indication(ctx.kb, drug, path, fs, dx_codes))
        if once is not None and once[0] == path and once[1] and "indicated" in tail:
            tail["indicated"] = True  # another part's indication covers a diagnosis
    if part is not None and part.product is not None:
        product = part.product
        tail.update(product=product.id, product_zh=product.name.zh,
                    product_en=product.name.en)
        # a product with a long-term drug is long-term as a whole: promethazine in
        # 复方利血平片 is taken as long as the antihypertensive is (the 7-day rule)
        chronic = any(ctx.kb.drugs[i.drug].chronic
                      for i in product.ingredients if i.drug is not None)
        if part.whole and product.label is not None and product.label.children:
            tail.update(_child_band(product, rx, ctx.age, path, fs))
        if part.units is not None and part.ingredient is not None:
            tail.update(units=part.units, strength=part.ingredient.strength)
            derivation = dose_derivation(ctx.kb, part)
            if derivation is not None:
                fs.derived[f"{path}.dose"] = derivation
        if part.dose_problem is not None:
            # the product's unconverted dose is reported once
            drop_limit_unit = not part.first
            # the dose could not be worked out: say why instead of "in tablet"
            for name in ("max_single", "max_daily"):
                if fs.missing.get(f"{path}.{name}", ("",))[0].startswith(f"{src}.dose"):
                    fs.missing[f"{path}.{name}"] = (part.dose_problem,)
            if rx.dose is None:
                fs.missing[f"{path}.dose"] = (part.dose_problem,)
                fs.missing[f"{path}.daily_dose"] = (part.dose_problem,)
    fact = fs.add_joined(RX, path, values, joined)
    RX.extend(fact, tail)
    if chronic is not None:
        fact["chronic"] = chronic  # in its place among the joined fields (always there)
    if drop_limit_unit:
        fact.pop("limit_unit", None)
    if "indicated" in fact:
        fs.field_paths[(fact["id"], "indicated")] = "record.diagnoses"
    return fact


def _child_band(product: Product, rx: Prescription, age: int | None, path: str,
                fs: FactSet) -> dict[str, Any]:
    """The row of a children's product's dosing table for the child's age (completed
    years), in the unit the dose is written in; nothing (and why, in ``missing``) for an
    age outside every row, an unknown age or a dose in another unit."""
    assert product.label is not None
    if age is None:
        fs.missing[f"{path}.child_max_daily"] = ("patient.birth_date",)
        return {}
    unit = rx.dose.unit if rx.dose is not None else None
    rows = [b for b in product.label.children if b.min_age_years <= age <= b.max_age_years
            and (unit is None or b.unit == unit)]
    if not rows:
        ages = ", ".join(b.band_text("en") for b in product.label.children)
        fs.missing[f"{path}.child_max_daily"] = (
            f"knowledge.products.{product.id}.label.children (no row for age {age} "
            f"{'in ' + unit + ' ' if unit else ''}: the label's rows are {ages})",)
        return {}
    band = rows[0]
    return {"child_max_single": band.max_single, "child_max_daily": band.max_daily,
            "child_band_zh": band.band_text("zh"), "child_band_en": band.band_text("en")}


def _daily_dose(fs: FactSet, path: str, src: str, rx: Prescription,
                part: Part | None = None) -> dict[str, Any]:
    """``daily_dose`` (dose × times per day) with its derivation; missing without both."""
    daily = rx.daily_dose
    if daily is not None and rx.dose is not None and rx.frequency is not None:
        inputs = {"dose": f"{rx.dose.value:g} {rx.dose.unit}",
                  "frequency": f"{rx.frequency.code} ({rx.frequency.times_per_day:g}/d)"}
        if part is not None and part.units is not None:
            inputs["dose"] += f" ({path}.dose)"
        daily = round_to(daily, FACT_DECIMALS)
        fs.derived[f"{path}.daily_dose"] = Derived(
            "daily_dose", daily, "dose × times per day", inputs, unit=f"{rx.dose.unit}/d")
        return {"daily_dose": daily}
    reason = (f"{src}.frequency" if rx.frequency is None or
              rx.frequency.times_per_day is None else f"{src}.dose")
    fs.missing[f"{path}.daily_dose"] = (reason,)
    return {}


def _drug_knowledge(kb: KnowledgeBase, drug: Drug, rx: Prescription, path: str, src: str,
                    fs: FactSet, weight: float | None, tail: dict[str, Any]
                    ) -> dict[str, Any]:
    """Fields of an rx fact joined from the drug's knowledge, in the dose's unit, made
    (:meth:`FactType.normal`) and shared: not to be changed. The dose per kg, worked
    out from this prescription, goes to ``tail``."""
    formulation = kb.formulation_of(rx.formulation) or kb.formulation_of(rx.drug)
    known = joins.per_object(kb, "rx_knowledge", drug.id, (drug,),
                             lambda: _DrugKnowledge(kb, drug))
    dose = rx.dose
    unit = dose.unit if dose is not None else None
    route = rx.route or kb.prescribing.default_route
    joined, missing = known.joined(kb, drug, route, formulation, unit)
    for name, why, limit_unit in missing:
        if why == "knowledge":
            fs.missing[f"{path}.{name}"] = (f"knowledge.drugs.{drug.id}.{route}.{name}",)
        else:  # the dose is in another unit than the limits
            fs.missing[f"{path}.{name}"] = (
                f"{src}.dose (in {unit}; the limits are in {limit_unit})",)
    daily = rx.daily_dose
    if daily is not None and rx.dose is not None and rx.dose.unit == "mg":
        if weight:
            tail["mg_per_kg_day"] = round(daily / weight, 2)
            fs.derived[f"{path}.mg_per_kg_day"] = Derived(
                "mg_per_kg_day", round(daily / weight, 2), "daily dose / body weight",
                {"daily_dose": f"{daily:g} mg/d", "weight": f"{weight:g} kg"}, unit="mg/kg/d")
        else:
            fs.missing[f"{path}.mg_per_kg_day"] = ("patient.weight",)
    return joined


#: an rx fact's fields joined from a drug, and those left missing (field, why, unit)
_Slice = tuple[dict[str, Any], tuple[tuple[str, str, str | None], ...]]
#: dosage units (a product label's limits are in them)
_DOSAGE_UNITS = frozenset(get_args(DosageUnit))


class _DrugKnowledge:
    """The knowledge an rx fact joins from one drug, worked out once per drug: its
    pregnancy, lactation and Beers fields, its children's limits by route, and its adult
    dose limits by (route, formulation, dosage unit) as :meth:`KnowledgeBase.dose_limit`
    finds them, keyed only by the values that choose among its dose entries."""

    def __init__(self, kb: KnowledgeBase, drug: Drug) -> None:
        self.status: dict[str, Any] = {
            "pregnancy": drug.pregnancy.status if drug.pregnancy else None,
            "lactation": drug.lactation.status if drug.lactation else None,
            # the Beers list is explicit: a drug that is not on it is "none", not unknown
            "beers": drug.geriatric.beers if drug.geriatric is not None else "none"}
        self.pediatric: dict[str, Any] = {}
        for x in drug.pediatric:  # the first row of each route
            self.pediatric.setdefault(x.route, x)
        self.routes = frozenset(d.route for d in drug.doses)
        #: formulations that choose an entry: the drug's own and the modified-release
        #: family (any other is read as none: the general entry)
        self.formulations = (frozenset(d.formulation for d in drug.doses)
                             | frozenset(kb.prescribing.modified_release))
        self.limits: dict[tuple[str, str | None, str | None], DoseLimit | None] = {}
        self.pediatric_routes = frozenset(self.pediatric)
        self.slices: dict[tuple[str | None, str | None, str | None], _Slice] = {}

    def joined(self, kb: KnowledgeBase, drug: Drug, route: str, formulation: str | None,
               unit: str | None) -> _Slice:
        """The rx fields joined from the drug for a prescription by ``route`` (written, or
        the knowledge's default), of ``formulation``, with a dose in ``unit`` (None:
        no dose), and the fields left missing: (field, why, the limits' unit), why being
        "knowledge" (the knowledge has no value) or "unit" (a dose in another unit).
        Kept by the codes that choose the answer (a route that is none of the drug's is
        one key: it has no limit)."""
        key = (route if route in self.routes or route in self.pediatric_routes else None,
               formulation if formulation in self.formulations else None, unit)
        found = self.slices.get(key)
        if found is None:
            found = self.slices[key] = self._joined(kb, drug, route, formulation, unit)
        return found

    def _joined(self, kb: KnowledgeBase, drug: Drug, route: str, formulation: str | None,
                unit: str | None) -> _Slice:
        values: dict[str, Any] = {"chronic": drug.chronic}
        missing: list[tuple[str, str, str | None]] = []
        limit = self.dose_limit(kb, drug, route, formulation, unit)
        if limit is not None and unit is not None and limit.unit == unit:
            values.update(max_single=limit.max_single, max_daily=limit.max_daily,
                          min_daily=limit.min_daily)
        unchecked = limit is not None and unit is not None and limit.unit != unit
        if unchecked:  # a volume of a liquid without its strength (5 mL of a suspension)
            values["limit_unit"] = limit.unit  # type: ignore[union-attr]
        if limit is not None:
            values["max_times_per_day"] = limit.max_times_per_day
        for name in ("max_single", "max_daily"):
            if values.get(name) is None:
                missing.append((name, "unit", limit.unit) if unchecked  # type: ignore[union-attr]
                               else (name, "knowledge", None))
        values.update(self.status)
        # the Beers and children's daily limits are in mg: compared only with a dose in mg
        in_mg = unit is None or unit == "mg"
        if drug.geriatric is not None and drug.geriatric.max_daily is not None:
            if in_mg:
                values["geriatric_max_daily"] = drug.geriatric.max_daily
            else:
                missing.append(("geriatric_max_daily", "unit", "mg"))
        ped = self.pediatric.get(route)
        if ped is not None:
            values.update(ped_min_age=ped.min_age_years,
                          ped_max_mg_kg_day=ped.max_mg_per_kg_day)
            if in_mg:
                values["ped_max_daily"] = ped.max_daily
            elif ped.max_daily is not None:
                missing.append(("ped_max_daily", "unit", "mg"))
        return RX.normal(values), tuple(missing)

    def dose_limit(self, kb: KnowledgeBase, drug: Drug, route: str | None,
                   formulation: str | None, unit: str | None) -> DoseLimit | None:
        """:meth:`KnowledgeBase.dose_limit`, remembered by the codes it reads."""
        wanted = route or kb.prescribing.default_route
        if wanted not in self.routes:
            return None  # no entry for the route
        key = (wanted, formulation if formulation in self.formulations else None,
               unit if unit in _DOSAGE_UNITS else None)
        if key in self.limits:
            return self.limits[key]
        found = self.limits[key] = kb.dose_limit(drug, *key)
        return found


def _indication(kb: KnowledgeBase, drug: Drug, path: str, fs: FactSet,
                codes: _Codes | None) -> dict[str, Any]:
    """rx fields saying whether a diagnosis or problem-list code is a labelled indication.

    ``indicated`` is left absent without an indication row, without diagnoses (``codes``
    None: its own finding), or when only a code that is not ICD-10 could be the one.
    """
    prefixes, values = joins.per_object(kb, "rx_indication", drug.id, (drug,),
                                        lambda: _indication_fields(kb, drug))
    if not prefixes:
        fs.missing[f"{path}.indicated"] = (f"knowledge.indications.{drug.id}",)
        return {}
    if codes is None:
        fs.missing[f"{path}.indicated"] = ("record.diagnoses",)
        return values
    readable = codes.readable
    indicated = any(c.startswith(prefixes) for c in readable)
    if not indicated and len(readable) < len(codes.codes):
        fs.missing[f"{path}.indicated"] = ("record.diagnoses (not an ICD-10 code)",)
        return values
    return {**values, "indicated": indicated, "diagnoses_checked": codes.checked}


def _indication_fields(kb: KnowledgeBase, drug: Drug) -> tuple[tuple[str, ...],
                                                                dict[str, Any]]:
    """The ICD-10 prefixes of ``drug``'s labelled indications and the rx fields naming
    them (nothing without an indication row)."""
    prefixes = kb.indication_prefixes(drug)
    if not prefixes:
        return prefixes, {}
    rows = kb.indication_rows(drug)
    return prefixes, {"indication_codes": ", ".join(prefixes),
                      "indications_zh": "；".join(r.text.zh for r in rows),
                      "indications_en": "; ".join(r.text.en for r in rows)}


def rx_keys(ctx: Context, i: int, drug: Drug, mg: MgDose,
            paired: dict[tuple[str, str], int], unpaired: dict[str, list[int]],
            part: Part | None = None) -> None:
    """The rx_key facts of prescription ``i``: its drug id and classes (a dose-dependent
    class only when the dose may be above its threshold: ``at_dose`` missing when the
    daily dose is unknown), at most :data:`PAIRED_PER_KEY` prescriptions per drug and key
    (pairwise rules join two rx_key facts); the others are kept in ``unpaired``."""
    names = _names(ctx.kb, drug, part)
    path = part.path if part else f"prescriptions[{i}]"
    keys = list(joins.per_object(ctx.kb, "rx_keys", drug.id, (drug,), lambda: tuple(
        (key, True) for key in (drug.id, *(CLASS_PREFIX + c for c in drug.classes)))))
    for dc in drug.dose_classes:
        held = mg.above(dc.above_daily)
        if held is not False:
            keys.append((CLASS_PREFIX + dc.class_, held))
    for key, held in keys:
        seen = paired.get((drug.id, key), 0)
        if seen >= PAIRED_PER_KEY:
            if i not in unpaired.setdefault(drug.id, []):
                unpaired[drug.id].append(i)
            continue
        paired[(drug.id, key)] = seen + 1
        if held is None:
            _dose_unknown(ctx.fs, path)
        ctx.fs.add_made(RX_KEY, path, {"rx": i, "key": key}, names, _AT_DOSE[held])


def rx_renal(ctx: Context, i: int, drug: Drug, mg: MgDose,
             part: Part | None = None) -> None:
    """One rx_renal fact per kidney-function rule of the drug that may apply at this dose
    (a dose-dependent rule, aspirin as an NSAID, only above its dose: ``at_dose`` missing
    when the daily dose is unknown)."""
    rules = _renal_rules(ctx.kb, drug)
    if not rules:
        return
    names = _names(ctx.kb, drug, part)
    path = part.path if part else f"prescriptions[{i}]"
    for above_daily, made in rules:
        held = True if above_daily is None else mg.above(above_daily)
        if held is False:
            continue
        if held is None:
            _dose_unknown(ctx.fs, path)
        ctx.fs.add_made(RX_RENAL, path, {"rx": i}, names, made, _AT_DOSE[held])


def _renal_rules(kb: KnowledgeBase, drug: Drug) -> tuple[tuple[float | None, dict[str, Any]],
                                                         ...]:
    """Each kidney-function rule of ``drug``: the daily dose (mg) above which it applies
    (None: any) and its rx_renal fields, made once per drug."""
    return joins.per_object(kb, "rx_renal", drug.id, (drug,), lambda: tuple(
        (rule.above_daily, RX_RENAL.normal({
            "measure": rule.measure, "below": rule.below, "action": rule.action,
            "renal_max_daily": rule.max_daily, "test_first": rule.test_first,
            "text_zh": rule.text.zh, "text_en": rule.text.en}))
        for rule in drug.renal))


#: the at_dose field of an rx_key or rx_renal fact: held, not held, unknown (absent)
_AT_DOSE: dict[bool | None, dict[str, Any]] = {True: {"at_dose": True},
                                               False: {"at_dose": False}, None: {}}


@dataclass(frozen=True)
class MgDose:
    """A prescription's dose and daily dose in mg, where known."""

    single: float | None
    daily: float | None

    def above(self, threshold: float) -> bool | None:
        """Whether the daily dose is above ``threshold`` mg: None when unknown. A single
        dose above it settles it (a day holds at least one dose)."""
        if self.daily is not None:
            return self.daily > threshold
        if self.single is not None and self.single > threshold:
            return True
        return None


def _mg_dose(rx: Prescription) -> MgDose:
    if rx.dose is None or rx.dose.unit != "mg":
        return MgDose(None, None)
    return MgDose(rx.dose.value, rx.daily_dose)


def _dose_unknown(fs: FactSet, path: str) -> None:
    """Why ``at_dose`` is missing: what left the daily dose unknown."""
    fs.missing[f"{path}.at_dose"] = fs.missing.get(f"{path}.daily_dose") or (f"{path}.dose",)


def rx_hepatic(ctx: Context, i: int, drug: Drug, part: Part | None = None) -> None:
    """One rx_hepatic fact per liver-disease rule of the drug."""
    rules = joins.per_object(ctx.kb, "rx_hepatic", drug.id, (drug,), lambda: tuple(
        RX_HEPATIC.normal({"applies_to": rule.applies_to, "action": rule.action,
                           "text_zh": rule.text.zh, "text_en": rule.text.en})
        for rule in drug.hepatic))
    if not rules:
        return
    names = _names(ctx.kb, drug, part)
    path = part.path if part else f"prescriptions[{i}]"
    for made in rules:
        ctx.fs.add_made(RX_HEPATIC, path, {"rx": i}, names, made)


def rx_total(ctx: Context, route: str, parts: list[tuple[int, Part, dict[str, Any]]]) -> None:
    """The rx_total fact of a drug given by several prescriptions by one route: the sum of
    their daily doses (absent when one of them is unknown or in another unit) and the
    adult daily maximum (absent when the knowledge lacks it, or when the prescriptions'
    formulations have different maxima)."""
    fs, kb = ctx.fs, ctx.kb
    first = parts[0][1]
    drug = first.drug
    facts = [fact for _, _, fact in parts]
    values: dict[str, Any] = {
        "drug": drug.id, "name_zh": drug.name.zh, "name_en": drug.name.en, "route": route,
        "prescriptions": len({i for i, _, _ in parts}),
        "items": ", ".join(str(i) for i in dict.fromkeys(i for i, _, _ in parts)),
        "parts_zh": "；".join(_share(kb, i, part, fact, "zh") for i, part, fact in parts),
        "parts_en": "; ".join(_share(kb, i, part, fact, "en") for i, part, fact in parts)}
    key = first.path
    unit_set = {fact.get("dose_unit") for fact in facts}
    if all("daily_dose" in fact for fact in facts) and len(unit_set) == 1:
        total = round_to(sum(fact["daily_dose"] for fact in facts), FACT_DECIMALS)
        unit = facts[0]["dose_unit"]
        words = ctx.kb.prescribing
        values.update(total_daily=total, dose_unit=unit,
                      dose_unit_zh=words.unit_name(unit, "zh"),
                      dose_unit_en=words.unit_name(unit, "en"))
        fs.derived[f"{key}.total_daily"] = Derived(
            "total_daily", total, "sum of the daily doses of the drug",
            {f"{part.path}.daily_dose": f"{fact['daily_dose']:g} {unit}/d"
             for _, part, fact in parts}, unit=f"{unit}/d")
    else:
        reasons = [r for _, part, fact in parts if "daily_dose" not in fact
                   for r in fs.missing.get(f"{part.path}.daily_dose", (f"{part.source}.dose",))]
        if not reasons:  # every daily dose known, in different units (mg and tablets)
            reasons = [f"{part.source}.dose (in {fact.get('dose_unit')})"
                       for _, part, fact in parts if fact.get("dose_unit") != "mg"]
        fs.missing[f"{key}.total_daily"] = tuple(dict.fromkeys(reasons))
    maxima = {fact.get("max_daily") for fact in facts}
    if len(maxima) == 1 and None not in maxima:
        values["max_daily"] = facts[0]["max_daily"]
    elif None in maxima:
        reasons = [r for _, part, fact in parts if "max_daily" not in fact
                   for r in fs.missing.get(f"{part.path}.max_daily", ())]
        fs.missing[f"{key}.max_daily"] = tuple(dict.fromkeys(reasons)) or (
            f"knowledge.drugs.{drug.id}.{route}.max_daily",)
    else:
        fs.missing[f"{key}.max_daily"] = (
            f"knowledge.drugs.{drug.id}.{route}.max_daily (the prescriptions' formulations "
            "have different maxima)",)
    fact = fs.add(RX_TOTAL, key, values)
    fs.subjects[fact["id"]] = f"prescriptions:{drug.id}:{route}:total"


def _share(kb: KnowledgeBase, i: int, part: Part, fact: dict[str, Any], lang: str) -> str:
    """One prescription's share of a drug's total, in words: "第1项 复方氨酚烷胺片
    2片×250 mg，每日3次 = 1500 mg/日" / "item 1 复方氨酚烷胺片 2 tablet × 250 mg, 3/d =
    1500 mg/d"."""
    words = kb.prescribing
    name = part.product.name.get(lang) if part.product else part.drug.name.get(lang)
    unit = fact.get("dose_unit", "")
    if part.units is not None and part.ingredient is not None:
        counted = words.unit_name(part.units_code or "", lang)
        dose = (f"{part.units:g}{counted}×{part.ingredient.strength:g} {unit}" if lang == "zh"
                else f"{part.units:g} {counted} × {part.ingredient.strength:g} {unit}")
    elif "dose" in fact:
        dose = f"{fact['dose']:g} {words.unit_name(unit, lang)}"
    else:
        dose = "剂量未写明" if lang == "zh" else "dose not written"
    times = fact.get("times_per_day")
    if lang == "zh":
        often = f"，每日{times:g}次" if times else ""
        daily = (f" = {fact['daily_dose']:g} {words.unit_name(unit, lang)}/日"
                 if "daily_dose" in fact else "（日剂量未知）")
        return f"第{i}项 {name} {dose}{often}{daily}"
    often = f", {times:g}/d" if times else ""
    daily = (f" = {fact['daily_dose']:g} {unit}/d" if "daily_dose" in fact
             else " (daily dose unknown)")
    return f"item {i} {name} {dose}{often}{daily}"


def _note_unpaired(kb: KnowledgeBase, fs: FactSet, unpaired: dict[str, list[int]]) -> None:
    """One note per drug prescribed more than :data:`PAIRED_PER_KEY` times."""
    for drug_id, indices in unpaired.items():
        # a drug, or a product checked against its own label (its id is the product's)
        drug = kb.drugs.get(drug_id) or kb.label_drug(kb.products[drug_id])
        assert drug is not None
        items = ", ".join(str(i) for i in indices[:20]) + (" …" if len(indices) > 20 else "")
        fs.note(f"prescriptions[{indices[0]}]",
                f"{drug.name.en} is prescribed more than {PAIRED_PER_KEY} times: items "
                f"{items} (counted from 0) are checked for interactions, duplicates and "
                f"contraindications through its first {PAIRED_PER_KEY} prescriptions",
                f"{drug.name.zh}开具超过{PAIRED_PER_KEY}次：第 {items} 项（从0计）的相互作用、"
                f"重复用药和禁忌核查以其前{PAIRED_PER_KEY}项处方为准")


def build_allergies(ctx: Context) -> None:
    """One allergy_key fact per key a recorded allergy matches (an allergy to no known
    drug or class is a note); when there is one, rx_allergen facts for every key of
    every known prescribed drug."""
    fs, kb = ctx.fs, ctx.kb
    any_key = False  # an allergy_key fact made (only this builder makes them)
    for i, allergy in enumerate(ctx.enc.patient.allergies):
        keys = kb.allergy_keys(allergy.substance)
        if not keys:
            fs.note(f"patient.allergies[{i}].substance",
                    f"allergy to {allergy.substance!r} is not a known drug or class: "
                    "not used by drug checks",
                    f"过敏原“{allergy.substance}”不是已知药物或药物类别：未用于用药核查")
        for key in keys:
            fs.add(ALLERGY_KEY, f"patient.allergies[{i}]",
                   {"allergy": i, "key": key, "substance": allergy.substance})
            any_key = True
    if not any_key:
        return
    for i in range(len(ctx.enc.prescriptions)):
        for part in decomposed(ctx, i).parts:
            names = _names(kb, part.drug, part)
            for key in kb.all_drug_keys(part.drug):
                fs.add_made(RX_ALLERGEN, part.path, {"rx": i, "key": key}, names)
