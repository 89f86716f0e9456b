"""How much of a prescription mix cdss screens: fully, partly, or not at all.

Run: ``python benchmarks/drug_coverage.py [MIX.yaml] [--knowledge DIR] [--json] [--items]``
(default mix: ``benchmarks/data/prescription_mix.yaml``, whose weights and sources are in
docs/research/prescription-mix.md). The definitions are in docs/knowledge.md,
"Coverage": each item of the mix (a drug name as written, with a usual adult dose,
route and frequency) is put alone on a complete adult encounter, and the facts cdss
derives for it are read:

* **not at all**: the name is no drug and no product of the knowledge (the report says
  "unknown drug, not checked");
* **fully**: every drug the line gives (the drug itself, or each ingredient of the
  product it names) is a drug of the knowledge, and for each of them
  ``dose limit`` (an adult max_single or max_daily for the route, in the unit of the
  dose as converted: a dose in tablets of unknown strength fails it),
  ``pregnancy`` and ``lactation`` (a status, "compatible" included) and ``indication``
  (a labelled-indication row) are known;
* **partly**: known, but at least one of those is missing; the report says which, and
  names an ingredient that is not a drug of the knowledge (人工牛黄) as ``ingredient``.

An ingredient that is no drug of the knowledge counts as checked when its product has its
own label in the knowledge (``label``: limits in dosage units, pregnancy, lactation,
indications): the product is then checked as one more drug, and its four checks are
counted like any drug's (a label without a pregnancy statement leaves the line partial).
An ingredient without a limit of its own (promethazine in 复方利血平片) counts as dose-checked
when its product's label has a limit for the dose's unit: that limit bounds every
ingredient. A children's product whose label doses children only (``label.children``, an
age table: 小儿氨酚黄那敏颗粒) is screened on a child's encounter (5 years, 18 kg, the
table's second band): its dose limit is the table's row, and pregnancy and lactation do
not apply.

Kidney and liver rules, Beers and children's limits are not counted: the knowledge does
not distinguish "no rule needed" from "rule not written" for them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import cdss
from cdss.derive.facts import build_facts

MIX = Path(__file__).resolve().parent / "data" / "prescription_mix.yaml"
#: the checks counted for "fully", each with the rx fact fields that show it was possible
CHECKS = {"dose limit": ("max_daily", "max_single"), "pregnancy": ("pregnancy",),
          "lactation": ("lactation",), "indication": ("indication_codes",)}

#: a complete adult visit: every datum the drug checks read is present
_ENCOUNTER: dict[str, Any] = {
    "id": "coverage", "time": "2026-11-20T09:30:00+08:00", "visit_type": "first",
    "patient": {"id": "p", "sex": "female", "birth_date": "1971-03-15", "pregnant": False,
                "lactating": False, "weight": "60 kg", "height": "160 cm",
                "allergies": [], "allergies_reviewed": True, "conditions": []},
    "vitals": {"sbp": 120, "dbp": 78, "heart_rate": 72, "resp_rate": 16,
               "temperature": "36.6 degC", "spo2": 98, "consciousness": "alert",
               "on_oxygen": False},
    "labs": [{"code": "creatinine", "value": "70 umol/L", "time": "2026-11-01"},
             {"code": "potassium", "value": "4.2 mmol/L", "time": "2026-11-01"},
             {"code": "alt", "value": "20 U/L", "time": "2026-11-01"}],
    "record": {"chief_complaint": "复诊", "diagnoses": [{"code": "Z00.0", "name": "体检"}],
               "physician": "医生", "signed_at": "2026-11-20T09:50:00+08:00"},
}


#: a child's visit, for a product whose label doses children only: the age is inside the
#: second band of 小儿氨酚黄那敏颗粒's table; pregnancy and lactation do not apply
_CHILD_ENCOUNTER: dict[str, Any] = {
    **_ENCOUNTER,
    "patient": {"id": "c", "sex": "female", "birth_date": "2021-05-10", "weight": "18 kg",
                "height": "110 cm", "allergies": [], "allergies_reviewed": True,
                "conditions": []},
    "vitals": {"heart_rate": 96, "resp_rate": 22, "temperature": "36.8 degC", "spo2": 98},
}
#: the checks of a child's line: the label's children's row, and the indication
CHILD_CHECKS = {"dose limit": ("child_max_daily", "child_max_single"),
                "indication": ("indication_codes",)}


@dataclass
class Line:
    """The screening of one item of the mix."""

    name: str
    weight: float
    group: str
    level: str  # "full" | "partial" | "none"
    #: what is missing, per drug the line gives ("amoxicillin: pregnancy")
    lacking: list[str] = field(default_factory=list)


def screen(engine: cdss.Engine, item: dict[str, Any]) -> Line:
    """How fully one item of the mix is screened."""
    rx = {k: item[k] for k in ("dose", "route", "frequency") if item.get(k)}
    product = engine.kb.resolve_product(item["name"])
    child = _for_children_only(product)
    encounter = _CHILD_ENCOUNTER if child else _ENCOUNTER
    enc = dict(encounter, prescriptions=[{"drug": item["name"], **rx, "duration": "5 d"}])
    facts = build_facts(engine.parse(enc), engine.kb)
    line = Line(item["name"], float(item["weight"]), item.get("group", ""), "full")
    drugs = facts.of_type("rx")
    if not drugs or any(not fact.get("known") for fact in drugs):
        line.level = "none"
        return line
    if product is not None and product.label is None:
        line.lacking += [f"ingredient: {i.name.en} is not a drug of the knowledge"
                         for i in product.ingredients if i.drug is None]
    checks = CHILD_CHECKS if child else CHECKS
    label_fact = next((f for f in drugs if product is not None and f["drug"] == product.id),
                      None)
    label_limits = label_fact is not None and any(
        label_fact.get(f) is not None for f in checks["dose limit"])
    for fact in drugs:
        for check, fields in checks.items():
            if check == "dose limit" and label_limits and fact is not label_fact:
                continue  # bounded by the product's own label
            if child and fact is not label_fact and check == "dose limit":
                continue  # the label's children's table bounds every ingredient
            if not any(fact.get(f) is not None for f in fields):
                why = _why(facts, fact, check)
                line.lacking.append(f"{fact['drug']}: {check}{why}")
    if line.lacking:
        line.level = "partial"
    return line


def _for_children_only(product: Any) -> bool:
    """A product whose own label doses children only, by an age table."""
    label = product.label if product is not None else None
    return label is not None and bool(label.children) and not label.doses


def _why(facts: Any, fact: dict[str, Any], check: str) -> str:
    """Why a dose limit could not be compared: a dose that was not converted."""
    if check != "dose limit":
        return ""
    reason = facts.missing.get(f"{facts.paths[fact['id']]}.max_daily", ("",))[0]
    return " (dose not convertible)" if reason.startswith("prescriptions[") else ""


def coverage(mix: dict[str, Any], engine: cdss.Engine) -> dict[str, Any]:
    """The weighted shares of the mix screened fully, partly and not at all, with the
    missing checks by weight and every line."""
    lines = [screen(engine, item) for item in mix["items"]]
    total = sum(line.weight for line in lines) or 1.0
    share = {level: round(100 * sum(x.weight for x in lines if x.level == level) / total, 1)
             for level in ("full", "partial", "none")}
    missing: dict[str, float] = defaultdict(float)
    for line in lines:
        for what in line.lacking:
            key = what.split(": ", 1)[1] if not what.startswith("ingredient") else "ingredient"
            missing[key.split(" (")[0]] += line.weight
    # a looser figure: known, and every drug's dose could be compared with a limit
    dosed = sum(x.weight for x in lines if x.level != "none"
                and not any(": dose limit" in what or what.startswith("ingredient")
                            for what in x.lacking))
    by_group: dict[str, dict[str, float]] = {}
    for line in lines:
        row = by_group.setdefault(line.group or "—", {"weight": 0.0, "full": 0.0,
                                                       "partial": 0.0, "none": 0.0})
        row["weight"] += line.weight
        row[line.level] += line.weight
    return {"knowledge_version": engine.kb.version, "items": len(lines),
            "weight": total, "share_percent": share,
            "by_group_percent": {
                group: {"weight": row["weight"], **{
                    level: round(100 * row[level] / row["weight"], 1)
                    for level in ("full", "partial", "none")}}
                for group, row in sorted(by_group.items(), key=lambda kv: -kv[1]["weight"])},
            "dose_checked_percent": round(100 * dosed / total, 1),
            "missing_by_weight": dict(sorted(missing.items(), key=lambda kv: -kv[1])),
            "lines": [vars(line) for line in lines]}


def _text(result: dict[str, Any], items: bool) -> str:
    s = result["share_percent"]
    out = [f"knowledge {result['knowledge_version']}: {result['items']} items, weight "
           f"{result['weight']:g}",
           f"screened fully {s['full']} %, partly {s['partial']} %, not at all {s['none']} %",
           f"dose checked (known, every drug's dose compared with a limit): "
           f"{result['dose_checked_percent']} %",
           "checks missing (weight of the lines lacking them):"]
    out += [f"  {what}: {weight:g}" for what, weight in result["missing_by_weight"].items()]
    out.append("by group (weight: fully / partly / not at all, %):")
    out += [f"  {group}: {g['weight']:g}: {g['full']} / {g['partial']} / {g['none']}"
            for group, g in result["by_group_percent"].items()]
    if items:
        out.append("lines:")
        out += [f"  {x['level']:8} {x['weight']:>5g}  {x['name']}"
                + (f"  [{'; '.join(x['lacking'])}]" if x["lacking"] else "")
                for x in result["lines"]]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mix", nargs="?", default=str(MIX), help="the mix (YAML)")
    parser.add_argument("--knowledge", default=None, help="a knowledge folder")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--items", action="store_true", help="list every line")
    args = parser.parse_args(argv)
    mix = yaml.safe_load(Path(args.mix).read_text(encoding="utf-8"))
    engine = cdss.Engine(knowledge_dir=args.knowledge, backend="python")
    result = coverage(mix, engine)
    print(json.dumps(result, ensure_ascii=False, indent=1) if args.json
          else _text(result, args.items))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
