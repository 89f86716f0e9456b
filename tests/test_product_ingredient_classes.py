"""An ingredient that is no drug of the knowledge can bring a drug class to its product
(阿片粉 in 复方甘草片: opioid, ATC N02AA02), so duplicate and interaction rows of the class
see the product (session 4; before, 复方甘草片 + 可待因 or + 地西泮 was quiet)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cdss.kb.schema import Product, ProductIngredient

from _encounters import rx, with_rx

LIQUORICE = rx("复方甘草片", "3 片", "tid")


def _ids(report) -> set[str]:
    return {s.rule_id for s in report.suggestions}


@pytest.mark.parametrize(("other", "rule", "fires"), [
    (rx("可待因", "15 mg", "tid"), "dosing.duplicate.dup_opioid", True),
    (rx("右美沙芬", "15 mg", "tid"), "dosing.duplicate.dup_opioid", False),  # no opioid
    (rx("地西泮", "5 mg", "qn"), "dosing.interaction.opioid_benzodiazepine", True),
    (rx("氯雷他定", "10 mg", "qd"), "dosing.interaction.opioid_benzodiazepine", False),
])
def test_the_opium_of_compound_liquorice_is_an_opioid(engine, other, rule, fires) -> None:
    report = engine.check(with_rx(LIQUORICE, other))
    assert (rule in _ids(report)) is fires


def test_the_product_keeps_its_label_checks_alone(engine) -> None:
    report = engine.check(with_rx(LIQUORICE))
    assert not {i for i in _ids(report) if "opioid" in i}


def test_the_label_part_carries_the_class(engine) -> None:
    assert "opioid" in engine.kb.label_drug(
        engine.kb.resolve_product("复方甘草片")).classes


def test_classes_are_only_for_an_unlinked_ingredient_of_a_labelled_product() -> None:
    name = {"zh": "甲", "en": "a"}
    with pytest.raises(ValidationError, match="no drug of the knowledge"):
        ProductIngredient(drug="codeine", name=name, strength=1, classes=("opioid",))
    with pytest.raises(ValidationError, match="need the product's own label"):
        Product(id="p", name=name, dosage_units=("tablet",), ingredients=(
            ProductIngredient(drug=None, name=name, strength=1, classes=("opioid",)),
            ProductIngredient(drug="codeine", name=name, strength=1)),
            source={"title": "t", "verification": "S"})
