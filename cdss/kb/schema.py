"""Schemas of the knowledge tables (frozen, picklable records, no engine references)."""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

Verification = Literal["V", "S", "K", "UNVERIFIED"]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Text(Frozen):
    """A text in both languages."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


class Source(Frozen):
    """Where a number comes from, and how it was verified."""

    title: str = Field(min_length=1)
    url: str | None = None
    verification: Verification
    note: str | None = None


class Bounds(Frozen):
    low: float
    high: float


class AffineUnit(Frozen):
    scale: float
    offset: float = 0.0


class Analyte(Frozen):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: Text
    loinc: tuple[str, ...] = ()
    canonical: str
    molar_mass: float | None = Field(default=None, gt=0)
    alt_units: dict[str, AffineUnit] = Field(default_factory=dict)
    bare_ok: bool = False
    plausible: Bounds | None = None
    source: Source


class AnalyteTable(Frozen):
    version: str
    analytes: tuple[Analyte, ...]


class PlausibilityBound(Frozen):
    low: float
    high: float
    unit: str


class PlausibilityTable(Frozen):
    version: str
    source: Source
    vitals: dict[str, PlausibilityBound]


class DrugClass(Frozen):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: Text
    atc_prefixes: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    #: an allergy to one member counts as an allergy to the whole class
    allergy_group: bool = False
    source: Source


Route = Literal["oral", "iv", "im", "sc", "inhaled", "topical", "rectal", "sublingual"]


class DoseLimit(Frozen):
    """Adult dose limits for one route (and formulation, if the limit is product-specific)."""

    route: Route
    population: Literal["adult"] = "adult"
    formulation: str | None = None
    #: mg, IU or mL for a drug; a dosage unit (tablet...) only in a product's own label
    #: limits (:class:`ProductLabel`)
    unit: Literal["mg", "IU", "mL", "tablet", "capsule", "sachet", "ampoule", "pill"]
    max_single: float | None = Field(default=None, gt=0)
    max_daily: float | None = Field(default=None, gt=0)
    #: lowest usual effective daily dose (dose_low); only where a source states one
    min_daily: float | None = Field(default=None, gt=0)
    #: most administrations per day the label allows (frequency module)
    max_times_per_day: float | None = Field(default=None, gt=0)
    usual: Text | None = None
    source: Source


class PediatricLimit(Frozen):
    """Children: youngest labelled age and weight-based daily limits."""

    #: stated in every row: the knowledge, not Python, says which route a limit is for
    route: Route
    #: below this age (years) the drug is not labelled / not recommended
    min_age_years: float | None = Field(default=None, ge=0)
    max_mg_per_kg_day: float | None = Field(default=None, gt=0)
    #: absolute daily cap in children, mg
    max_daily: float | None = Field(default=None, gt=0)
    text: Text | None = None
    source: Source


Action = Literal["contraindicated", "avoid", "reduce", "caution"]


class RenalRule(Frozen):
    """Below a kidney-function threshold, what to do."""

    measure: Literal["egfr", "crcl"]
    #: applies when the patient's value is strictly below this (mL/min[/1.73m²])
    below: float = Field(gt=0)
    action: Action
    #: the daily maximum at this level, when the action is "reduce"
    max_daily: float | None = Field(default=None, gt=0)
    #: the rule holds only above this daily dose in mg (aspirin as an NSAID, like
    #: ``dose_classes``); with the daily dose unknown, rules reading it are undecided
    #: (``rx_renal.at_dose`` missing)
    above_daily: float | None = Field(default=None, gt=0)
    #: "always": renal function must be known before prescribing (a missing one is a
    #: warning); "at_risk": the rule only bites in impaired kidneys, so a missing value
    #: is a warning only for patients at risk of CKD (knowledge/inference.yaml)
    test_first: Literal["always", "at_risk"] = "always"
    text: Text
    source: Source


class HepaticRule(Frozen):
    """In liver disease (any chronic liver disease, or cirrhosis), what to do."""

    applies_to: Literal["liver_disease", "cirrhosis"] = "liver_disease"
    action: Action
    text: Text
    source: Source


class SafetyStatus(Frozen):
    """Pregnancy or lactation advice."""

    status: Literal["contraindicated", "avoid", "caution", "compatible"]
    text: Text
    source: Source


class GeriatricFlag(Frozen):
    """AGS Beers Criteria 2023 (or the Chinese PIM list) for older adults (age in the rules)."""

    beers: Literal["avoid", "caution", "dose_limit"]
    #: for "dose_limit": the daily maximum in older adults (digoxin 0.125 mg)
    max_daily: float | None = Field(default=None, gt=0)
    text: Text
    source: Source


class DoseClass(Frozen):
    """Class membership that holds only above a daily dose (aspirin as an NSAID)."""

    class_: str = Field(alias="class")
    above_daily: float = Field(gt=0)
    source: Source


class Drug(Frozen):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: Text
    atc: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    dose_classes: tuple[DoseClass, ...] = ()
    #: long-term drug for a chronic disease (prescriptions beyond 7 days are expected)
    chronic: bool = False
    doses: tuple[DoseLimit, ...] = ()
    pediatric: tuple[PediatricLimit, ...] = ()
    renal: tuple[RenalRule, ...] = ()
    hepatic: tuple[HepaticRule, ...] = ()
    pregnancy: SafetyStatus | None = None
    lactation: SafetyStatus | None = None
    geriatric: GeriatricFlag | None = None

    @field_validator("atc")
    @classmethod
    def _atc_form(cls, codes: tuple[str, ...]) -> tuple[str, ...]:
        import re

        for code in codes:
            if not re.fullmatch(r"[A-Z]\d{2}[A-Z]{2}\d{2}", code):
                raise ValueError(f"ATC code {code!r} is not of the form A00AA00")
        return codes


class Interaction(Frozen):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    a: str
    b: str
    severity: Literal["contraindicated", "major", "moderate"]
    effect: Text
    mechanism: Text
    action: Text
    #: W3C PDDI minimum information model: what makes the interaction worse or milder
    #: (dose, duration, patient factors). Optional: not every source states them.
    modifying_factors: Text | None = None
    source: Source


class DrugTable(Frozen):
    drugs: tuple[Drug, ...]


class ClassTable(Frozen):
    classes: tuple[DrugClass, ...]


class InteractionTable(Frozen):
    interactions: tuple[Interaction, ...]


class Band(Frozen):
    """One scoring band: inclusive ``min``/``max``, exclusive ``above``/``below``.

    Bands are read on the exact value (no rounding), so a parameter's bands must
    cover every real number exactly once (checked by :func:`check_tiling`).
    """

    min: float | None = None
    max: float | None = None
    above: float | None = None
    below: float | None = None
    score: int

    @model_validator(mode="after")
    def _one_bound_per_side(self) -> Band:
        if self.min is not None and self.above is not None:
            raise ValueError("a band has either 'min' or 'above', not both")
        if self.max is not None and self.below is not None:
            raise ValueError("a band has either 'max' or 'below', not both")
        return self


def check_tiling(bands: tuple[Band, ...]) -> None:
    """Raise ValueError unless every real number lies in exactly one band."""
    inf = float("inf")
    # (lower, lower excluded, upper, upper excluded)
    spans = sorted(
        ((b.min if b.min is not None else b.above if b.above is not None else -inf),
         b.above is not None,
         (b.max if b.max is not None else b.below if b.below is not None else inf),
         b.below is not None) for b in bands)
    if not spans:
        return
    if spans[0][0] != -inf or spans[-1][2] != inf:
        raise ValueError("the bands must reach down to -inf and up to +inf (omit the outer "
                         "bounds)")
    for low, low_open, high, high_open in spans:
        if low > high or (low == high and (low_open or high_open)):
            raise ValueError(f"empty band from {low} to {high}")
    for (_, _, high, high_open), (low, low_open, _, _) in pairwise(spans):
        if high != low or high_open == low_open:
            raise ValueError(f"bands must meet without a gap or an overlap: one ends at "
                             f"{high} ({'below' if high_open else 'max'}), the next starts "
                             f"at {low} ({'above' if low_open else 'min'}); pair 'max' with "
                             "'above' or 'below' with 'min'")


class AlsoField(Frozen):
    """A second field scored with its own bands; the parameter takes the higher score
    (CURB-65's blood-pressure item reads the systolic and the diastolic pressure)."""

    field: str
    bands: tuple[Band, ...]

    @field_validator("bands")
    @classmethod
    def _tiles(cls, bands: tuple[Band, ...]) -> tuple[Band, ...]:
        check_tiling(bands)
        return bands


class ScoredParameter(Frozen):
    field: str
    bands: tuple[Band, ...] = ()
    #: categorical parameters (consciousness, oxygen) score by value
    values: dict[str, int] = Field(default_factory=dict)
    also: AlsoField | None = None

    @field_validator("bands")
    @classmethod
    def _tiles(cls, bands: tuple[Band, ...]) -> tuple[Band, ...]:
        check_tiling(bands)
        return bands


class ScoreTable(Frozen):
    id: str
    name: Text
    source: Source
    parameters: dict[str, ScoredParameter]


class Formula(Frozen):
    id: str
    name: Text
    formula: str
    constants: dict[str, float]
    source: Source


class ConditionGroup(Frozen):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: Text
    prefixes: tuple[str, ...]
    source: Source


class ConditionGroupTable(Frozen):
    groups: tuple[ConditionGroup, ...]


class FormulaTable(Frozen):
    formulas: tuple[Formula, ...]


class IcdName(Frozen):
    code: str
    zh: str
    en: str


class IcdTable(Frozen):
    code_pattern: str
    source: Source
    codes: tuple[IcdName, ...] = ()

    @field_validator("code_pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        import re

        re.compile(pattern)
        return pattern


class _Row(Frozen):
    """A row of a clinical table: an id, what it says, and its source."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    text: Text
    source: Source


class DuplicateClass(_Row):
    """Prescribing more than ``allowed`` drugs of one class is duplicate therapy."""

    key: str  # class:<id>
    #: the duplicate rule pairs two prescriptions, so only 1 is supported; a larger
    #: allowance is refused at load rather than silently ignored
    allowed: int = Field(default=1, ge=1, le=1)


class DuplicateTable(Frozen):
    duplicates: tuple[DuplicateClass, ...]


class AllergyCross(_Row):
    """An allergy to ``allergy`` (drug or class key) and a prescription of ``drug``."""

    allergy: str
    drug: str
    severity: Literal["contraindicated", "major", "moderate", "minor"]
    action: Text


class AllergyCrossTable(Frozen):
    cross_reactions: tuple[AllergyCross, ...]


class Contraindication(_Row):
    """A drug (or class) in a patient with a condition group (ICD-10 prefixes)."""

    drug: str
    condition_group: str
    severity: Literal["contraindicated", "major", "moderate"]
    action: Text


class ContraindicationTable(Frozen):
    contraindications: tuple[Contraindication, ...]


class Indication(_Row):
    """The labelled indications of a drug (or class): ICD-10 prefixes and condition groups;
    ``text`` names them in words."""

    drug: str
    codes: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @field_validator("codes", mode="before")
    @classmethod
    def _flatten(cls, codes: object) -> object:
        """Shared lists come in as YAML aliases, i.e. nested lists: flatten them."""
        if isinstance(codes, list | tuple):
            return [c for item in codes for c in (item if isinstance(item, list) else [item])]
        return codes

    @model_validator(mode="after")
    def _names_something(self) -> Indication:
        if not self.codes and not self.groups:
            raise ValueError("an indication needs codes or groups")
        return self


class IndicationTable(Frozen):
    #: lists the rows share through YAML anchors (checked where a row uses them)
    shared: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    indications: tuple[Indication, ...]


#: a lexicon word: not empty, not only blanks ("no " keeps its space on purpose)
LexWord = Annotated[str, Field(min_length=1, pattern=r"\S")]
#: characters (Chinese) or words (English) between two matched words
Gap = Annotated[int, Field(strict=True, ge=0, le=20)]


class SymptomComposition(Frozen):
    """A site word and a qualifier word in one clause, in either order, at most
    ``max_gap`` units apart ("左上肢" + "无力"; "weakness" + "left arm")."""

    sites: tuple[LexWord, ...] = Field(min_length=1)
    qualifiers: tuple[LexWord, ...] = Field(min_length=1)
    #: overrides the lexicon's ``matching.max_gap``
    max_gap: Gap | None = None
    #: words that cancel a (not negated) match when they stand in it or at most
    #: ``matching.exclude_reach`` units before it ("双下肢无力" is not one-sided)
    exclude: tuple[LexWord, ...] = ()
    #: the clause must also hold an onset word (``matching.onset``): "突发视物模糊"
    onset: bool = False

    @model_validator(mode="after")
    def _disjoint(self) -> SymptomComposition:
        both = set(self.sites) & set(self.qualifiers)
        if both:
            raise ValueError(f"words both site and qualifier: {sorted(both)}")
        return self


class Symptom(Frozen):
    """A red-flag symptom: plain terms and site + qualifier compositions (zh and en)."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: Text
    terms: tuple[LexWord, ...] = ()
    compositions: tuple[SymptomComposition, ...] = ()
    #: a clause with a chronic-duration pattern and no onset word does not count
    exclude_chronic: bool = False
    source: Source

    @model_validator(mode="after")
    def _something_to_match(self) -> Symptom:
        if not self.terms and not self.compositions:
            raise ValueError(f"symptom {self.key!r} has neither terms nor compositions")
        return self


class SymptomMatching(Frozen):
    """Settings of the matcher (cdss.kb.symptoms), kept with the words they govern."""

    #: units (a Chinese character or an English word) a negation may stand before a term
    negation_reach: Gap
    #: default largest gap between a composition's site and qualifier
    max_gap: Gap
    #: units before a composition match in which its ``exclude`` words count
    exclude_reach: Gap
    #: where free text splits into clauses (a negation or onset word does not cross them)
    clause_separators: tuple[LexWord, ...] = Field(min_length=1)
    #: where a clause splits into list items (a negation carries along them)
    item_separators: tuple[LexWord, ...] = ()
    #: phrases that hold a negation word but negate nothing ("无明显诱因", "无力")
    not_negations: tuple[LexWord, ...] = ()
    #: words of sudden onset: needed by ``onset`` compositions, override ``chronic``
    onset: tuple[LexWord, ...] = ()
    #: regular expressions of a chronic course ("3年", "多年"), for ``exclude_chronic``
    chronic: tuple[LexWord, ...] = ()
    #: words that, like onset words, keep a chronic clause counting ("3年，加重1天")
    worsening: tuple[LexWord, ...] = ()
    #: regular expressions of a past event ("3年前", "既往"): a clause holding one and no
    #: onset or worsening word names no key ("3年前曾有胸痛")
    past: tuple[LexWord, ...] = ()
    source: Source | None = None

    @field_validator("chronic", "past")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a regular expression: "
                                 f"{exc}") from None
        return patterns


class SymptomLexicon(Frozen):
    negations: tuple[LexWord, ...] = ()
    #: required when there are symptoms (a knowledge folder without a lexicon has none)
    matching: SymptomMatching | None = None
    symptoms: tuple[Symptom, ...] = ()

    @model_validator(mode="after")
    def _settings_present(self) -> SymptomLexicon:
        if self.symptoms and self.matching is None:
            raise ValueError("matching: the matcher's settings are required with symptoms")
        for s in self.symptoms:
            if s.exclude_chronic and not self.matching.chronic:  # type: ignore[union-attr]
                raise ValueError(f"symptom {s.key!r}: exclude_chronic needs matching.chronic")
            if any(c.onset for c in s.compositions) and not self.matching.onset:  # type: ignore[union-attr]
                raise ValueError(f"symptom {s.key!r}: an onset composition needs "
                                 "matching.onset")
        return self


class Bound(Frozen):
    below: float


ControlledValue = Literal["sbp", "dbp", "fasting_glucose"]


class AgeTarget(Frozen):
    """A control target that replaces the programme's default from an age on."""

    #: applies to patients of at least this age (completed years) at the visit
    from_age: int = Field(gt=0)
    controlled: dict[ControlledValue, Bound]
    text: Text
    source: Source


class FollowupProgramme(Frozen):
    """A chronic-disease follow-up programme (BPHS): who, how often, what is controlled."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: Text
    groups: tuple[str, ...] = Field(min_length=1)
    routine_interval_days: int = Field(gt=0)
    after_uncontrolled_days: int = Field(gt=0)
    #: this visit's value -> exclusive upper bound of "controlled" (sbp, dbp, fasting_glucose)
    controlled: dict[ControlledValue, Bound]
    #: the default target in words (shown in the evidence and messages)
    target: Text
    #: age-dependent targets; the one with the highest ``from_age`` the patient has reached
    #: replaces ``controlled``
    age_targets: tuple[AgeTarget, ...] = ()
    source: Source

    @model_validator(mode="after")
    def _distinct_ages(self) -> FollowupProgramme:
        ages = [t.from_age for t in self.age_targets]
        if len(set(ages)) != len(ages):
            raise ValueError("two age targets start at the same age")
        return self

    def targets_for(self, age: int | None) -> tuple[tuple[dict[str, Bound], Text, int | None], ...]:
        """(bounds, text, from_age) of the target that applies at ``age``; every target
        that could apply when the age is unknown."""
        options: list[tuple[dict[str, Bound], Text, int | None]] = [
            (dict(self.controlled), self.target, None)]
        options += [(dict(t.controlled), t.text, t.from_age)
                    for t in sorted(self.age_targets, key=lambda t: t.from_age)]
        if age is None:
            return tuple(options)
        reached = [o for o in options if o[2] is None or age >= o[2]]
        return (reached[-1],)


class FollowupTable(Frozen):
    programmes: tuple[FollowupProgramme, ...]


class ImpliedCondition(Frozen):
    """A prescription of a drug of ``class_`` is evidence of the condition ``group``."""

    class_: str = Field(alias="class", pattern=r"^class:[a-z][a-z0-9_]*$")
    group: str
    #: other labelled or common uses that make the evidence weaker (for the reader)
    caveat: Text | None = None
    source: Source


class ImpliedConditionTable(Frozen):
    implied: tuple[ImpliedCondition, ...]

    @model_validator(mode="after")
    def _unique_pairs(self) -> ImpliedConditionTable:
        pairs = [(row.class_, row.group) for row in self.implied]
        dupes = sorted({f"{c} -> {g}" for c, g in pairs if pairs.count((c, g)) > 1})
        if dupes:
            raise ValueError(f"duplicate rows: {dupes}")
        return self


def _per_day(value: Any) -> Any:
    """A frequency's administrations per day: a number, ``"1/7"`` (exactly 1/7) or null."""
    if isinstance(value, str) and "/" in value:
        top, _, bottom = value.partition("/")
        try:
            return int(top) / int(bottom)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{value!r}: expected a number or a fraction such as '1/7'") from None
    return value


PerDay = Annotated[Annotated[float, Field(gt=0)] | None, BeforeValidator(_per_day)]


#: a dosage unit of a product (the codes of ``cdss.units.DOSAGE_UNITS``)
DosageUnit = Literal["tablet", "capsule", "sachet", "ampoule", "pill"]


class PrescribingWords(Frozen):
    """Words of prescriptions and the prescribing defaults (knowledge/prescribing.yaml)."""

    #: frequency word -> administrations per day (None: as needed)
    frequencies: dict[LexWord, PerDay] = Field(min_length=1)
    #: route spelling -> route code of the drug tables
    routes: dict[LexWord, LexWord] = Field(min_length=1)
    #: (dosage-form word, formulation code), the first that occurs wins
    formulations: tuple[tuple[LexWord, LexWord], ...] = ()
    #: formulation codes interchangeable for a dose limit
    modified_release: frozenset[str] = frozenset()
    #: the route of a prescription that does not say
    default_route: LexWord
    #: dosage-unit word as written -> dosage-unit code (``cdss.units.DOSAGE_UNITS``):
    #: "片" -> tablet; a dose in one is converted through a product's strength
    dosage_units: dict[LexWord, DosageUnit] = Field(default_factory=dict)
    #: how a dosage unit is named in messages, per language
    dosage_unit_names: dict[DosageUnit, Text] = Field(default_factory=dict)
    source: Source

    @model_validator(mode="after")
    def _named_units(self) -> PrescribingWords:
        unnamed = sorted(set(self.dosage_units.values()) - set(self.dosage_unit_names))
        if unnamed:
            raise ValueError(f"dosage_unit_names: no name for {unnamed}")
        return self

    def unit_name(self, code: str, lang: str) -> str:
        """A dosage unit (or mg, mL, IU) as shown in messages: "片", "tablet"."""
        name = self.dosage_unit_names.get(code)  # type: ignore[call-overload]
        return name.get(lang) if name is not None else code


class ProductIngredient(Frozen):
    """One ingredient of a product and its amount per dosage unit."""

    #: the drug id (knowledge/drugs); null: not a drug of the knowledge (人工牛黄, caffeine):
    #: the ingredient is listed, decomposed, and not checked
    drug: str | None
    name: Text
    #: amount per dosage unit in ``unit``; null only in a product marked ``ambiguous``
    #: (or for an ingredient that is not checked)
    strength: float | None = Field(default=None, gt=0)
    unit: Literal["mg", "IU"] = "mg"
    note: str | None = None
    #: drug classes an ingredient that is no drug of the knowledge brings to its product
    #: (阿片粉 in 复方甘草片: ``opioid``), so that duplicate, interaction and allergy rows of
    #: the class see the product; only with ``drug: null`` in a product with a label (its
    #: label part carries them)
    classes: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _classes_of_unlinked(self) -> ProductIngredient:
        if self.classes and self.drug is not None:
            raise ValueError("classes are for an ingredient that is no drug of the knowledge "
                             "(a drug brings its own)")
        return self


class ChildBand(Frozen):
    """One row of a children's product's dosing table ("4~6岁 16~21公斤 一次1~1.5袋，一日3
    次"): the most dosage units a dose and a day for an age band. The row is chosen by the
    child's age in whole years (always known from the birth date); the weight column is
    kept for the message and the reviewer."""

    #: the band's ages in whole years, both inclusive ("4~6岁": 4 and 6)
    min_age_years: int = Field(ge=0)
    max_age_years: int = Field(ge=0)
    #: the weight column of the same row, kg (shown, not used to choose the row)
    min_weight_kg: float | None = Field(default=None, gt=0)
    max_weight_kg: float | None = Field(default=None, gt=0)
    unit: DosageUnit
    max_single: float = Field(gt=0)
    max_daily: float = Field(gt=0)
    source: Source

    @model_validator(mode="after")
    def _ordered(self) -> ChildBand:
        if self.max_age_years < self.min_age_years:
            raise ValueError("children: max_age_years below min_age_years")
        if self.max_daily < self.max_single:
            raise ValueError("children: max_daily below max_single")
        return self

    def band_text(self, lang: str) -> str:
        """"4~6岁（16~21 kg）" / "aged 4-6 (16-21 kg)"."""
        kg = (f"{self.min_weight_kg:g}~{self.max_weight_kg:g} kg"
              if self.min_weight_kg and self.max_weight_kg else "")
        if lang == "zh":
            return f"{self.min_age_years}~{self.max_age_years}岁" + (f"（{kg}）" if kg else "")
        return (f"aged {self.min_age_years}-{self.max_age_years}"
                + (f" ({kg.replace('~', '-')})" if kg else ""))


class ProductLabel(Frozen):
    """What a product's own label says of the product as a whole: dose limits in its
    dosage units, pregnancy, lactation and indications. Only for a product with
    ingredients that are no drug of the knowledge (人工牛黄, 樟脑...): the label's limits
    bound them, and the product is checked as one more drug (cdss/derive/products.py)."""

    #: adult limits in dosage units ("一次1~2粒，一日3次": max_single 2, max_daily 6)
    doses: tuple[DoseLimit, ...] = ()
    #: a children's product's dosing table by age band, in dosage units (rules
    #: dosing.product_child.*); ages outside every band are not evaluated
    children: tuple[ChildBand, ...] = ()
    pregnancy: SafetyStatus | None = None
    lactation: SafetyStatus | None = None
    #: the labelled indications, as ICD-10 prefixes (an indication row of the product)
    indication: Text | None = None
    indication_codes: tuple[str, ...] = ()
    source: Source

    @model_validator(mode="after")
    def _indication_coded(self) -> ProductLabel:
        if (self.indication is None) != (not self.indication_codes):
            raise ValueError("an indication needs both its text and its codes")
        ages = [(b.unit, a) for b in self.children
                for a in range(b.min_age_years, b.max_age_years + 1)]
        if len(set(ages)) != len(ages):
            raise ValueError("children: two rows cover the same age in the same unit")
        return self


class Product(Frozen):
    """A medicinal product as prescribed (a brand or a generic product name): its
    ingredients and their strengths per dosage unit (knowledge/products/)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: Text
    #: other names as written in Chinese EMRs: generic product names, brands
    aliases: tuple[str, ...] = ()
    #: the dosage units a strength is per (a composition sold as tablets and capsules)
    dosage_units: tuple[DosageUnit, ...] = Field(min_length=1)
    route: Route = "oral"
    #: the formulation code whose dose limits apply (sustained_release...), if any
    formulation: str | None = None
    ingredients: tuple[ProductIngredient, ...] = Field(min_length=1)
    #: no strength is assumed (the name is sold in several strengths, or none could be
    #: verified): a dose in dosage units cannot be checked; the text says why
    ambiguous: Text | None = None
    #: the product's own label limits (only with an ingredient that is no drug of the
    #: knowledge)
    label: ProductLabel | None = None
    source: Source

    @model_validator(mode="after")
    def _label(self) -> Product:
        if self.label is None:
            return self
        if all(i.drug is not None for i in self.ingredients):
            raise ValueError("label: only for a product with an ingredient that is no drug "
                             "of the knowledge (the drugs' own rows check the others)")
        wrong = [d.unit for d in (*self.label.doses, *self.label.children)
                 if d.unit not in self.dosage_units]
        if wrong:
            raise ValueError(f"label.doses: unit {wrong[0]!r} is not one of the product's "
                             f"dosage units {list(self.dosage_units)}")
        return self

    def label_drug(self) -> Drug | None:
        """The product as one drug (its label's limits and statuses), or None."""
        if self.label is None:
            return None
        classes = tuple(dict.fromkeys(c for i in self.ingredients if i.drug is None
                                      for c in i.classes))
        return Drug(id=self.id, name=self.name, doses=self.label.doses, classes=classes,
                    pregnancy=self.label.pregnancy, lactation=self.label.lactation)

    @model_validator(mode="after")
    def _strengths(self) -> Product:
        # an ingredient that is not checked (drug: null) may go without its strength
        missing = [i.name.en for i in self.ingredients
                   if i.strength is None and i.drug is not None]
        if missing and self.ambiguous is None:
            raise ValueError(f"ingredients without a strength {missing}: a product sold in "
                             "several strengths says so in 'ambiguous'")
        if self.ambiguous is not None and not missing:
            raise ValueError("an ambiguous product states no strength")
        if self.label is None and any(i.classes for i in self.ingredients):
            raise ValueError("an ingredient's classes need the product's own label (its label "
                             "part carries them)")
        drugs = [i.drug for i in self.ingredients if i.drug is not None]
        if len(set(drugs)) != len(drugs):
            raise ValueError("a drug is listed twice among the ingredients")
        return self

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name.zh, self.name.en, *self.aliases)


class ProductTable(Frozen):
    products: tuple[Product, ...]
