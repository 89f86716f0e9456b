"""Prescriptions of products, decomposed into the drugs they give.

A prescription names a drug ("对乙酰氨基酚 0.5 g") or a product ("复方氨酚烷胺片 2 片",
knowledge/products/). A product gives one :class:`Part` per ingredient that is a drug of
the knowledge, with its dose worked out through the product's strength (2 tablets of
250 mg of paracetamol each: 500 mg), so that every rule about a drug (dose, duplicate,
interaction, allergy, kidney, liver...) sees the ingredient. An ingredient that is no
drug of the knowledge (人工牛黄, caffeine) is listed and not checked.

The parts of a product share the prescription's index: two ingredients of one product
are never paired with each other (a licensed fixed combination is not a duplicate or an
interaction the prescriber made), and each is paired with every other prescription.
A part of a product of several ingredients has its own fact path,
``prescriptions[i].ingredients[k]`` (k counts the product's ingredients, from 0); a
product of one ingredient keeps the prescription's path.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cdss.derive.factset import Context, FactSet
from cdss.derive.facttype import FactType, Headline
from cdss.derive.facttype import field as f
from cdss.derive.values import Derived
from cdss.kb import KnowledgeBase
from cdss.kb.schema import Drug, Product, ProductIngredient
from cdss.models import Prescription
from cdss.models.prescription import Dose


@dataclass(frozen=True)
class Part:
    """One drug a prescription gives: the prescription itself, or one ingredient of the
    product it names, with the dose of that drug."""

    #: the input path of the prescription (``prescriptions[2]``)
    source: str
    #: the path of the part's facts (``prescriptions[2]`` or ``prescriptions[2].ingredients[1]``)
    path: str
    drug: Drug
    #: the prescription as it gives this drug: its dose converted to the ingredient's
    #: amount when it was written in dosage units of a product of known strength
    rx: Prescription
    product: Product | None = None
    ingredient: ProductIngredient | None = None
    #: dosage units per dose, as written (2 for "2 片"), and their code, when converted
    units: float | None = None
    units_code: str | None = None
    #: why this part's dose cannot be compared with the drug's limits (a reason naming
    #: the input field, for ``not_evaluated``), when it cannot
    dose_problem: str | None = None
    #: the first checked ingredient of its product (a product's dose that cannot be
    #: converted is reported once, on this part)
    first: bool = True

    @property
    def several(self) -> bool:
        """The part is one ingredient of a product of several."""
        return self.product is not None and len(self.product.ingredients) > 1

    def names(self) -> dict[str, str]:
        """The part's drug id and names; an ingredient of a product of several is named
        with its product ("对乙酰氨基酚（复方氨酚烷胺片）")."""
        d, p = self.drug, self.product
        if p is None or not self.several:
            return {"drug": d.id, "name_zh": d.name.zh, "name_en": d.name.en}
        return {"drug": d.id, "name_zh": f"{d.name.zh}（{p.name.zh}）",
                "name_en": f"{d.name.en} (in {p.name.en})"}


@dataclass(frozen=True)
class Decomposed:
    """What one prescription gives: its product (None for a drug or an unknown name),
    the parts that are drugs of the knowledge, and the ingredients that are not."""

    product: Product | None
    parts: tuple[Part, ...]
    unchecked: tuple[ProductIngredient, ...] = ()


def decompose(kb: KnowledgeBase, i: int, rx: Prescription) -> Decomposed:
    """The drugs prescription ``i`` gives (nothing for a name the knowledge lacks)."""
    source = f"prescriptions[{i}]"
    product = kb.resolve_product(rx.drug)
    if product is None:
        drug = kb.resolve_drug(rx.drug)
        parts = (Part(source, source, drug, rx),) if drug is not None else ()
        return Decomposed(None, parts)
    several = len(product.ingredients) > 1
    parts: list[Part] = []
    for k, ingredient in enumerate(product.ingredients):
        if ingredient.drug is None:
            continue
        path = f"{source}.ingredients[{k}]" if several else source
        part = _part(kb, source, path, rx, product, ingredient)
        parts.append(part if not parts else replace(part, first=False))
    return Decomposed(product, tuple(parts),
                      tuple(x for x in product.ingredients if x.drug is None))


def _part(kb: KnowledgeBase, source: str, path: str, rx: Prescription, product: Product,
          ingredient: ProductIngredient) -> Part:
    """One ingredient of a product as a prescription of its drug."""
    drug = kb.drugs[ingredient.drug]  # type: ignore[index]  # checked at load
    update: dict = {"formulation": rx.formulation or product.formulation}
    if rx.route is None and product.route != kb.prescribing.default_route:
        update["route"] = product.route
    dose, several = rx.dose, len(product.ingredients) > 1
    if dose is None:
        return Part(source, path, drug, rx.model_copy(update=update), product, ingredient)
    words = kb.prescribing
    if not dose.counted:
        if not several:  # a mass of a single-drug product is that drug's dose
            return Part(source, path, drug, rx.model_copy(update=update), product, ingredient)
        problem = (f"{source}.dose (an amount for a product of several ingredients: "
                   f"write the number of {words.unit_name(product.dosage_units[0], 'en')}s)")
        return Part(source, path, drug, rx.model_copy(update={**update, "dose": None}),
                    product, ingredient, dose_problem=problem)
    if dose.unit not in product.dosage_units:
        problem = (f"{source}.dose (in {dose.unit}; {product.name.en} is dosed in "
                   f"{', '.join(product.dosage_units)})")
        return Part(source, path, drug, rx.model_copy(update=update), product, ingredient,
                    dose_problem=problem)
    if ingredient.strength is None:
        why = product.ambiguous.en if product.ambiguous else "several strengths"
        problem = (f"{source}.dose (in {dose.unit}; no strength of {product.name.en} is "
                   f"known: {why}; write the dose in mg)")
        return Part(source, path, drug, rx.model_copy(update=update), product, ingredient,
                    dose_problem=problem)
    amount = Dose(value=dose.value * ingredient.strength, unit=ingredient.unit)
    return Part(source, path, drug, rx.model_copy(update={**update, "dose": amount}),
                product, ingredient, units=dose.value, units_code=dose.unit)


def dose_derivation(kb: KnowledgeBase, part: Part) -> Derived | None:
    """How a part's dose was worked out from dosage units and the product's strength."""
    if part.units is None or part.product is None or part.ingredient is None \
            or part.rx.dose is None:
        return None
    unit = part.rx.dose.unit
    counted = kb.prescribing.unit_name(part.units_code or "", "en")
    return Derived(
        "dose", round(part.rx.dose.value, 4), "dosage units × strength",
        {"dose": f"{part.units:g} {counted} ({part.source}.dose)",
         "strength": f"{part.ingredient.strength:g} {unit} of {part.drug.name.en} per "
                     f"{counted} ({part.product.name.zh}, knowledge.products."
                     f"{part.product.id})"},
        unit=unit)


#: a prescription naming a product, as a whole: its dose in dosage units against the
#: limits of the product's own label, and the label's pregnancy, lactation and
#: indications (knowledge/products/). The label's limit bounds every ingredient, those
#: that are no drug of the knowledge (人工牛黄, 樟脑, 三硅酸镁) included.
RX_PRODUCT = FactType("rx_product", True, {
    "index": f("number", ""),
    "product": f("string", "drug", description="the product id (knowledge/products/)"),
    "name_zh": f("string", "drug"),
    "name_en": f("string", "drug"),
    "product_units": f("number", "dose", description=(
        "dosage units per dose as written (2 for '2 片'), in one of the product's units")),
    "unit_zh": f("string", "dose", description="the dosage unit in words (片)"),
    "unit_en": f("string", "dose"),
    "times_per_day": f("number", "frequency", "/d"),
    "product_daily_units": f("number", "product_daily_units", "/d",
                             description="dosage units per dose × times per day"),
    "max_units_per_dose": f("number", "max_units_per_dose", description=(
        "knowledge: the most dosage units per dose the product's label allows (an "
        "adult; for a children's product its largest band)")),
    "max_units_per_day": f("number", "max_units_per_day", description=(
        "knowledge: the most dosage units a day the product's label allows (as "
        "max_units_per_dose)")),
    "label_dose_zh": f("string", "", description="knowledge: the label's dosage text"),
    "label_dose_en": f("string", ""),
    "product_pregnancy": f("string", "drug", description=(
        "knowledge: the product label's pregnancy advice: contraindicated | avoid | "
        "caution | compatible")),
    "product_lactation": f("string", "drug", description="knowledge: as product_pregnancy"),
    "pregnancy_zh": f("string", "", description="knowledge: the label's words"),
    "pregnancy_en": f("string", ""),
    "lactation_zh": f("string", ""),
    "lactation_en": f("string", ""),
    "product_indicated": f("bool", "drug", shows="diagnoses_checked", description=(
        "a diagnosis or problem-list code of the visit is among the product label's "
        "indications; absent without them or without diagnoses")),
    "diagnoses_checked": f("string", "drug"),
    "indication_codes": f("string", "drug",
                          description="knowledge: ICD-10 prefixes of the label's indications"),
    "indications_zh": f("string", "drug"),
    "indications_en": f("string", "drug"),
    "unchecked_zh": f("string", "drug", description=(
        "the product's ingredients that are no drug of the knowledge, in words")),
    "unchecked_en": f("string", "drug"),
}, "one prescription naming a product (knowledge/products/), as a whole: its dose in "
   "dosage units and the product label's own limits, pregnancy, lactation and indications",
    Headline("product"))


def product_fact(ctx: Context, i: int, rx: Prescription, found: Decomposed,
                 codes: list[str] | None) -> dict | None:
    """The rx_product fact of prescription ``i`` when it names a product that has label
    rows, or ingredients no drug of the knowledge (whose only checks those rows are: their
    absence is then reported as not evaluated). A product of drugs of the knowledge
    without label rows (布洛芬缓释胶囊, 海捷亚) gives none: its ingredients' own rows check it."""
    product = found.product
    if product is None or not (found.unchecked or product.label_dose or product.pregnancy
                               or product.lactation or product.indications):
        return None
    kb, fs = ctx.kb, ctx.fs
    path = f"prescriptions[{i}]"
    values: dict = {"index": i, "product": product.id, "name_zh": product.name.zh,
                    "name_en": product.name.en}
    if found.unchecked:
        values.update(unchecked_zh="、".join(x.name.zh for x in found.unchecked),
                      unchecked_en=", ".join(x.name.en for x in found.unchecked))
    dose, freq = rx.dose, rx.frequency
    times = freq.times_per_day if freq is not None else None
    if times is not None:
        values["times_per_day"] = round(times, 4)
    units: float | None = None
    if dose is not None and dose.counted and dose.unit in product.dosage_units:
        units = dose.value
        values.update(product_units=units,
                      unit_zh=kb.prescribing.unit_name(dose.unit, "zh"),
                      unit_en=kb.prescribing.unit_name(dose.unit, "en"))
    elif dose is None:
        fs.missing[f"{path}.product_units"] = (f"{path}.dose",)
    else:
        fs.missing[f"{path}.product_units"] = (
            f"{path}.dose (in {dose.unit}; {product.name.en} is counted in "
            f"{', '.join(product.dosage_units)})",)
    if units is not None and times is not None:
        daily = round(units * times, 4)
        values["product_daily_units"] = daily
        fs.derived[f"{path}.product_daily_units"] = Derived(
            "product_daily_units", daily, "dosage units per dose × times per day",
            {"dose": f"{units:g} {values['unit_en']} ({path}.dose)",
             "frequency": f"{freq.code} ({times:g}/d)"},  # type: ignore[union-attr]
            unit=f"{values['unit_en']}/d")
    elif units is None:
        fs.missing[f"{path}.product_daily_units"] = fs.missing[f"{path}.product_units"]
    else:
        fs.missing[f"{path}.product_daily_units"] = (f"{path}.frequency",)
    label = product.label_dose
    where = f"knowledge.products.{product.id}"
    if label is not None:
        values.update(max_units_per_dose=label.max_units_per_dose,
                      max_units_per_day=label.max_units_per_day,
                      label_dose_zh=label.text.zh, label_dose_en=label.text.en)
    for name in ("max_units_per_dose", "max_units_per_day"):
        if values.get(name) is None:
            fs.missing[f"{path}.{name}"] = (f"{where}.label_dose.{name}",)
    for name, status in (("pregnancy", product.pregnancy), ("lactation", product.lactation)):
        if status is None:
            fs.missing[f"{path}.product_{name}"] = (f"{where}.{name}",)
            continue
        values.update({f"product_{name}": status.status, f"{name}_zh": status.text.zh,
                       f"{name}_en": status.text.en})
    values.update(_product_indication(kb, product, path, fs, codes))
    fact = fs.add(RX_PRODUCT, path, values)
    fs.subjects[fact["id"]] = f"prescriptions:{i}:product"
    if "product_indicated" in fact:
        fs.field_paths[(fact["id"], "product_indicated")] = "record.diagnoses"
    return fact


def _product_indication(kb: KnowledgeBase, product: Product, path: str, fs: FactSet,
                        codes: list[str] | None) -> dict:
    """rx_product fields saying whether a diagnosis is among the label's indications
    (as ``rx.indicated``: absent without indications, diagnoses or a readable code)."""
    rows = product.indications
    if rows is None:
        fs.missing[f"{path}.product_indicated"] = (
            f"knowledge.products.{product.id}.indications",)
        return {}
    values = {"indication_codes": ", ".join(rows.codes), "indications_zh": rows.text.zh,
              "indications_en": rows.text.en}
    if codes is None:
        fs.missing[f"{path}.product_indicated"] = ("record.diagnoses",)
        return values
    readable = [c.strip().upper() for c in codes if kb.icd10_form_ok(c)]
    indicated = any(c.startswith(rows.codes) for c in readable)
    if not indicated and len(readable) < len(codes):
        fs.missing[f"{path}.product_indicated"] = ("record.diagnoses (not an ICD-10 code)",)
        return values
    return {**values, "product_indicated": indicated,
            "diagnoses_checked": ", ".join(c.strip() for c in codes)}
