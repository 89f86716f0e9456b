"""Knowledge look-up (知识检索): any name, a question, a near spelling; monographs."""

from __future__ import annotations

import json

import pytest

import cdss
from cdss.cli import main
from cdss.lookup import read_context


@pytest.mark.parametrize(("query", "drug_id"), [
    ("格华止", "metformin"),
    ("metformin", "metformin"),
    ("A10BA02", "metformin"),
    ("what is the dose of 格华止 in a 78-year-old with eGFR 40?", "metformin"),
    ("络活喜怎么吃", "amlodipine"),
    ("Amlodipine 5 mg", "amlodipine"),
    ("amlodipinee", "amlodipine"),        # near spelling with one candidate
])
def test_finds_the_drug(engine, query, drug_id) -> None:
    result = engine.lookup(query)
    assert result and result.monographs[0].drug.id == drug_id


def test_reads_patient_context_from_the_question() -> None:
    assert read_context("what is the dose of 格华止 in a 78-year-old with eGFR 40?") == {
        "age": 78, "egfr": 40}
    assert read_context("80岁 肌酐清除率 25 体重 50 kg") == {"age": 80, "crcl": 25,
                                                          "weight": 50}


def test_monograph_marks_the_renal_rules_the_context_meets(engine) -> None:
    mono = engine.lookup("格华止 eGFR 40", lang="en").monographs[0]
    data = mono.to_dict("en")
    assert data["renal"], "metformin has renal rules in the knowledge"
    applies = {r["below"]: r["applies_to_context"] for r in data["renal"]}
    assert applies[45] is True and applies[30] is False
    assert "◀" in mono.to_text("en")
    for section in ("doses", "renal"):
        assert all(x["source"]["verification"] for x in data[section])


def test_monograph_lists_interactions_and_rules_using_the_drug(engine) -> None:
    data = engine.lookup("warfarin", lang="en").monographs[0].to_dict("en")
    assert any(i["with"] == "non-steroidal anti-inflammatory drugs" for i in data["interactions"])
    assert "dosing.interaction.warfarin_nsaid" in data["rules"]


def test_nothing_found_offers_close_names(engine) -> None:
    result = engine.lookup("amoxicilin or amlodipin")
    assert not result or result.monographs
    empty = engine.lookup("zzzz")
    assert not empty and "zzzz" in empty.to_text()


def test_html_and_module_level_lookup() -> None:
    html = cdss.lookup("阿莫西林")._repr_html_()
    assert "<h4>" in html and "amoxicillin" in html


def test_kb_command(capsys) -> None:
    assert main(["kb", "格华止", "--format", "json", "--lang", "en"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["results"][0]["id"] == "metformin"
    assert main(["kb", "zzzz"]) == 4


def test_diagnoses_are_looked_up_by_code_or_group_name(engine) -> None:
    result = engine.lookup("I10", lang="en")
    (entry,) = result.conditions
    assert entry.groups == ("hypertension",)
    assert "diagnosis.hypertension.urgent_referral" in entry.rules
    pneumonia = engine.lookup("肺炎").conditions
    assert pneumonia and "diagnosis.pneumonia.crb65_high" in pneumonia[0].rules
    assert "diabetes" in engine.lookup("E11.9").conditions[0].groups


def test_a_product_is_looked_up_with_its_ingredients() -> None:
    """`cdss kb 新康泰克`: the product, its ingredients with strengths, and each checked
    ingredient's monograph; a product with its own label shows its limits."""
    import cdss

    engine = cdss.Engine(backend="python")
    found = engine.lookup("新康泰克", lang="zh")
    assert found and [p.product.id for p in found.products] == [
        "compound_pseudoephedrine_sr_capsules"]
    assert [m.drug.id for m in found.monographs] == ["pseudoephedrine", "chlorphenamine"]
    text = found.to_text()
    assert "盐酸伪麻黄碱 90 mg/粒" in text and "ingredient of" in text
    as_json = found.to_dict()
    assert as_json["products"][0]["ingredients"][0] == {
        "drug": "pseudoephedrine", "name": "盐酸伪麻黄碱", "strength": 90.0, "unit": "mg",
        "checked": True}
    liquorice = engine.lookup("复方甘草片一次几片", lang="en")
    assert liquorice.products[0].product.id == "compound_liquorice_tablets"
    assert not liquorice.monographs  # none of its ingredients is a drug of the knowledge
    assert "label limit: single ≤ 4 tablet, daily ≤ 12 tablet" in liquorice.to_text()
    # a children's product shows its label's age table (helper prod, #15)
    child = engine.lookup("小儿氨酚黄那敏颗粒", lang="zh")
    assert "儿童 4~6岁（16~21 kg）: 单次 ≤ 1.5 袋, 每日 ≤ 4.5 袋" in child.to_text()
    assert child.to_dict()["products"][0]["label"]["children"][0] == {
        "ages": [1, 3], "unit": "sachet", "max_single": 1.0, "max_daily": 3.0}
    # a drug's own name is not a product: the drug's monograph, no products key
    plain = engine.lookup("阿莫西林", lang="zh")
    assert not plain.products and "products" not in plain.to_dict()
