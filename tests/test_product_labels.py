"""Every row of every product's own label (knowledge/products/, ``label``) fires, and its
near miss does not: tests generated from the knowledge, as tests/test_knowledge_rules.py
does for the drugs' rows (issue #15)."""

from __future__ import annotations

from typing import Any

import pytest

import cdss
from cdss.kb import load_knowledge

from _encounters import encounter

KB = load_knowledge()
LABELLED = [p for p in KB.products.values() if p.label is not None]
WORD = {"tablet": "片", "capsule": "粒", "sachet": "袋", "ampoule": "支", "pill": "丸"}


@pytest.fixture(scope="module")
def engine() -> cdss.Engine:
    return cdss.Engine(backend="python")


def _fired(engine: cdss.Engine, product: Any, dose: float, unit: str, frequency: str,
           **patient: Any) -> dict[str, set[str]]:
    enc = encounter({"patient": patient} if patient else {}, prescriptions=[
        {"drug": product.name.zh, "dose": f"{dose:g} {WORD[unit]}", "route": "oral",
         "frequency": frequency, "duration": "3 d"}])
    out: dict[str, set[str]] = {}
    for s in engine.check(enc).suggestions:
        out.setdefault(s.rule_id, set()).update(s.drugs)
    return out


def test_some_products_carry_their_own_label() -> None:
    assert {"compound_liquorice_tablets", "compound_paracetamol_amantadine"} <= {
        p.id for p in LABELLED}


@pytest.mark.parametrize("product", [p for p in LABELLED
                                     if any(d.max_single for d in p.label.doses)],
                         ids=lambda p: p.id)
def test_a_label_single_dose_fires_above_and_not_at_it(engine, product) -> None:
    limit = next(d for d in product.label.doses if d.max_single)
    above = _fired(engine, product, limit.max_single + 1, limit.unit, "qd")
    # one card per prescription: the label's, or an ingredient's found at the same dose
    assert "dosing.dose_high.max_single" in above
    at = _fired(engine, product, limit.max_single, limit.unit, "qd")
    assert "dosing.dose_high.max_single" not in at


@pytest.mark.parametrize("product", [p for p in LABELLED
                                     if any(d.max_daily and d.max_single
                                            for d in p.label.doses)],
                         ids=lambda p: p.id)
def test_a_label_daily_dose_fires_above_and_not_at_it(engine, product) -> None:
    limit = next(d for d in product.label.doses if d.max_daily and d.max_single)
    times = {1: "qd", 2: "bid", 3: "tid", 4: "qid"}
    n = round(limit.max_daily / limit.max_single)
    if n + 1 not in times:
        pytest.skip("no frequency word for one more administration")
    above = _fired(engine, product, limit.max_single, limit.unit, times[n + 1])
    assert "dosing.dose_high.max_daily" in above
    at = _fired(engine, product, limit.max_single, limit.unit, times[n])
    assert "dosing.dose_high.max_daily" not in at


PREGNANCY_RULE = {"contraindicated": "dosing.pregnancy.contraindicated",
                  "avoid": "dosing.pregnancy.avoid", "caution": "dosing.pregnancy.caution"}


@pytest.mark.parametrize("product", [p for p in LABELLED if p.label.pregnancy is not None
                                     and p.label.pregnancy.status in PREGNANCY_RULE],
                         ids=lambda p: p.id)
def test_a_label_pregnancy_row_fires_in_pregnancy_only(engine, product) -> None:
    unit = product.dosage_units[0]
    rule = PREGNANCY_RULE[product.label.pregnancy.status]
    woman = {"sex": "female", "birth_date": "1996-02-01"}
    assert rule in _fired(engine, product, 1, unit, "qd", pregnant=True, **woman)
    assert rule not in _fired(engine, product, 1, unit, "qd", pregnant=False, **woman)


def test_a_label_names_only_units_its_product_is_dosed_in() -> None:
    for product in LABELLED:
        assert all(d.unit in product.dosage_units for d in product.label.doses)
        assert product.label.source.verification in ("V", "S")


CHILD_BANDS = [(p, b) for p in LABELLED for b in p.label.children]


def _child(age: int, weight: float = 20) -> dict[str, Any]:
    """A child of ``age`` completed years at the normal encounter's visit (2026-11-20),
    of ``weight`` kg (a row's own weight: an ingredient's mg/kg row, paracetamol's, is
    then within, and its card does not stand for the table's in the same group)."""
    return {"birth_date": f"{2026 - age}-05-01", "weight": f"{weight:g} kg",
            "height": "110 cm"}


def test_some_products_carry_a_childrens_table() -> None:
    assert "pediatric_paracetamol_bezoar_chlorphenamine_granules" in {
        p.id for p, _ in CHILD_BANDS}


@pytest.mark.parametrize(("product", "band"), CHILD_BANDS,
                         ids=lambda x: getattr(x, "id", None) or x.band_text("en"))
@pytest.mark.parametrize("age_at", ["min", "max"])
def test_a_childrens_row_fires_above_its_dose_and_not_at_it(engine, product, band,
                                                            age_at) -> None:
    """Every row of a children's table, at both ends of its ages: one dosage unit more
    than its single most fires (the day still within), its single most does not; one
    administration a day more than its daily most fires, its daily most does not."""
    age = band.min_age_years if age_at == "min" else band.max_age_years
    child = _child(age, band.max_weight_kg or 20)
    over = band.max_single + 0.5
    assert over <= band.max_daily
    assert "dosing.product_child.max_single" in _fired(
        engine, product, over, band.unit, "qd", **child)
    assert "dosing.product_child.max_single" not in _fired(
        engine, product, band.max_single, band.unit, "qd", **child)
    times = {1: "qd", 2: "bid", 3: "tid", 4: "qid"}
    n = round(band.max_daily / band.max_single)
    assert n * band.max_single == band.max_daily and n + 1 in times
    assert "dosing.product_child.max_daily" in _fired(
        engine, product, band.max_single, band.unit, times[n + 1], **child)
    at = _fired(engine, product, band.max_single, band.unit, times[n], **child)
    assert not {"dosing.product_child.max_daily", "dosing.product_child.max_single"} & set(at)


def test_a_childrens_table_is_not_applied_outside_its_ages(engine) -> None:
    """An adult, or a child older than the table's rows, is not held to it (not
    evaluated: the label doses neither)."""
    product = next(p for p, _ in CHILD_BANDS)
    top = max(b.max_age_years for b in product.label.children)
    for who in ({}, _child(top + 1)):
        fired = _fired(engine, product, 5, product.dosage_units[0], "tid", **who)
        assert not {"dosing.product_child.max_daily",
                    "dosing.product_child.max_single"} & set(fired)


def test_a_childrens_table_is_sourced_and_in_the_products_units() -> None:
    for product, band in CHILD_BANDS:
        assert band.unit in product.dosage_units
        assert band.source.verification in ("V", "S") and band.source.note
