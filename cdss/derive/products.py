"""Prescriptions of products, decomposed into the drugs they give.

A prescription names a drug ("对乙酰氨基酚 0.5 g") or a product ("复方氨酚烷胺片 2 片",
knowledge/products/). A product gives one :class:`Part` per ingredient that is a drug of
the knowledge, with its dose worked out through the product's strength (2 tablets of
250 mg of paracetamol each: 500 mg), so that every rule about a drug (dose, duplicate,
interaction, allergy, kidney, liver...) sees the ingredient. An ingredient that is no
drug of the knowledge (人工牛黄, 樟脑) is listed and not checked itself; where the product's
own label is in the knowledge (``label``: its limits in dosage units, pregnancy,
lactation, indications), the product is one more part, checked as a drug of that label,
so that the label's limits bound every ingredient.

The parts of a product share the prescription's index: two ingredients of one product
are never paired with each other (a licensed fixed combination is not a duplicate or an
interaction the prescriber made), and each is paired with every other prescription.
A part of a product of several ingredients has its own fact path,
``prescriptions[i].ingredients[k]`` (k counts the product's ingredients, from 0); a
product of one ingredient keeps the prescription's path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from cdss.derive.factset import Context
from cdss.derive.facttype import round_to
from cdss.derive.values import Derived
from cdss.kb import KnowledgeBase
from cdss.kb.schema import Drug, Product, ProductIngredient
from cdss.models import Prescription
from cdss.models.prescription import Dose


@dataclass(frozen=True, init=False)
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

    def __init__(self, source: str, path: str, drug: Drug, rx: Prescription,
                 product: Product | None = None, ingredient: ProductIngredient | None = None,
                 units: float | None = None, units_code: str | None = None,
                 dose_problem: str | None = None, first: bool = True) -> None:
        # the instance dict filled at once (the dataclass's own __init__ sets each field
        # through object.__setattr__: frozen), as cdss.derive.values.Derived
        self.__dict__.update(source=source, path=path, drug=drug, rx=rx, product=product,
                             ingredient=ingredient, units=units, units_code=units_code,
                             dose_problem=dose_problem, first=first)

    @property
    def several(self) -> bool:
        """The part is one ingredient of a product of several."""
        return self.product is not None and len(self.product.ingredients) > 1

    @property
    def whole(self) -> bool:
        """The part is the product itself, checked against its own label."""
        return self.product is not None and self.ingredient is None

    def names(self) -> dict[str, str]:
        """The part's drug id and names; an ingredient of a product of several is named
        with its product ("对乙酰氨基酚（复方氨酚烷胺片）")."""
        d, p = self.drug, self.product
        if p is None or not self.several or self.whole:
            return {"drug": d.id, "name_zh": d.name.zh, "name_en": d.name.en}
        return {"drug": d.id, "name_zh": f"{d.name.zh}（{p.name.zh}）",
                "name_en": f"{d.name.en} (in {p.name.en})"}


@dataclass(frozen=True, init=False)
class Decomposed:
    """What one prescription gives: its product (None for a drug or an unknown name),
    the parts that are drugs of the knowledge, and the ingredients that are not."""

    product: Product | None
    parts: tuple[Part, ...]
    unchecked: tuple[ProductIngredient, ...] = ()

    def __init__(self, product: Product | None, parts: tuple[Part, ...],
                 unchecked: tuple[ProductIngredient, ...] = ()) -> None:
        self.__dict__.update(product=product, parts=parts, unchecked=unchecked)  # as Part


def decomposed(ctx: Context, i: int) -> Decomposed:
    """:func:`decompose` of the encounter's prescription ``i``, worked out once per
    encounter (the patient, prescription and allergy builders all read it)."""
    found = ctx.decomposed.get(i)
    if found is None:
        found = ctx.decomposed[i] = decompose(ctx.kb, i, ctx.enc.prescriptions[i],
                                              ctx.drug_named)
    return found


def decompose(kb: KnowledgeBase, i: int, rx: Prescription,
              resolve: Callable[[str], Drug | None] | None = None) -> Decomposed:
    """The drugs prescription ``i`` gives (nothing for a name the knowledge lacks);
    ``resolve``: :meth:`KnowledgeBase.resolve_drug` (or the same, remembered)."""
    source = f"prescriptions[{i}]"
    product = kb.resolve_product(rx.drug)
    if product is None:
        drug = (resolve or kb.resolve_drug)(rx.drug)
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
    whole = _whole(kb, source, rx, product, first=not parts)
    if whole is not None:
        parts.append(whole)
    return Decomposed(product, tuple(parts),
                      tuple(x for x in product.ingredients if x.drug is None))


def _whole(kb: KnowledgeBase, source: str, rx: Prescription, product: Product,
           first: bool) -> Part | None:
    """The product itself as a part checked against its label (None without one). Its
    dose is compared as written, in dosage units; a dose in another unit is reported once,
    on the product's first part."""
    drug = kb.label_drug(product)
    if drug is None:
        return None
    update: dict = {"formulation": rx.formulation or product.formulation}
    if rx.route is None and product.route != kb.prescribing.default_route:
        update["route"] = product.route
    problem = None
    if rx.dose is not None and rx.dose.unit not in product.dosage_units:
        problem = (f"{source}.dose (in {rx.dose.unit}; the label of {product.name.en} "
                   f"doses it in {', '.join(product.dosage_units)})")
    return Part(source, source, drug, rx.model_copy(update=update), product, None,
                dose_problem=problem, first=first)


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
        "dose", round_to(part.rx.dose.value, 4), "dosage units × strength",
        {"dose": f"{part.units:g} {counted} ({part.source}.dose)",
         "strength": f"{part.ingredient.strength:g} {unit} of {part.drug.name.en} per "
                     f"{counted} ({part.product.name.zh}, knowledge.products."
                     f"{part.product.id})"},
        unit=unit)
