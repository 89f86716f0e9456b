"""The knowledge base: every table under knowledge/, validated and indexed.

Loading checks each table's schema and the references between tables (a drug's
classes exist; an interaction names drugs or classes that exist), so a broken
table fails at start-up with the file and entry named, never mid-check.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel

from cdss._resources import knowledge_dir
from cdss.errors import KnowledgeError
from cdss.kb._files import read_yaml, validate
from cdss.kb.labels import DrugNaming, FieldLabels, Inference
from cdss.kb.rx_rules import (
    SkinTestRow,
    SkinTestTable,
    SkinTestWord,
    TierLevel,
    TierRow,
    TierTable,
    TitleGrant,
)
from cdss.kb.schema import (
    AllergyCross,
    AllergyCrossTable,
    Analyte,
    AnalyteTable,
    ClassTable,
    ConditionGroup,
    ConditionGroupTable,
    Contraindication,
    ContraindicationTable,
    DosageUnit,
    DoseLimit,
    Drug,
    DrugClass,
    DrugTable,
    DuplicateClass,
    DuplicateTable,
    FollowupProgramme,
    FollowupTable,
    Formula,
    FormulaTable,
    IcdTable,
    ImpliedCondition,
    ImpliedConditionTable,
    Indication,
    IndicationTable,
    Interaction,
    InteractionTable,
    PlausibilityTable,
    PrescribingWords,
    Product,
    ProductTable,
    ScoreTable,
    SymptomLexicon,
)
from cdss.kb.symptoms import SymptomMatcher

#: Dosage-form words stripped when an exact name does not match ("氨氯地平片").
CLASS_PREFIX = "class:"

#: the form of a WHO ICD-10 prefix in knowledge tables: a category (I10) or subdivision (K92.0)
_ICD10_PREFIX = re.compile(r"[A-Z][0-9]{2}(\.[0-9]{1,2})?")



def _norm(name: str) -> str:
    key = name.strip().lower()
    # the common case without a run of whitespace: nothing for the pattern to replace
    # (str.split and \s agree on what is whitespace)
    if " ".join(key.split()) == key:
        return key
    return re.sub(r"\s+", " ", key)


#: how drug names are compared (case and runs of spaces ignored)
normalise_name = _norm


@dataclass(frozen=True)
class KnowledgeBase:
    """All knowledge tables, indexed for look-up. Picklable; holds no engine state."""

    root: Path
    version: str
    analytes: dict[str, Analyte]
    plausibility: PlausibilityTable
    classes: dict[str, DrugClass]
    drugs: dict[str, Drug]
    interactions: tuple[Interaction, ...]
    duplicates: tuple[DuplicateClass, ...]
    allergy_cross: tuple[AllergyCross, ...]
    contraindications: tuple[Contraindication, ...]
    scores: dict[str, ScoreTable]
    formulas: dict[str, Formula]
    condition_groups: dict[str, ConditionGroup]
    icd10: IcdTable
    symptoms: SymptomLexicon
    followup: tuple[FollowupProgramme, ...]
    indications: tuple[Indication, ...]
    #: drug class -> condition group a prescription of it is evidence of
    implied: tuple[ImpliedCondition, ...]
    #: words of prescriptions (frequencies, routes, dosage forms) and prescribing defaults
    prescribing: PrescribingWords
    _drug_names: dict[str, str] = field(repr=False)
    _class_names: dict[str, str] = field(repr=False)
    _symptom_matcher: SymptomMatcher = field(repr=False, compare=False)
    # no cache keyed by input text: the name index and the prefix index below are built
    # once from the knowledge (issue #12: caches held earlier patients' free texts)
    #: drug id -> its indication rows and their ICD-10 prefixes, groups expanded (one
    #: entry per known drug at most)
    _indication_cache: dict[str, tuple[tuple[Indication, ...], tuple[str, ...]]] = field(
        default_factory=dict, repr=False, compare=False)
    #: clinician-facing names of input fields (knowledge/field_labels.yaml)
    labels: FieldLabels = field(default_factory=FieldLabels)
    #: what is inferred when the record is silent (knowledge/inference.yaml)
    inference: Inference = field(default_factory=Inference)
    #: product names reduced to drug names (knowledge/drug_names.yaml)
    naming: DrugNaming = field(default_factory=DrugNaming)
    #: drugs needing a skin test first, and how records write its result (issue #15)
    skin_tests: tuple[SkinTestRow, ...] = ()
    skin_test_words: tuple[SkinTestWord, ...] = ()
    #: antimicrobial tiers, their levels and what each prescriber title may be granted
    antimicrobial_tiers: tuple[TierRow, ...] = ()
    tier_levels: tuple[TierLevel, ...] = ()
    tier_titles: tuple[TitleGrant, ...] = ()
    #: medicinal products and their ingredients' strengths (knowledge/products/)
    products: dict[str, Product] = field(default_factory=dict)

    @functools.cached_property
    def memo(self) -> dict[str, dict[Any, Any]]:
        """Tables of values worked out from this knowledge alone (a drug's joined fact
        fields, its keys, its limits), filled by :mod:`cdss.derive` on first need: keyed
        by knowledge ids and vocabulary codes, never by an input's free text; each table
        bounded by its user."""
        return {}

    # ---- products --------------------------------------------------------------
    def resolve_product(self, name: str) -> Product | None:
        """The product a prescription names (its name, a brand or another alias, as a
        whole; also without a salt word: "盐酸二甲双胍片"), or None."""
        index = self._product_names
        if not index:
            return None
        key = _norm(name)
        product_id = index.get(key)
        if product_id is None and key.startswith(self.naming.salt_prefixes):
            for prefix in self.naming.salt_prefixes:
                if key.startswith(prefix) and key[len(prefix):] in index:
                    product_id = index[key[len(prefix):]]
                    break
        return self.products.get(product_id) if product_id else None

    def label_drug(self, product: Product) -> Drug | None:
        """``product`` as one drug of its label's limits (None without a label)."""
        return self._label_drugs.get(product.id)

    @functools.cached_property
    def _label_drugs(self) -> dict[str, Drug]:
        return {p.id: d for p in self.products.values()
                if (d := p.label_drug()) is not None}

    @functools.cached_property
    def _product_names(self) -> dict[str, str]:
        """Normalised product name or alias -> product id (checked unique at load)."""
        return {_norm(n): p.id for p in self.products.values() for n in p.names}

    # ---- drugs -----------------------------------------------------------------
    def resolve_drug(self, name: str) -> Drug | None:
        """The drug for an INN, Chinese name, alias or ATC code (case-insensitive)."""
        key = _norm(name)
        drug_id = self._drug_names.get(key)
        if drug_id is None:  # a product name: without its dosage form or salt
            drug_id = next((self._drug_names[k] for k in self.naming.candidates(key)
                            if k in self._drug_names), None)
        return self.drugs.get(drug_id) if drug_id else None

    def drug_names(self) -> list[str]:
        """Every normalised name, alias and ATC code that names a drug."""
        return list(self._drug_names)

    def suggest_drugs(self, name: str, n: int = 3) -> list[str]:
        """Known drugs whose names are closest to ``name``, for "did you mean ...?"."""
        return [drug_id for drug_id, _ in self.closest_drugs(name, n)]

    def closest_drugs(self, name: str, n: int = 3) -> list[tuple[str, float]]:
        """(drug id, similarity 0-1) of the closest names, best first, one per drug.

        Bounded work whatever the input: only names sharing a character bigram with
        ``name`` (:class:`NameIndex`, built once), at most ``NEAR_CANDIDATES`` of them,
        are compared; a name far longer than every known name has no close match.
        """
        key = _norm(name[: 4 * self._name_index.longest])
        matches = self._name_index.close(key, 3 * n)
        best: dict[str, float] = {}
        for m, score in matches:
            drug_id = self._drug_names[m]
            best[drug_id] = max(best.get(drug_id, 0.0), score)
        return sorted(best.items(), key=lambda kv: -kv[1])[:n]

    @functools.cached_property
    def _name_index(self) -> NameIndex:
        return NameIndex(list(self._drug_names))

    @functools.cached_property
    def _group_prefixes(self) -> dict[str, tuple[str, ...]]:
        """ICD-10 prefix -> the condition groups it opens (from the knowledge)."""
        out: dict[str, dict[str, None]] = {}
        for g in self.condition_groups.values():
            for prefix in g.prefixes:
                out.setdefault(prefix, {})[g.id] = None
        return {prefix: tuple(groups) for prefix, groups in out.items()}

    def drug_keys(self, drug: Drug, daily_dose_mg: float | None = None,
                  dose_known: bool = False) -> tuple[str, ...]:
        """The keys a prescription of ``drug`` is known by: its id and ``class:<id>``.

        A dose-dependent class (aspirin as an NSAID) counts when the daily dose is above
        its threshold, or when the daily dose is unknown; ``dose_known`` with no dose
        given (a look-up, not a prescription) leaves such classes out. Prescriptions do
        not use this: their membership is three-valued (``MgDose.above`` in
        :mod:`cdss.derive.prescriptions`, ``rx_key.at_dose``).
        """
        keys = [drug.id, *(CLASS_PREFIX + c for c in drug.classes)]
        for dc in drug.dose_classes:
            if (daily_dose_mg is None and not dose_known) or (
                    daily_dose_mg is not None and daily_dose_mg > dc.above_daily):
                keys.append(CLASS_PREFIX + dc.class_)
        return tuple(keys)

    def all_drug_keys(self, drug: Drug) -> tuple[str, ...]:
        """Every key a drug can have, dose-dependent classes included (for look-up)."""
        return (drug.id, *(CLASS_PREFIX + c for c in drug.classes),
                *(CLASS_PREFIX + dc.class_ for dc in drug.dose_classes))

    def formulation_of(self, text: str | None) -> str | None:
        """The formulation code a drug name or formulation text names, if any."""
        if not text:
            return None
        low = f" {text.strip().lower()} "
        for word, code in self.prescribing.formulations:
            if word in low:
                return code
        return low.strip().replace(" ", "_") if "_" in low else None

    def dose_limit(self, drug: Drug, route: str | None, formulation: str | None = None,
                   unit: str | None = None) -> DoseLimit | None:
        """The adult dose limit for ``route`` (the knowledge's default route when not
        written) and formulation.

        A formulation's own entry wins; the knowledge's modified-release forms stand in
        for each other; otherwise the general entry. A dose in a dosage unit (``unit``
        capsule) takes the entries in that unit where there are some: a product label
        limits its tablets and its capsules in rows of their own (复方氨酚烷胺片/胶囊).
        """
        wanted = route or self.prescribing.default_route
        family = self.prescribing.modified_release
        entries = [d for d in drug.doses if d.route == wanted and d.population == "adult"]
        if unit in get_args(DosageUnit):
            entries = [d for d in entries if d.unit == unit] or entries
        if formulation:
            exact = [d for d in entries if d.formulation == formulation]
            if exact:
                return exact[0]
            if formulation in family:
                stand_in = [d for d in entries if d.formulation in family]
                if stand_in:
                    return stand_in[0]
        general = [d for d in entries if d.formulation is None]
        return general[0] if general else None

    def indication_prefixes(self, drug: Drug) -> tuple[str, ...]:
        """ICD-10 prefixes of the labelled indications of ``drug`` (its rows and its
        classes' rows, groups expanded); empty when the knowledge has no row for it."""
        return self._indications_of(drug)[1]

    def indication_rows(self, drug: Drug) -> tuple[Indication, ...]:
        """The indication rows of ``drug`` and of its classes."""
        return self._indications_of(drug)[0]

    def _indications_of(self, drug: Drug) -> tuple[tuple[Indication, ...], tuple[str, ...]]:
        """Rows and prefixes of ``drug``, worked out once per drug."""
        cached = self._indication_cache.get(drug.id)
        if cached is None:
            keys = set(self.all_drug_keys(drug))
            rows = tuple(row for row in self.indications if row.drug in keys)
            prefixes: dict[str, None] = {}
            for row in rows:
                prefixes.update(dict.fromkeys(row.codes))
                for g in row.groups:
                    prefixes.update(dict.fromkeys(self.condition_groups[g].prefixes))
            cached = self._indication_cache[drug.id] = (rows, tuple(prefixes))
        return cached

    def implied_groups(self, drug: Drug) -> tuple[str, ...]:
        """Condition groups a prescription of ``drug`` is evidence of (through its
        classes, knowledge/implied_conditions.yaml); empty when none."""
        keys = {CLASS_PREFIX + c for c in drug.classes}
        groups = dict.fromkeys(row.group for row in self.implied if row.class_ in keys)
        return tuple(groups)

    # ---- allergies -------------------------------------------------------------
    def allergy_keys(self, substance: str) -> tuple[str, ...]:
        """Keys an allergy to ``substance`` matches: a drug id or a ``class:<id>``."""
        key = _norm(substance)
        for prefix in ("对", "allergic to ", "allergy to "):
            key = key.removeprefix(prefix)
        for suffix in ("过敏史", "过敏", " allergy"):
            key = key.removesuffix(suffix)
        key = key.strip()
        # a class name first: "青霉素过敏" is an allergy to penicillins, although a
        # prescription of "青霉素" means benzylpenicillin
        class_id = self._class_names.get(key)
        if class_id:
            return (CLASS_PREFIX + class_id,)
        drug = self.resolve_drug(key)
        if drug is None:
            return ()
        groups = [CLASS_PREFIX + c for c in drug.classes if self.classes[c].allergy_group]
        return (drug.id, *groups)

    # ---- symptoms --------------------------------------------------------------
    def symptom_keys(self, text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Red-flag keys a free-text symptom names, and the keys it names only negated.

        Terms and site + qualifier compositions per clause, negation and chronic-course
        exclusion as in :mod:`cdss.kb.symptoms` ("无明显诱因出现胸痛" is a chest pain,
        "否认胸痛" is negated, "突发左上肢无力" is a stroke sign, "左下肢麻木3年" is not).
        """
        return self._symptom_matcher.match(text)

    # ---- conditions ------------------------------------------------------------
    def icd10_form_ok(self, code: str) -> bool:
        """Whether ``code`` has the form of an ICD-10 code (not whether it exists)."""
        return self._icd10_form.fullmatch(code.strip()) is not None

    @functools.cached_property
    def _icd10_form(self) -> re.Pattern[str]:
        return re.compile(self.icd10.code_pattern)

    def groups_of(self, code: str) -> tuple[str, ...]:
        """Condition groups an ICD-10 code belongs to (by prefix)."""
        index = self._group_prefixes
        norm = code.strip()[: self._longest_prefix + 1].strip().upper()
        # the known prefixes the code starts with: knowledge strings, never the input's
        # own text, so the answers below can be kept without keeping patient data
        hits = tuple([head for end in range(1, min(len(norm), self._longest_prefix) + 1)
                      if (head := norm[:end]) in index])
        known = self._groups_by_prefixes
        groups = known.get(hits)
        if groups is None:
            found = {g for prefix in hits for g in index[prefix]}
            # in knowledge order, as before
            groups = tuple(g for g in self.condition_groups if g in found)
            known[hits] = groups  # bounded by the knowledge's prefixes
        return groups

    @functools.cached_property
    def _longest_prefix(self) -> int:
        return max(map(len, self._group_prefixes), default=0)

    @functools.cached_property
    def _groups_by_prefixes(self) -> dict[tuple[str, ...], tuple[str, ...]]:
        """:meth:`groups_of` answers already worked out, by the known prefixes matched."""
        return {}

    @property
    def known_keys(self) -> frozenset[str]:
        """Every drug id and ``class:<id>`` key (rules may only name these)."""
        return frozenset(self.drugs) | frozenset(CLASS_PREFIX + c for c in self.classes)


#: names compared in full by the did-you-mean search, at most (those sharing most bigrams)
NEAR_CANDIDATES = 40


class NameIndex:
    """Known names by character bigram, for a bounded "did you mean ...?" search.

    difflib over every name costs about 1 ms a query; here a query is compared only with
    the ``NEAR_CANDIDATES`` names sharing most bigrams with it (a name sharing none,
    such as a three-letter name with its middle letter changed, is not suggested).
    """

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.longest = max(map(len, names), default=1)
        self._by_gram: dict[str, list[int]] = {}
        for i, name in enumerate(names):
            for gram in self._grams(name):
                self._by_gram.setdefault(gram, []).append(i)

    @staticmethod
    def _grams(text: str) -> set[str]:
        padded = f" {text} "
        return {padded[i:i + 2] for i in range(len(padded) - 1)}

    def close(self, key: str, n: int, cutoff: float = 0.6) -> list[tuple[str, float]]:
        """Up to ``n`` (name, similarity) with similarity >= ``cutoff``, best first."""
        if not key or len(key) > 4 * self.longest:
            return []
        shared: dict[int, int] = {}
        for gram in self._grams(key):
            for i in self._by_gram.get(gram, ()):
                shared[i] = shared.get(i, 0) + 1
        ranked = sorted(shared, key=lambda i: (-shared[i], i))[:NEAR_CANDIDATES]
        matcher = difflib.SequenceMatcher()
        matcher.set_seq2(key)
        out = []
        for i in ranked:
            matcher.set_seq1(self.names[i])
            if (matcher.real_quick_ratio() >= cutoff and matcher.quick_ratio() >= cutoff
                    and (score := matcher.ratio()) >= cutoff):
                out.append((score, self.names[i]))
        out.sort(key=lambda x: (-x[0], x[1]))
        return [(name, score) for score, name in out[:n]]


def _files_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.yaml")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class Table:
    """One knowledge table: where it lives, its schema, what is kept and checked.

    ``file`` is relative to the knowledge root; a name ending in ``/`` is a folder whose
    ``*.yaml`` files (sorted) are read and their rows joined.
    """

    #: the :class:`KnowledgeBase` field (and the key of :func:`load_tables`' result)
    name: str
    file: str
    model: type[BaseModel]
    #: the model's field holding the rows; None: the validated table is the one row
    rows: str | None = None
    #: what is kept: the validated table, its rows as a tuple, or rows indexed by ``key``
    keep: Literal["table", "rows", "index"] = "rows"
    #: the row field that identifies a row
    key: str = "id"
    #: refuse two rows with the same ``key``; the words of the error ("duplicate <unique>")
    unique: str | None = None
    #: a missing file is an empty table (otherwise "file not found")
    optional: bool = False
    #: (dotted row field, what it must name: a kind of :func:`_reference_checks`)
    refs: tuple[tuple[str, str], ...] = ()
    #: how an error names a row
    entry: Callable[[Any], str] = operator.attrgetter("id")

    def path(self, root: Path) -> Path:
        return root / self.file.rstrip("/")


#: every knowledge table, each path written once; references are checked in this order
TABLES: tuple[Table, ...] = (
    Table("analytes", "analytes.yaml", AnalyteTable, keep="table"),
    Table("plausibility", "plausibility.yaml", PlausibilityTable, keep="table"),
    Table("classes", "drug_classes/", ClassTable, "classes", "index", unique="class id"),
    Table("drugs", "drugs/", DrugTable, "drugs", "index", unique="drug id",
          refs=(("classes", "class"), ("dose_classes.class_", "class"))),
    Table("interactions", "interactions/", InteractionTable, "interactions",
          unique="interaction id", refs=(("a", "drug"), ("b", "drug"))),
    Table("duplicates", "duplicate_classes/", DuplicateTable, "duplicates",
          unique="row id", refs=(("key", "drug"),)),
    Table("allergy_cross", "allergy_cross/", AllergyCrossTable, "cross_reactions",
          unique="row id", refs=(("allergy", "drug"), ("drug", "drug"))),
    Table("contraindications", "contraindications/", ContraindicationTable,
          "contraindications", unique="row id",
          refs=(("drug", "drug"), ("condition_group", "group"))),
    Table("formulas", "formulas.yaml", FormulaTable, "formulas", "index",
          unique="formula id"),
    Table("condition_groups", "condition_groups/", ConditionGroupTable, "groups",
          "index", unique="group id"),
    Table("icd10", "icd10.yaml", IcdTable, keep="table"),
    Table("prescribing", "prescribing.yaml", PrescribingWords, keep="table"),
    Table("followup", "followup.yaml", FollowupTable, "programmes",
          refs=(("groups", "group"),)),
    Table("implied", "implied_conditions.yaml", ImpliedConditionTable, "implied",
          optional=True, refs=(("class_", "drug class"), ("group", "group")),
          entry=lambda row: f"{row.class_} -> {row.group}"),
    Table("indications", "indications/", IndicationTable, "indications",
          unique="indication id",
          refs=(("drug", "drug"), ("groups", "group"), ("codes", "icd10 prefix"))),
    Table("symptoms", "symptoms.yaml", SymptomLexicon, "symptoms", "table", key="key",
          unique="symptom key", optional=True),
    Table("scores", "scores/", ScoreTable, keep="index"),
    Table("labels", "field_labels.yaml", FieldLabels, keep="table", optional=True),
    Table("inference", "inference.yaml", Inference, keep="table", optional=True,
          refs=(("ckd_risk.groups", "group"),), entry=lambda _: "ckd_risk"),
    Table("naming", "drug_names.yaml", DrugNaming, keep="table", optional=True),
    Table("skin_tests", "skin_test/", SkinTestTable, "skin_tests", optional=True,
          refs=(("drug", "drug"),)),
    Table("skin_test_words", "skin_test/", SkinTestTable, "record_words", optional=True,
          entry=lambda row: row.text),
    Table("antimicrobial_tiers", "antimicrobial_tiers/", TierTable, "tiers", key="drug",
          unique="antimicrobial tier row", optional=True, refs=(("drug", "drug"),),
          entry=lambda row: row.drug),
    Table("tier_levels", "antimicrobial_tiers/", TierTable, "levels", key="tier",
          unique="tier level", optional=True, entry=lambda row: row.tier),
    Table("tier_titles", "antimicrobial_tiers/", TierTable, "titles", key="title",
          unique="prescriber title", optional=True, entry=lambda row: row.title),
    Table("products", "products/", ProductTable, "products", "index", unique="product id",
          optional=True, refs=(("ingredients.drug", "drug id"),
                               ("ingredients.classes", "class"))),
)


def _read_table(root: Path, table: Table) -> tuple[Any, tuple, tuple[Path, ...]]:
    """The validated table (None for a folder), its rows and the file of each row."""
    path = table.path(root)
    files = sorted(path.glob("*.yaml")) if table.file.endswith("/") else [path]
    if table.optional and not path.exists():
        return (table.model() if table.keep == "table" else None), (), ()
    rows: list = []
    origins: list[Path] = []
    validated = None
    for file in files:
        validated = validate(table.model, read_yaml(file), file)
        found = tuple(getattr(validated, table.rows)) if table.rows else (validated,)
        rows.extend(found)
        origins.extend([file] * len(found))
    if table.file.endswith("/"):
        validated = None
    return validated, tuple(rows), tuple(origins)


def _kept(table: Table, validated: Any, rows: tuple, origins: tuple[Path, ...]) -> Any:
    """What :class:`KnowledgeBase` holds of a table, duplicates refused."""
    if table.keep != "index" and not table.unique:
        return validated if table.keep == "table" else rows
    index: dict = {}
    for row, origin in zip(rows, origins, strict=True):
        key = getattr(row, table.key)
        if table.unique and key in index:
            raise KnowledgeError(str(origin), key, f"duplicate {table.unique}")
        index[key] = row
    return {"table": validated, "rows": rows, "index": index}[table.keep]


def load_tables(root: Path) -> dict[str, Any]:
    """Read and validate every table of :data:`TABLES`, then check their references."""
    loaded: dict[str, Any] = {}
    rows: dict[str, tuple] = {}
    origins: dict[str, tuple[Path, ...]] = {}
    for table in TABLES:
        validated, rows[table.name], origins[table.name] = _read_table(root, table)
        loaded[table.name] = _kept(table, validated, rows[table.name], origins[table.name])
    checks = _reference_checks(loaded)
    for table in TABLES:
        for row, origin in zip(rows[table.name], origins[table.name], strict=True):
            for field_path, kind in table.refs:
                for value in _values(row, field_path):
                    problem = checks[kind](value)
                    if problem:
                        raise KnowledgeError(str(origin), table.entry(row), problem)
    return loaded


def _values(row: Any, field_path: str) -> list[str]:
    """The names at a dotted field path of a row (fields may hold one name or a tuple)."""
    values = [row]
    for part in field_path.split("."):
        nxt: list = []
        for v in values:
            got = getattr(v, part)
            if got is None:
                continue
            nxt.extend(got if isinstance(got, tuple) else (got,))
        values = nxt
    return values


def _reference_checks(loaded: dict[str, Any]) -> dict[str, Callable[[str], str | None]]:
    """Kind of reference -> the problem with a value (None when it is fine).

    class: a drug class id; drug class: ``class:<id>``; drug: a drug id or
    ``class:<id>``; drug id: a drug id only (a product's ingredient); group: a condition
    group; icd10 prefix: the form of an ICD-10 prefix.
    """
    classes, groups = loaded["classes"], loaded["condition_groups"]
    keys = frozenset(loaded["drugs"]) | frozenset(CLASS_PREFIX + c for c in classes)

    def drug(key: str) -> str | None:
        if key in keys:
            return None
        hint = difflib.get_close_matches(key, list(keys), n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        return f"unknown drug or class {key!r}{extra}"

    checks: dict[str, Callable[[str], str | None]] = {
        "class": lambda c: None if c in classes else f"unknown class {c!r}",
        "drug class": lambda c: (None if c.removeprefix(CLASS_PREFIX) in classes
                                 else f"unknown drug class {c!r}"),
        "drug": drug,
        "drug id": lambda d: None if d in loaded["drugs"] else f"unknown drug id {d!r}",
        "group": lambda g: None if g in groups else f"unknown condition group {g!r}",
        "icd10 prefix": lambda code: (None if _ICD10_PREFIX.fullmatch(code)
                                      else f"malformed ICD-10 prefix {code!r}"),
    }
    return checks


def _drug_name_index(drugs: dict[str, Drug], root: Path) -> dict[str, str]:
    """Normalised name, alias or ATC code -> drug id; a name naming two drugs is refused."""
    names: dict[str, str] = {}
    for drug in drugs.values():
        for name in (drug.id, drug.name.zh, drug.name.en, *drug.aliases, *drug.atc):
            key = _norm(name)
            other = names.get(key)
            if other is not None and other != drug.id:
                raise KnowledgeError(str(root / "drugs"), drug.id,
                                     f"name {name!r} also names drug {other!r}")
            names[key] = drug.id
    return names


def _check_product_names(products: dict[str, Product], drugs: dict[str, Drug],
                         drug_names: dict[str, str], root: Path) -> None:
    """A product name names one product; a product name that is also a drug's name or
    alias must be a product of that drug alone ("芬必得": ibuprofen)."""
    seen: dict[str, str] = {}
    for product in products.values():
        own = {i.drug for i in product.ingredients}
        for name in product.names:
            key = _norm(name)
            other = seen.get(key)
            if other is not None and other != product.id:
                raise KnowledgeError(str(root / "products"), product.id,
                                     f"name {name!r} also names product {other!r}")
            seen[key] = product.id
            drug_id = drug_names.get(key)
            if drug_id is not None and own != {drug_id}:
                raise KnowledgeError(str(root / "products"), product.id,
                                     f"name {name!r} names drug {drug_id!r}, which is not "
                                     "this product's only ingredient")


def _label_indications(products: dict[str, Product], root: Path) -> tuple[Indication, ...]:
    """An indication row per product label that states one (its drug is the product)."""
    rows = []
    for product in products.values():
        label = product.label
        if label is None or label.indication is None:
            continue
        for code in label.indication_codes:
            if not _ICD10_PREFIX.fullmatch(code):
                raise KnowledgeError(str(root / "products"), product.id,
                                     f"label: malformed ICD-10 prefix {code!r}")
        rows.append(Indication(id=f"product_{product.id}", drug=product.id,
                               text=label.indication, codes=label.indication_codes,
                               source=label.source))
    return tuple(rows)


def _class_name_index(classes: dict[str, DrugClass]) -> dict[str, str]:
    """Normalised name or alias -> class id (the first class wins)."""
    names: dict[str, str] = {}
    for cls in classes.values():
        for name in (cls.id, cls.name.zh, cls.name.en, *cls.aliases):
            names.setdefault(_norm(name), cls.id)
    return names


#: a change of the loaded tables (a site layer's): tables by name -> tables by name
TableEdit = Callable[[dict[str, Any]], dict[str, Any]]


def load_knowledge(root: Path | None = None, *, edit: TableEdit | None = None,
                   tag: str = "") -> KnowledgeBase:
    """Load, validate and cross-check every table under ``root`` (default: bundled).

    ``edit`` changes the validated tables before they are indexed (site layers:
    :mod:`cdss.site`); ``tag`` is appended to the version (``+site:<hash>``).
    """
    root = Path(root) if root else knowledge_dir()
    t = load_tables(root)
    if edit is not None:
        t = edit(t)
    analytes = t.pop("analytes")
    t["products"] = t["products"] or {}
    drug_names = _drug_name_index(t["drugs"], root)
    _check_product_names(t["products"], t["drugs"], drug_names, root)
    t["indications"] = (*t["indications"], *_label_indications(t["products"], root))
    return KnowledgeBase(
        root=root,
        version=f"{analytes.version}+{_files_digest(root)}{tag}",
        analytes={a.code: a for a in analytes.analytes},
        _drug_names=drug_names,
        _class_names=_class_name_index(t["classes"]),
        _symptom_matcher=SymptomMatcher(t["symptoms"]),
        **t,
    )
