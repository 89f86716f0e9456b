"""A product's own label rows (knowledge/products/: ``label_dose``, ``pregnancy``,
``lactation``, ``indications``), tested from the knowledge: every product with a label
dose gets a firing case and a near miss for its units per dose and per day, every label
pregnancy or lactation status and every indication row one each (rules/dosing/product.yaml,
rules/quality/product.yaml). The statuses no shipped product has (contraindicated,
avoid) are tested on an invented, test-only product.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import cdss
from cdss._resources import knowledge_dir

from _encounters import encounter

#: times per day of the frequency words used below
_FREQ = {1: "qd", 2: "bid", 3: "tid", 4: "qid"}


@pytest.fixture(scope="module")
def engine() -> cdss.Engine:
    return cdss.Engine(lang="en")


def _products() -> list[Any]:
    return list(cdss.Engine(lang="en", backend="python").kb.products.values())


PRODUCTS = _products()


def _visit(product: Any, units: float, times: int, **patient: Any) -> dict[str, Any]:
    unit = {"tablet": "片", "capsule": "粒", "sachet": "袋", "pill": "丸",
            "ampoule": "支"}[product.dosage_units[0]]
    codes = product.indications.codes if product.indications else ("Z00.0",)
    return encounter({"patient": patient} if patient else None,
                     record={"diagnoses": [{"code": codes[0], "name": "indication"}]},
                     prescriptions=[{"drug": product.name.zh, "dose": f"{units:g} {unit}",
                                     "route": product.route, "frequency": _FREQ[times],
                                     "duration": "3 d"}])


def _dose_plans() -> Iterator[Any]:
    """(product, rule, firing (units, times), near miss (units, times))."""
    for p in PRODUCTS:
        label = p.label_dose
        if label is None:
            continue
        per_dose, per_day = label.max_units_per_dose, label.max_units_per_day
        if per_dose is not None:
            # over per dose, once a day (within any daily limit of at least that much)
            over = per_dose + 1
            assert per_day is None or over <= per_day, f"{p.id}: plan another firing case"
            yield pytest.param(p, "dosing.product_dose_high.per_dose", (over, 1),
                               (per_dose, 1), id=f"{p.id}-per_dose")
        if per_day is not None:
            unit = per_dose if per_dose is not None else per_day
            times = next(n for n in _FREQ if unit * n > per_day)
            near = next(((per_day / n, n) for n in _FREQ
                         if per_dose is None or per_day / n <= per_dose), None)
            assert near is not None, p.id
            yield pytest.param(p, "dosing.product_dose_high.per_day", (unit, times), near,
                               id=f"{p.id}-per_day")


def _ids(report: Any) -> set[str]:
    return {s.rule_id for s in report.suggestions}


@pytest.mark.parametrize(("product", "rule", "fires", "near"), list(_dose_plans()))
def test_label_dose_fires_above_and_is_silent_at_the_limit(engine, product, rule, fires,
                                                          near) -> None:
    report = engine.check(_visit(product, *fires))
    assert rule in _ids(report), (product.id, fires, _ids(report))
    quiet = engine.check(_visit(product, *near))
    assert not _ids(quiet) & {"dosing.product_dose_high.per_dose",
                              "dosing.product_dose_high.per_day"}, (product.id, near)


def _status_plans() -> Iterator[Any]:
    for p in PRODUCTS:
        for kind in ("pregnancy", "lactation"):
            status = getattr(p, kind)
            if status is not None and status.status != "compatible":
                yield pytest.param(p, kind, status.status, id=f"{p.id}-{kind}")


def _woman(kind: str, on: bool) -> dict[str, Any]:
    return {"sex": "female", "birth_date": "1994-05-01",
            **({"pregnant": on} if kind == "pregnancy" else {"lactating": on,
                                                             "pregnant": False})}


def _label_units(product: Any) -> tuple[float, int]:
    label = product.label_dose
    return (label.max_units_per_dose or 1, 1) if label is not None else (1, 1)


@pytest.mark.parametrize(("product", "kind", "status"), list(_status_plans()))
def test_label_pregnancy_and_lactation(engine, product, kind, status) -> None:
    rule = f"dosing.product_{kind}.{status}"
    units = _label_units(product)
    assert rule in _ids(engine.check(_visit(product, *units, **_woman(kind, True))))
    assert rule not in _ids(engine.check(_visit(product, *units, **_woman(kind, False))))


@pytest.mark.parametrize("product", [p for p in PRODUCTS if p.indications is not None],
                         ids=lambda p: p.id)
def test_label_indications(engine, product) -> None:
    rule = "quality.inconsistent.product_not_indicated"
    units = _label_units(product)
    assert rule not in _ids(engine.check(_visit(product, *units)))
    other = "I10" if not any(c.startswith("I") for c in product.indications.codes) else "R05"
    enc = encounter(_visit(product, *units),
                    record={"diagnoses": [{"code": other, "name": "other"}]})
    assert rule in _ids(engine.check(enc)), product.id


def test_every_label_row_has_a_plan() -> None:
    """Each product with a label dose gets a plan per limit it states."""
    planned = {p.values[0].id for p in _dose_plans()}
    assert planned == {p.id for p in PRODUCTS if p.label_dose is not None}


# ------------------------------------------------------------ test-only product
TEST_PRODUCTS = {"products": [
    {"id": "testproduct_label", "name": {"zh": "测试复方片", "en": "testproduct-label"},
     "dosage_units": ["tablet"],
     "ingredients": [{"drug": None, "name": {"zh": "测试成分", "en": "test ingredient"}}],
     "source": {"title": "test only", "verification": "K"},
     "pregnancy": {"status": "contraindicated", "text": {"zh": "孕妇禁用", "en": "no"},
                   "source": {"title": "test only", "verification": "K"}},
     "lactation": {"status": "contraindicated", "text": {"zh": "哺乳期禁用", "en": "no"},
                   "source": {"title": "test only", "verification": "K"}}},
    {"id": "testproduct_avoid", "name": {"zh": "测试复方片乙", "en": "testproduct-avoid"},
     "dosage_units": ["tablet"],
     "ingredients": [{"drug": None, "name": {"zh": "测试成分", "en": "test ingredient"}}],
     "source": {"title": "test only", "verification": "K"},
     "pregnancy": {"status": "avoid", "text": {"zh": "孕妇避免", "en": "avoid"},
                   "source": {"title": "test only", "verification": "K"}},
     "lactation": {"status": "avoid", "text": {"zh": "哺乳期避免", "en": "avoid"},
                   "source": {"title": "test only", "verification": "K"}}},
]}

#: rule ids proven with a test-only product (no shipped product has these statuses)
COVERED_WITH_TEST_PRODUCTS = (
    "dosing.product_pregnancy.contraindicated", "dosing.product_pregnancy.avoid",
    "dosing.product_lactation.contraindicated", "dosing.product_lactation.avoid")


@pytest.fixture(scope="module")
def test_engine(tmp_path_factory) -> cdss.Engine:
    root = Path(tmp_path_factory.mktemp("kb")) / "knowledge"
    shutil.copytree(knowledge_dir(), root)
    (root / "products" / "zz_test_only.yaml").write_text(
        yaml.safe_dump(TEST_PRODUCTS, allow_unicode=True), encoding="utf-8")
    return cdss.Engine(lang="en", knowledge_dir=root)


@pytest.mark.parametrize("rule", COVERED_WITH_TEST_PRODUCTS)
def test_statuses_no_shipped_product_has(test_engine, rule) -> None:
    kind, status = rule.removeprefix("dosing.product_").split(".")
    name = "测试复方片" if status == "contraindicated" else "测试复方片乙"
    product = next(p for p in test_engine.kb.products.values() if p.name.zh == name)
    assert rule in _ids(test_engine.check(_visit(product, 1, 1, **_woman(kind, True))))
    assert rule not in _ids(test_engine.check(_visit(product, 1, 1, **_woman(kind, False))))


def covered_rule_ids() -> set[str]:
    """The product label rules these tests prove with a firing case and a near miss."""
    ids = {plan.values[1] for plan in _dose_plans()}
    ids |= {f"dosing.product_{p.values[1]}.{p.values[2]}" for p in _status_plans()}
    if any(p.indications is not None for p in PRODUCTS):
        ids.add("quality.inconsistent.product_not_indicated")
    return ids | set(COVERED_WITH_TEST_PRODUCTS)
