"""Template-generated rules, tested once per knowledge row.

The rule files ``rules/dosing/{interactions,duplicate,allergy,contraindication}.yaml``
expand a template once per row of a knowledge table. For every row this module builds,
from the knowledge alone (no engine run):

* a FIRING encounter: the normal adult encounter of ``_encounters.py`` with ordinary
  doses of drugs that carry the row's keys, chosen so that no other row of the same
  ``group`` is predicted to win the finding (within a group the engine keeps the most
  specific row, then the most severe, then the first rule id); the row's rule must fire
  once, with the template's severity, the INN ids in ``drugs`` and evidence naming the
  prescriptions (and the allergy or condition);
* a NEAR MISS: the same first drug (or allergy) with the other half of the row replaced
  by something that does not carry the row's key; the rule must stay silent and must not
  be reported as not evaluated either (silence has to be a decision).

A row that cannot be exercised (no drug of a class in the knowledge, or a more specific
row of the same group always wins) is skipped with a reason naming the row. Rows whose
expected behaviour fails because of a suspected engine or knowledge bug are listed in
``XFAIL`` (strict). :func:`covered_rule_ids` tells ``test_rule_cases.py`` which rules have
both a passing firing case and a passing near-miss case here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import cdss
from cdss._resources import rules_dir
from cdss.kb.base import CLASS_PREFIX, KnowledgeBase, load_knowledge
from cdss.kb.prescribing import bundled_words
from cdss.report import SEVERITY_RANK

from _encounters import encounter, rx

KB: KnowledgeBase = load_knowledge()
FREQUENCIES = bundled_words().frequencies

# ------------------------------------------------------------------ ordinary doses
#: An ordinary adult regimen per drug: (dose, frequency, route). Aspirin has two: the
#: antiplatelet dose (not an NSAID, <= 325 mg/day) and an analgesic dose (an NSAID).
#: ``test_ordinary_doses_are_within_adult_limits`` checks them against the knowledge.
def _load_doses() -> dict[str, list[tuple[str, str, str]]]:
    """Ordinary regimens from ``tests/data/ordinary_doses/*.yaml`` (a drug in one file only)."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    for path in sorted((Path(__file__).parent / "data" / "ordinary_doses").glob("*.yaml")):
        for drug, options in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items():
            assert drug not in out, f"{path.name}: {drug} already has ordinary regimens"
            out[drug] = [tuple(option) for option in options]
    return out


DOSES: dict[str, list[tuple[str, str, str]]] = _load_doses()

#: Drugs tried first for the "something else" half of a near miss, in this order.
PLAIN_DRUGS = ("paracetamol", "amlodipine", "metformin", "omeprazole", "losartan")

_DOSE_RE = re.compile(r"^\s*([0-9.]+)\s*(mg|g|IU)\s*$")


@dataclass(frozen=True)
class Regimen:
    """One prescription of a known drug at an ordinary adult dose."""

    drug: str
    dose: str
    frequency: str
    route: str

    @property
    def amount(self) -> tuple[float, str]:
        m = _DOSE_RE.match(self.dose)
        assert m, f"unparsable dose {self.dose!r}"
        value, unit = float(m.group(1)), m.group(2)
        return (value * 1000, "mg") if unit == "g" else (value, unit)

    @property
    def daily_mg(self) -> float | None:
        value, unit = self.amount
        times = FREQUENCIES[self.frequency]
        return value * times if unit == "mg" and times is not None else None

    def keys(self) -> frozenset[str]:
        """The ``rx_key`` keys of this prescription (dose-dependent classes decided)."""
        return frozenset(KB.drug_keys(KB.drugs[self.drug], self.daily_mg))

    def allergen_keys(self) -> frozenset[str]:
        """The ``rx_allergen`` keys (every key the drug can have)."""
        return frozenset(KB.all_drug_keys(KB.drugs[self.drug]))

    def rx(self) -> dict[str, Any]:
        return rx(self.drug, self.dose, self.frequency, route=self.route)

    def __str__(self) -> str:
        return f"{self.drug} {self.dose} {self.frequency} {self.route}"


def _fallback_regimen(drug_id: str) -> Regimen | None:
    """A regimen for a drug missing from DOSES: a quarter of the daily limit, once daily."""
    drug = KB.drugs[drug_id]
    route = drug.doses[0].route if drug.doses else "oral"
    limit = KB.dose_limit(drug, "oral") or KB.dose_limit(drug, route)
    if limit is None or limit.unit != "mg":
        return None
    route = limit.route
    cap = min(x for x in (limit.max_single, limit.max_daily) if x is not None) \
        if (limit.max_single or limit.max_daily) else None
    amount = limit.min_daily or (cap / 4 if cap else None)
    if amount is None:
        return None
    return Regimen(drug_id, f"{amount:g} mg", "qd", route)


def regimens(drug_id: str) -> list[Regimen]:
    """Ordinary regimens of a drug (the lowest dose first)."""
    if drug_id in DOSES:
        return [Regimen(drug_id, *option) for option in DOSES[drug_id]]
    fallback = _fallback_regimen(drug_id)
    return [fallback] if fallback else []


#: The usual representatives of their classes, tried first when a row names a class
#: (so that "warfarin + an NSAID" is tested with ibuprofen, not analgesic-dose aspirin).
TYPICAL = ("ibuprofen", "diclofenac", "enalapril", "losartan", "amlodipine", "atorvastatin",
           "metoprolol", "hydrochlorothiazide", "omeprazole", "levofloxacin", "azithromycin",
           "prednisone", "diazepam", "glimepiride", "furosemide", "amoxicillin", "cefuroxime",
           "insulin_glargine", "chlorphenamine", "isosorbide_mononitrate")


def _drug_order(drug_id: str) -> tuple[int, bool, str]:
    """Typical drugs first, then oral drugs, then by id (deterministic choices)."""
    opts = regimens(drug_id)
    typical = TYPICAL.index(drug_id) if drug_id in TYPICAL else len(TYPICAL)
    return (typical, not opts or opts[0].route != "oral", drug_id)


ALL_REGIMENS: list[Regimen] = [r for d in sorted(KB.drugs, key=_drug_order) for r in regimens(d)]


def _plain_regimens() -> Iterator[Regimen]:
    """Regimens for near misses: PLAIN_DRUGS first, then every other drug."""
    seen = set()
    for drug_id in PLAIN_DRUGS:
        if drug_id in KB.drugs:
            seen.add(drug_id)
            yield from regimens(drug_id)
    for r in ALL_REGIMENS:
        if r.drug not in seen:
            yield r


# ------------------------------------------------------------------ templates
def _template(file: str) -> dict[str, Any]:
    data = yaml.safe_load((rules_dir() / "dosing" / file).read_text(encoding="utf-8"))
    # the first template: interactions.yaml has a second over the same rows (those with
    # modifying_factors, issue #15) with the same rule id and severity map
    return data["templates"][0]


TEMPLATES = {
    "interactions": _template("interactions.yaml"),
    "duplicates": _template("duplicate.yaml"),
    "allergy_cross": _template("allergy.yaml"),
    "contraindications": _template("contraindication.yaml"),
}


def template_rule_id(table: str, row_id: str) -> str:
    return TEMPLATES[table]["rule"]["id"].replace("{row.id}", row_id)


def template_severity(table: str, row: Any) -> str:
    """The suggestion severity the template gives a row (through its severity_map)."""
    template = TEMPLATES[table]
    severity = template["rule"]["severity"]
    if severity == "{row.severity}":
        return template["severity_map"][row.severity]
    return severity


def _specificity(*keys: str) -> int:
    return sum(k.startswith(CLASS_PREFIX) for k in keys)


def _rank(table: str, row: Any, *keys: str) -> tuple[int, int, str]:
    """The engine's order within a group: fewest class keys, most severe, rule id."""
    return (_specificity(*keys), SEVERITY_RANK[template_severity(table, row)],
            template_rule_id(table, row.id))


# ------------------------------------------------------------------ plans
@dataclass
class Plan:
    """A row's firing encounter and near miss, or why they cannot be built."""

    table: str
    row_id: str
    rule_id: str
    severity: str
    fires: dict[str, Any] | None = None
    fires_desc: str = ""
    drugs: tuple[str, ...] = ()
    #: input paths the evidence must name
    paths: tuple[str, ...] = ()
    near_miss: dict[str, Any] | None = None
    near_miss_desc: str = ""
    skip_fires: str | None = None
    skip_near_miss: str | None = None
    #: an encounter where another row of the group wins: (encounter, winner rule id, what)
    pre_empt: tuple[dict[str, Any], str, str] | None = None

    def pre_empted(self, enc: dict[str, Any], winner: str, desc: str) -> None:
        if self.pre_empt is None:
            self.pre_empt = (enc, winner, desc)


def _interaction_rows(a: frozenset[str], b: frozenset[str]) -> list[Any]:
    return [r for r in KB.interactions
            if (r.a in a and r.b in b) or (r.a in b and r.b in a)]


def _plan_interaction(row: Any) -> Plan:
    table = "interactions"
    plan = Plan(table, row.id, template_rule_id(table, row.id), template_severity(table, row))
    pre_empted: set[str] = set()
    candidates = [(x, y) for x in ALL_REGIMENS if row.a in x.keys()
                  for y in ALL_REGIMENS if row.b in y.keys() and y.drug != x.drug]
    chosen = None
    for first, second in candidates:
        matching = _interaction_rows(first.keys(), second.keys())
        winner = min(matching, key=lambda r: _rank(table, r, r.a, r.b))
        if winner.id != row.id:
            pre_empted.add(winner.id)
            plan.pre_empted(encounter(prescriptions=[first.rx(), second.rx()]),
                            template_rule_id(table, winner.id), f"{first} + {second}")
        elif chosen is None:
            chosen = first
            plan.fires = encounter(prescriptions=[first.rx(), second.rx()])
            plan.fires_desc = f"{first} + {second}"
            plan.drugs = (first.drug, second.drug)
            plan.paths = ("prescriptions[0]", "prescriptions[1]")
    if chosen is None:
        plan.skip_fires = (
            f"interaction row {row.id}: no drug carries {row.a!r} or {row.b!r}"
            if not candidates else
            f"interaction row {row.id}: pre-empted on every pair by {sorted(pre_empted)}")
    first = chosen or (candidates[0][0] if candidates else None)
    if first is not None:
        for other in _plain_regimens():
            if other.drug != first.drug and row.id not in {
                    r.id for r in _interaction_rows(first.keys(), other.keys())}:
                plan.near_miss = encounter(prescriptions=[first.rx(), other.rx()])
                plan.near_miss_desc = f"{first} + {other} (not {row.b})"
                break
    if plan.near_miss is None:
        plan.skip_near_miss = f"interaction row {row.id}: no near miss"
    return plan


def _plan_duplicate(row: Any) -> Plan:
    table = "duplicates"
    plan = Plan(table, row.id, template_rule_id(table, row.id), template_severity(table, row))
    members = [r for r in ALL_REGIMENS if row.key in r.keys()]
    pre_empted: set[str] = set()
    pairs = [(x, y) for x in members for y in members if y.drug != x.drug]
    for first, second in pairs:
        shared = first.keys() & second.keys()
        matching = [d for d in KB.duplicates if d.key in shared]
        winner = min(matching, key=lambda d: _rank(table, d, d.key, d.key))
        if winner.id != row.id:
            pre_empted.add(winner.id)
            plan.pre_empted(encounter(prescriptions=[first.rx(), second.rx()]),
                            template_rule_id(table, winner.id), f"{first} + {second}")
        elif plan.fires is None:
            plan.fires = encounter(prescriptions=[first.rx(), second.rx()])
            plan.fires_desc = f"{first} + {second}"
            plan.drugs = (first.drug, second.drug)
            plan.paths = ("prescriptions[0]", "prescriptions[1]")
    if plan.fires is None:
        plan.skip_fires = (
            f"duplicate row {row.id}: fewer than two drugs of {row.key} in the knowledge"
            if not pairs else
            f"duplicate row {row.id}: pre-empted on every pair by {sorted(pre_empted)}")
    if members:
        first = members[0]
        for other in _plain_regimens():
            if other.drug != first.drug and row.key not in other.keys():
                plan.near_miss = encounter(prescriptions=[first.rx(), other.rx()])
                plan.near_miss_desc = f"{first} + {other} (not {row.key})"
                break
    if plan.near_miss is None:
        plan.skip_near_miss = f"duplicate row {row.id}: no drug of {row.key}"
    return plan


def _substances(key: str) -> list[str]:
    """How a clinician might record an allergy to ``key`` (Chinese name first)."""
    if key.startswith(CLASS_PREFIX):
        cls = KB.classes[key.removeprefix(CLASS_PREFIX)]
        names = [cls.name.zh, *cls.aliases, cls.name.en, cls.id]
    else:
        drug = KB.drugs[key]
        names = [drug.name.zh, drug.name.en, drug.id]
    return [n for n in names if key in KB.allergy_keys(n)]


def _allergy_matches(allergy: frozenset[str], drug: Regimen) -> list[tuple[Any, tuple]]:
    """(row or None for same_drug_or_class, rank) of every allergy rule matching."""
    out: list[tuple[Any, tuple]] = []
    if allergy & drug.allergen_keys():
        out.append((None, (0, SEVERITY_RANK["critical"], "dosing.allergy.same_drug_or_class")))
    for r in KB.allergy_cross:
        if r.allergy in allergy and r.drug in drug.allergen_keys():
            out.append((r, _rank("allergy_cross", r, r.allergy, r.drug)))
    return out


def _allergic(substance: str, *prescriptions: Regimen) -> dict[str, Any]:
    return encounter(patient={"allergies": [{"substance": substance, "reaction": "皮疹"}]},
                     prescriptions=[p.rx() for p in prescriptions])


def _plan_allergy(row: Any) -> Plan:
    table = "allergy_cross"
    plan = Plan(table, row.id, template_rule_id(table, row.id), template_severity(table, row))
    substances = _substances(row.allergy)
    if not substances:
        plan.skip_fires = plan.skip_near_miss = \
            f"allergy row {row.id}: no recorded substance resolves to {row.allergy!r}"
        return plan
    substance = substances[0]
    allergy = frozenset(KB.allergy_keys(substance))
    members = [r for r in ALL_REGIMENS if row.drug in r.allergen_keys()]
    pre_empted: set[str] = set()
    for drug in members:
        winner, _ = min(_allergy_matches(allergy, drug), key=lambda m: m[1])
        if winner is None or winner.id != row.id:
            pre_empted.add("same_drug_or_class" if winner is None else winner.id)
            plan.pre_empted(_allergic(substance, drug),
                            "dosing.allergy.same_drug_or_class" if winner is None else
                            template_rule_id(table, winner.id),
                            f"allergy {substance!r}, {drug}")
        elif plan.fires is None:
            plan.fires = _allergic(substance, drug)
            plan.fires_desc = f"allergy {substance!r}, {drug}"
            plan.drugs = (drug.drug,)
            plan.paths = ("patient.allergies[0]", "prescriptions[0]")
    if plan.fires is None:
        plan.skip_fires = (
            f"allergy row {row.id}: no drug carries {row.drug!r}" if not members else
            f"allergy row {row.id}: pre-empted on every drug by {sorted(pre_empted)}")
    for other in _plain_regimens():
        keys = other.allergen_keys()
        if row.drug not in keys and not allergy & keys:
            plan.near_miss = _allergic(substance, other)
            plan.near_miss_desc = f"allergy {substance!r}, {other} (not {row.drug})"
            break
    else:
        plan.skip_near_miss = f"allergy row {row.id}: no drug outside {row.drug}"
    return plan


#: A realistic code (and name) for each condition group; groups not listed here get a
#: code built from their first prefix.
CONDITION_CODES: dict[str, tuple[str, str]] = {
    "hypertension": ("I10", "高血压"),
    "diabetes": ("E11.9", "2型糖尿病"),
    "type2_diabetes": ("E11.9", "2型糖尿病"),
    "pregnancy": ("O26.9", "妊娠相关情况"),
    "liver_disease": ("B18.1", "慢性乙型病毒性肝炎"),
    "cirrhosis": ("K74.6", "肝硬化"),
    "ckd": ("N18.3", "慢性肾脏病3期"),
    "ckd_stage4_5": ("N18.4", "慢性肾脏病4期"),
    "asthma": ("J45.9", "支气管哮喘"),
    "gi_bleeding_or_ulcer": ("K25.9", "胃溃疡"),
    "heart_failure": ("I50.9", "心力衰竭"),
    "av_block_or_bradycardia": ("I44.1", "二度房室传导阻滞"),
    "angioedema": ("T78.3", "血管神经性水肿"),
    "hyperkalaemia": ("E87.5", "高钾血症"),
    "gout": ("M10.9", "痛风"),
    "myasthenia_gravis": ("G70.0", "重症肌无力"),
    "dementia_or_delirium": ("F03", "痴呆"),
    "falls_history": ("Z91.81", "跌倒史"),
}

#: Data consistent with the condition (so the encounter stays realistic).
CONDITION_CONTEXT: dict[str, dict[str, Any]] = {
    "ckd_stage4_5": {"labs": [
        {"code": "creatinine", "value": "280 umol/L", "time": "2026-11-01"},
        {"code": "potassium", "value": "4.8 mmol/L", "time": "2026-11-01"}]},
    "hyperkalaemia": {"labs": [
        {"code": "creatinine", "value": "80 umol/L", "time": "2026-11-01"},
        {"code": "potassium", "value": "5.8 mmol/L", "time": "2026-11-01"}]},
    "pregnancy": {"patient": {"sex": "female", "birth_date": "1994-05-01", "pregnant": True}},
}

#: The near miss's diagnosis: an acute upper respiratory infection.
OUTSIDE_CODE = ("J06.9", "急性上呼吸道感染")


def condition_code(group: str) -> tuple[str, str]:
    if group in CONDITION_CODES:
        return CONDITION_CODES[group]
    prefix = KB.condition_groups[group].prefixes[0]
    code = prefix if "." in prefix or len(prefix) > 3 else f"{prefix}.9"
    return code, KB.condition_groups[group].name.zh


def _plan_contraindication(row: Any) -> Plan:
    table = "contraindications"
    plan = Plan(table, row.id, template_rule_id(table, row.id), template_severity(table, row))
    code, name = condition_code(row.condition_group)
    groups = KB.groups_of(code)
    assert row.condition_group in groups, f"{code} is not in {row.condition_group}"
    members = [r for r in ALL_REGIMENS if row.drug in r.keys()]
    context = CONDITION_CONTEXT.get(row.condition_group, {})
    pre_empted: set[str] = set()
    chosen = None
    conditions = {"conditions": [{"code": code, "name": name}]}
    for drug in members:
        matching = [c for c in KB.contraindications
                    if c.drug in drug.keys() and c.condition_group in groups]
        winner = min(matching, key=lambda c: _rank(table, c, c.drug))
        if winner.id != row.id:
            pre_empted.add(winner.id)
            plan.pre_empted(encounter(context, patient=conditions, prescriptions=[drug.rx()]),
                            template_rule_id(table, winner.id), f"{drug}, condition {code}")
        elif chosen is None:
            chosen = drug
            plan.fires = encounter(context, patient=conditions, prescriptions=[drug.rx()])
            plan.fires_desc = f"{drug}, condition {code} {name}"
            plan.drugs = (drug.drug,)
            plan.paths = ("prescriptions[0]", "patient.conditions[0]")
    if chosen is None:
        plan.skip_fires = (
            f"contraindication row {row.id}: no drug carries {row.drug!r}" if not members else
            f"contraindication row {row.id}: pre-empted on every drug by {sorted(pre_empted)}")
    first = chosen or (members[0] if members else None)
    outside, outside_name = OUTSIDE_CODE
    if first is None or row.condition_group in KB.groups_of(outside):
        plan.skip_near_miss = f"contraindication row {row.id}: no near miss"
    else:
        diagnoses = [{"code": outside, "name": outside_name}]
        plan.near_miss = encounter(record={"diagnoses": diagnoses}, prescriptions=[first.rx()])
        plan.near_miss_desc = f"{first}, diagnosis {outside} (not {row.condition_group})"
    return plan


PLANNERS: dict[str, Callable[[Any], Plan]] = {
    "interactions": _plan_interaction,
    "duplicates": _plan_duplicate,
    "allergy_cross": _plan_allergy,
    "contraindications": _plan_contraindication,
}


def _rows(table: str) -> Iterable[Any]:
    return getattr(KB, table)


PLANS: list[Plan] = [PLANNERS[t](row) for t in PLANNERS for row in _rows(t)]

#: rule id -> (which case, reason): suspected bugs in the engine or the knowledge; the
#: case must fail (strict) and the rule does not count as covered.
XFAIL: dict[str, tuple[str, str]] = {}


def covered_rule_ids() -> set[str]:
    """Rules with a passing firing case AND a passing near-miss case in this module."""
    return {p.rule_id for p in PLANS
            if p.fires is not None and p.near_miss is not None
            and not p.skip_fires and not p.skip_near_miss and p.rule_id not in XFAIL}


#: Rows no encounter can make fire with the current knowledge (rule id -> why). Kept
#: explicit so that a knowledge change that makes one reachable (or unreachable) fails
#: ``test_unexercisable_rows_are_the_documented_ones``.
UNEXERCISABLE: dict[str, str] = {
    # (dup_anticoagulant became reachable when cardio added the DOACs and heparins)
}


def unexercisable_rule_ids() -> dict[str, str]:
    """Template rules whose row cannot fire with this knowledge (rule id -> skip reason)."""
    return {p.rule_id: p.skip_fires for p in PLANS if p.skip_fires}


def _params(which: str) -> list[Any]:
    out = []
    for plan in PLANS:
        marks = []
        xfail = XFAIL.get(plan.rule_id)
        if xfail and xfail[0] in (which, "both"):
            marks.append(pytest.mark.xfail(reason=xfail[1], strict=True))
        out.append(pytest.param(plan, id=plan.rule_id, marks=marks))
    return out


def _describe(report: Any) -> str:
    lines = [f"{s.rule_id} [{s.severity}] {s.drugs} {s.text('title', 'en')}"
             for s in report.suggestions]
    lines += [f"not evaluated: {n.rule_id} {list(n.missing)}" for n in report.not_evaluated]
    return "\n  ".join(["report:", *lines]) if lines else "report: no suggestions"


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("plan", _params("fires"))
def test_row_rule_fires(engine_en: cdss.Engine, plan: Plan) -> None:
    if plan.skip_fires:
        pytest.skip(plan.skip_fires)
    assert plan.fires is not None
    report = engine_en.check(plan.fires)
    detail = f"{plan.fires_desc}\n{_describe(report)}"
    matching = [s for s in report.suggestions if s.rule_id == plan.rule_id]
    assert len(matching) == 1, f"{plan.rule_id} fired {len(matching)} times on {detail}"
    (s,) = matching
    assert s.severity == plan.severity, detail
    assert sorted(s.drugs) == sorted(plan.drugs), f"drugs {s.drugs}; {detail}"
    assert s.evidence, f"{plan.rule_id} has no evidence"
    fields = [str(e.get("field", "")) for e in s.evidence]
    for path in plan.paths:
        assert any(f == path or f.startswith(path + ".") for f in fields), \
            f"evidence does not name {path}: {s.evidence}"
    for lang in ("zh", "en"):
        for part in ("title", "message", "recommendation"):
            text = s.text(part, lang)
            assert text and "{" not in text, f"unfilled {lang} {part}: {text!r}"
    assert s.references and all(r.get("title") for r in s.references), s.references


@pytest.mark.parametrize("plan", _params("near_miss"))
def test_row_rule_near_miss_is_silent(engine_en: cdss.Engine, plan: Plan) -> None:
    if plan.skip_near_miss:
        pytest.skip(plan.skip_near_miss)
    assert plan.near_miss is not None
    report = engine_en.check(plan.near_miss)
    detail = f"{plan.near_miss_desc}\n{_describe(report)}"
    assert plan.rule_id not in {s.rule_id for s in report.suggestions}, \
        f"{plan.rule_id} fired on a near miss: {detail}"
    assert plan.rule_id not in {n.rule_id for n in report.not_evaluated}, \
        f"{plan.rule_id} was not evaluated on the near miss: {detail}"


PRE_EMPTED = [p for p in PLANS if p.pre_empt is not None]


@pytest.mark.parametrize("plan", [pytest.param(p, id=p.rule_id) for p in PRE_EMPTED])
def test_more_specific_row_of_the_group_wins(engine_en: cdss.Engine, plan: Plan) -> None:
    """Where another row is predicted to win (more specific, then more severe), it does."""
    assert plan.pre_empt is not None
    enc, winner, desc = plan.pre_empt
    report = engine_en.check(enc)
    fired = {s.rule_id for s in report.suggestions}
    detail = f"{desc}\n{_describe(report)}"
    assert winner in fired, f"{winner} should report the finding: {detail}"
    assert plan.rule_id not in fired, f"{plan.rule_id} should give way to {winner}: {detail}"


def test_every_template_rule_has_a_plan(engine_en: cdss.Engine) -> None:
    """Each knowledge row is a rule of the engine, and each template rule has a row here."""
    engine_ids = {r.id for r in engine_en.rules}
    planned = {p.rule_id for p in PLANS}
    assert not planned - engine_ids, f"rows without a rule: {sorted(planned - engine_ids)}"
    prefixes = tuple(TEMPLATES[t]["rule"]["id"].split("{")[0] for t in TEMPLATES)
    non_template = {"dosing.duplicate.same_drug", "dosing.allergy.same_drug_or_class",
                    # context-dependent interactions (rules/dosing/interaction_modifiers.yaml,
                    # cases in tests/cases/sparse_fixes.yaml), not rows of the table
                    "dosing.interaction.acei_potassium_hyperkalaemia",
                    "dosing.interaction.arb_potassium_hyperkalaemia",
                    # (cases in tests/cases/dosing_modules.yaml)
                    "dosing.interaction.atorvastatin_clarithromycin_above_cap"}
    generated = {i for i in engine_ids if i.startswith(prefixes)} - non_template
    assert not generated - planned, f"template rules without a row: {generated - planned}"


def test_ordinary_doses_are_within_adult_limits() -> None:
    """The doses used above are ordinary: within the knowledge's adult limits."""
    problems = []
    for drug_id in sorted(KB.drugs):
        options = regimens(drug_id)
        if not options:
            problems.append(f"{drug_id}: no ordinary regimen")
        for r in options:
            drug = KB.drugs[drug_id]
            assert r.route in {d.route for d in drug.doses} or not drug.doses, str(r)
            limit = KB.dose_limit(drug, r.route)
            value, unit = r.amount
            times = FREQUENCIES[r.frequency] or 1
            if limit is None or limit.unit != unit:
                continue
            if limit.max_single is not None and value > limit.max_single:
                problems.append(f"{r}: single dose above {limit.max_single}")
            if limit.max_daily is not None and value * times > limit.max_daily:
                problems.append(f"{r}: daily dose above {limit.max_daily}")
            if limit.max_times_per_day is not None and times > limit.max_times_per_day:
                problems.append(f"{r}: more than {limit.max_times_per_day} times a day")
    assert not problems, problems


def test_aspirin_regimens_straddle_the_nsaid_threshold() -> None:
    low, high = regimens("aspirin")
    assert "class:nsaid" not in low.keys()
    assert "class:nsaid" in high.keys()


def test_coverage_helper_counts_only_complete_rows() -> None:
    covered = covered_rule_ids()
    assert covered, "no knowledge row is covered"
    for plan in PLANS:
        if plan.skip_fires or plan.skip_near_miss or plan.rule_id in XFAIL:
            assert plan.rule_id not in covered


def test_unexercisable_rows_are_the_documented_ones() -> None:
    found = unexercisable_rule_ids()
    assert set(found) == set(UNEXERCISABLE), found
