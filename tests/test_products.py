"""Products (knowledge/products/): loading and references, doses in dosage units,
decomposition into ingredients, the total daily dose, and a property: a product written
in dosage units gives the same suggestions as its ingredients written separately in mg.
"""

from __future__ import annotations

import shutil
import sys
import typing
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cdss
from cdss import units
from cdss.derive.facts import build_facts
from cdss.errors import KnowledgeError
from cdss.kb import load_knowledge
from cdss.kb.schema import DosageUnit, Product
from cdss.models.prescription import DoseUnit

from _encounters import encounter

KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"


@pytest.fixture(scope="module")
def engine() -> cdss.Engine:
    return cdss.Engine(lang="en", backend="python")


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


def check(engine: cdss.Engine, *prescriptions: dict, **overrides) -> cdss.Report:
    return engine.check(encounter({"prescriptions": list(prescriptions), **overrides}))


# ---------------------------------------------------------------- knowledge
def test_products_load_with_sourced_strengths(kb) -> None:
    assert len(kb.products) >= 10
    for product in kb.products.values():
        assert product.source.verification in ("V", "S", "K")
        for ingredient in product.ingredients:
            assert ingredient.drug is None or ingredient.drug in kb.drugs
        if product.ambiguous is None:
            assert all(i.strength for i in product.ingredients if i.drug), product.id


def test_every_product_name_resolves_to_its_product(kb) -> None:
    for product in kb.products.values():
        for name in product.names:
            assert kb.resolve_product(name) is product, name
    assert kb.resolve_product("盐酸二甲双胍片").id == "metformin_tablets"
    assert kb.resolve_product("氨氯地平") is None


def _copy_knowledge(tmp_path: Path) -> Path:
    root = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, root)
    return root


def _product_file(root: Path, rows: list[dict]) -> None:
    (root / "products" / "zz_test.yaml").write_text(
        yaml.safe_dump({"products": rows}, allow_unicode=True), encoding="utf-8")


_ROW = {"id": "test_product", "name": {"zh": "测试片", "en": "Test Tablets"},
        "dosage_units": ["tablet"],
        "ingredients": [{"drug": "amlodipine", "name": {"zh": "氨氯地平", "en": "amlodipine"},
                         "strength": 5, "unit": "mg"}],
        "source": {"title": "test", "verification": "K"}}


def test_an_unknown_ingredient_id_is_refused_at_load(tmp_path: Path) -> None:
    root = _copy_knowledge(tmp_path)
    row = yaml.safe_load(yaml.safe_dump(_ROW))
    row["ingredients"][0]["drug"] = "amlodipinee"
    _product_file(root, [row])
    with pytest.raises(KnowledgeError, match="unknown drug id 'amlodipinee'"):
        load_knowledge(root)


def test_a_product_name_naming_another_drug_is_refused(tmp_path: Path) -> None:
    root = _copy_knowledge(tmp_path)
    row = yaml.safe_load(yaml.safe_dump(_ROW))
    row["aliases"] = ["缬沙坦"]  # names valsartan, not this product's ingredient
    _product_file(root, [row])
    with pytest.raises(KnowledgeError, match="names drug 'valsartan'"):
        load_knowledge(root)


def test_a_strength_is_stated_or_the_product_says_why_not() -> None:
    row = yaml.safe_load(yaml.safe_dump(_ROW))
    del row["ingredients"][0]["strength"]
    with pytest.raises(ValueError, match="ambiguous"):
        Product.model_validate(row)
    row["ambiguous"] = {"zh": "多种规格", "en": "several strengths"}
    assert Product.model_validate(row).ambiguous is not None


# ---------------------------------------------------------------- dosage units
def test_the_dosage_unit_codes_agree() -> None:
    assert set(typing.get_args(DosageUnit)) == set(units.DOSAGE_UNITS)
    assert set(typing.get_args(DoseUnit)) == {"mg", "mL", "IU", *units.DOSAGE_UNITS}
    words = load_knowledge().prescribing
    assert set(words.dosage_units.values()) <= set(units.DOSAGE_UNITS)


@pytest.mark.parametrize(("raw", "value", "unit"), [
    ("1 片", 1, "tablet"), ("2粒", 2, "capsule"), ("1 袋", 1, "sachet"), ("1 支", 1, "ampoule"),
    ("1 tablet", 1, "tablet"), ("2 capsules", 2, "capsule"), ("1 sachet", 1, "sachet"),
    ("1 Tablet", 1, "tablet"), ("0.5 片", 0.5, "tablet"), ({"value": 1, "unit": "包"}, 1, "sachet"),
    ("5 mg", 5, "mg"), ("0.5 g", 500, "mg"),
])
def test_doses_in_dosage_units_are_accepted(raw, value, unit) -> None:
    enc = cdss.Encounter.parse(encounter({"prescriptions": [{"drug": "x", "dose": raw}]}))
    dose = enc.prescriptions[0].dose
    assert (dose.value, dose.unit) == (value, unit)


@pytest.mark.parametrize("raw", ["2 瓶", "0 片", "-1 片", "1 片片"])
def test_other_counts_are_still_input_errors(raw) -> None:
    with pytest.raises(cdss.InputError, match=r"prescriptions\[0\]\.dose"):
        cdss.Encounter.parse(encounter({"prescriptions": [{"drug": "x", "dose": raw}]}))


def test_a_drug_in_tablets_without_a_known_strength_is_a_stated_unchecked_dose(engine) -> None:
    for name in ("格华止", "二甲双胍片"):  # a drug (brand); a product of several strengths
        report = check(engine, {"drug": name, "dose": "2 片", "frequency": "tid",
                                "duration": "28 d"})
        ids = {s.rule_id for s in report.suggestions}
        assert "quality.missing.dose_strength" in ids, ids
        assert not ids & {"dosing.dose_high.max_daily", "dosing.dose_low.below_usual"}
        missing = [m for n in report.not_evaluated if n.rule_id == "dosing.dose_high.max_daily"
                   for m in n.missing]
        assert missing and all(m.startswith("prescriptions[0].dose (in tablet") for m in missing)
    assert "several strengths" in missing[0] or "0.25 g" in missing[0]


# ---------------------------------------------------------------- decomposition
def test_an_ingredient_dose_names_the_product_and_the_ingredient(engine) -> None:
    report = check(engine, {"drug": "氨咖黄敏胶囊", "dose": "3 粒", "frequency": "qid",
                            "duration": "3 d"})
    [high] = [s for s in report.suggestions if s.rule_id == "dosing.dose_high.max_daily"]
    assert high.drugs == ("paracetamol",)
    assert "paracetamol (in Paracetamol, Caffeine" in high.text("message", "en")
    assert "对乙酰氨基酚（氨咖黄敏胶囊）" in high.text("message", "zh")
    daily = next(e for e in high.evidence if e["field"].endswith("daily_dose"))
    assert daily["field"] == "prescriptions[0].ingredients[0].daily_dose"
    assert daily["value"] == 3000
    dose = report.derived["prescriptions[0].ingredients[0].dose"]
    assert dose["value"] == 750 and "prescriptions[0].dose" in dose["inputs"]["dose"]
    # 人工牛黄 is no drug of the knowledge: bounded by the product's own label
    assert any("artificial cow-bezoar" in n["message"] and "own label" in n["message"]
               for n in report.to_dict()["notes"])


def test_a_product_label_limit_and_an_ingredient_limit_make_one_card(engine) -> None:
    """12 capsules a day break the label's 6 and paracetamol's daily limit: one finding."""
    report = check(engine, {"drug": "氨咖黄敏胶囊", "dose": "3 粒", "frequency": "qid",
                            "duration": "3 d"})
    assert [s.rule_id for s in report.suggestions].count("dosing.dose_high.max_daily") == 1


def test_a_product_is_checked_against_its_own_label(engine) -> None:
    """复方甘草片: no ingredient is a drug of the knowledge; its label says 3-4 tablets tid."""
    over = check(engine, {"drug": "复方甘草片", "dose": "4 片", "frequency": "qid",
                          "duration": "3 d"})
    [high] = [s for s in over.suggestions if s.rule_id == "dosing.dose_high.max_daily"]
    assert "复方甘草片" in high.text("message", "zh") and "12" in high.text("message", "zh")
    near = check(engine, {"drug": "复方甘草片", "dose": "4 片", "frequency": "tid",
                          "duration": "3 d"})
    assert not {s.rule_id for s in near.suggestions} & {
        "dosing.dose_high.max_daily", "dosing.dose_high.max_single"}
    single = check(engine, {"drug": "复方甘草片", "dose": "5 片", "frequency": "bid",
                            "duration": "3 d"})
    assert "dosing.dose_high.max_single" in {s.rule_id for s in single.suggestions}


def test_a_product_label_dose_in_mg_is_not_compared(engine) -> None:
    """A label's limits are in tablets: a dose in mg of a product of several ingredients
    is not compared with them (it is reported as an amount to write in tablets)."""
    report = check(engine, {"drug": "复方甘草片", "dose": "500 mg", "frequency": "tid",
                            "duration": "3 d"})
    assert "dosing.dose_high.max_daily" not in {s.rule_id for s in report.suggestions}
    missing = [m for n in report.not_evaluated if n.rule_id == "dosing.dose_high.max_daily"
               for m in n.missing]
    assert missing and all("prescriptions[0].dose" in m for m in missing), missing


def test_one_not_indicated_card_per_product(engine) -> None:
    """The product's indication is judged once, on its label (or first ingredient)."""
    def not_indicated(code: str) -> list[str]:
        report = check(engine, {"drug": "氨咖黄敏胶囊", "dose": "1 粒", "frequency": "tid",
                                "duration": "3 d"},
                       record={"diagnoses": [{"code": code, "name": "诊断"}]})
        return [s.text("title", "zh") for s in report.suggestions
                if s.rule_id == "quality.inconsistent.prescription_not_indicated"]
    assert not_indicated("I10") == ["病历诊断中没有氨咖黄敏胶囊的适应症"]
    assert not_indicated("J00") == []
    # an ingredient's indication covers it too (chlorphenamine: allergic rhinitis)
    assert not_indicated("J30.1") == []


def test_the_total_daily_dose_across_a_product_and_the_plain_drug(engine) -> None:
    report = check(engine,
                   {"drug": "氨咖黄敏胶囊", "dose": "2 粒", "frequency": "tid", "duration": "3 d"},
                   {"drug": "对乙酰氨基酚", "dose": "0.5 g", "frequency": "tid", "duration": "3 d"})
    [total] = [s for s in report.suggestions if s.rule_id == "dosing.dose_high.total_daily"]
    zh = total.text("message", "zh")
    assert "氨咖黄敏胶囊 2粒×250 mg" in zh and "合计日剂量 3000 mg" in zh, zh
    assert report.derived["prescriptions[0].ingredients[0].total_daily"]["value"] == 3000
    # each prescription alone is within the limit
    assert "dosing.dose_high.max_daily" not in {s.rule_id for s in report.suggestions}


def test_a_total_that_cannot_be_made_is_not_evaluated(engine) -> None:
    three_days = {"frequency": "tid", "duration": "3 d"}
    report = check(engine, {"drug": "对乙酰氨基酚片", "dose": "4 片", **three_days},
                   {"drug": "对乙酰氨基酚", "dose": "0.5 g", **three_days})
    assert "dosing.dose_high.total_daily" not in {s.rule_id for s in report.suggestions}
    [entry] = [n for n in report.not_evaluated if n.rule_id == "dosing.dose_high.total_daily"]
    assert entry.missing[0].startswith("prescriptions[0].dose (in tablet")


def test_a_mass_dose_of_a_product_of_several_ingredients_is_not_attributed(engine) -> None:
    report = check(engine, {"drug": "氨咖黄敏胶囊", "dose": "250 mg", "frequency": "tid",
                            "duration": "3 d"})
    missing = [m for n in report.not_evaluated for m in n.missing]
    assert any("an amount for a product of several ingredients" in m for m in missing)
    assert "dosing.dose_high.max_daily" not in {s.rule_id for s in report.suggestions}


def test_a_combination_implies_its_ingredients_conditions(kb) -> None:
    enc = cdss.Encounter.parse(encounter({
        "patient": {"conditions": []},
        "prescriptions": [{"drug": "倍博特", "dose": "1 片", "frequency": "qd"}]}))
    fs = build_facts(enc, kb)
    [patient] = fs.of_type("patient")
    assert "hypertension" in patient.get("problem_groups", ())


def test_an_allergy_to_an_ingredient_is_found(engine) -> None:
    report = check(engine, {"drug": "小儿氨酚黄那敏颗粒", "dose": "1 袋", "frequency": "tid",
                            "duration": "3 d"},
                   patient={"allergies": [{"substance": "扑热息痛", "reaction": "皮疹"}]})
    allergy = [s for s in report.suggestions if s.kind == "allergy"]
    assert allergy and allergy[0].drugs == ("paracetamol",)


# ---------------------------------------------------------------- the property
def _convertible(kb) -> list[Product]:
    """Products whose ingredients written one per line are the same prescription: of
    known strength, and without a label of their own (a label adds its limits, and makes
    the product's findings one card per kind)."""
    return [p for p in kb.products.values() if p.ambiguous is None and p.label is None
            and any(i.drug for i in p.ingredients)]


EXTRA = [None,
         {"drug": "paracetamol", "dose": "0.5 g", "frequency": "tid"},
         {"drug": "amlodipine", "dose": "5 mg", "frequency": "qd"},
         {"drug": "warfarin", "dose": "3 mg", "frequency": "qd"},
         {"drug": "valsartan", "dose": "80 mg", "frequency": "qd"},
         {"drug": "chlorphenamine", "dose": "4 mg", "frequency": "tid"},
         {"drug": "spironolactone", "dose": "20 mg", "frequency": "qd"}]


#: rules that count prescription lines: one product line and its ingredients written one
#: per line differ there by construction (北京降压0号 has five checked ingredients, so with
#: one extra drug the ingredient form is six lines and fires the five-items rule)
_LINE_COUNT_RULES = {"quality.prescription.over_5_items",
                     "quality.prescription.slip_over_5_items",
                     # judged once per prescription: one product line, one finding
                     "quality.inconsistent.prescription_not_indicated"}


def _findings(report: cdss.Report) -> Counter:
    return Counter((s.rule_id, s.severity, tuple(sorted(s.drugs))) for s in report.suggestions
                   if s.rule_id not in _LINE_COUNT_RULES)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_product_in_dosage_units_is_its_ingredients_in_mg(engine, kb, data) -> None:
    product = data.draw(st.sampled_from(_convertible(kb)), label="product")
    count = data.draw(st.sampled_from([0.5, 1, 2, 3, 4, 6]), label="units")
    frequency = data.draw(st.sampled_from(["qd", "bid", "tid", "qid"]), label="frequency")
    extra = data.draw(st.sampled_from(EXTRA), label="extra")
    birth = data.draw(st.sampled_from(["1981-03-15", "1940-05-02", "2016-06-01"]), label="birth")
    word = kb.prescribing.unit_name(product.dosage_units[0], "en")
    common = {"route": "oral", "frequency": frequency, "duration": "5 d"}
    as_product = [{"drug": product.name.zh, "dose": f"{count:g} {word}", **common}]
    # a modified-release product's ingredients are written with its formulation
    # (新康泰克: the sustained-release limits of pseudoephedrine apply)
    form = {"formulation": product.formulation} if product.formulation else {}
    as_drugs = [{"drug": i.drug, "dose": f"{count * i.strength:g} {i.unit}", **common, **form}
                for i in product.ingredients if i.drug]
    tail = [dict(extra, duration="5 d")] if extra else []
    patient = {"birth_date": birth}
    by_product = check(engine, *as_product, *tail, patient=patient)
    by_drugs = check(engine, *as_drugs, *tail, patient=patient)
    # the same findings, at the same worst severity; a product is one prescription, so
    # a kind of finding is one card for it where its ingredients written one by one make
    # one card each (pseudoephedrine and chlorphenamine of 新康泰克 both given too often)
    assert _worst_by_kind(by_product) == _worst_by_kind(by_drugs)
    assert set(_findings(by_product)) <= set(_findings(by_drugs))


def _worst_by_kind(report: cdss.Report) -> dict[str, str]:
    """The most severe suggestion of each finding group (a rule without one: itself)."""
    order = {"info": 0, "warning": 1, "critical": 2}
    out: dict[str, str] = {}
    for s in report.suggestions:
        if s.rule_id in _LINE_COUNT_RULES:
            continue
        kind = s.group or s.rule_id
        if kind not in out or order[s.severity] > order[out[kind]]:
            out[kind] = s.severity
    return out


# ---------------------------------------------------------------- coverage
def test_the_coverage_script_on_a_tiny_mix(tmp_path: Path, capsys) -> None:
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "drug_coverage.py"
    spec = importlib.util.spec_from_file_location("drug_coverage", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["drug_coverage"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    mix = tmp_path / "mix.yaml"
    mix.write_text(yaml.safe_dump({"items": [
        {"name": "苯磺酸氨氯地平", "dose": "5 mg", "route": "oral", "frequency": "qd",
         "weight": 2},
        {"name": "小儿氨酚黄那敏颗粒", "dose": "1 袋", "route": "oral", "frequency": "tid",
         "weight": 1},
        # 人工牛黄 bounded by the product's own label: fully screened
        {"name": "氨咖黄敏胶囊", "dose": "1 粒", "route": "oral", "frequency": "tid",
         "weight": 0},
        # a name no drug file knows (维生素C was used here until helper gi added it, #15)
        {"name": "某未知药片", "dose": "0.1 g", "route": "oral", "frequency": "tid", "weight": 1},
        {"name": "二甲双胍片", "dose": "1 片", "route": "oral", "frequency": "tid",
         "weight": 0},
        # promethazine has no oral maximum of its own: the label's 2 tablets bound it
        {"name": "复方利血平片", "dose": "1 片", "route": "oral", "frequency": "tid",
         "weight": 0},
        # the same product in milligrams: the label's limit is in tablets, so nothing bounds
        # its promethazine (near miss of the line above)
        {"name": "复方利血平片", "dose": "100 mg", "route": "oral", "frequency": "tid",
         "weight": 0},
    ]}, allow_unicode=True), encoding="utf-8")
    result = module.main([str(mix), "--items"])
    assert result["share_percent"] == {"full": 75.0, "partial": 0.0, "none": 25.0}
    levels = {line["name"]: line for line in result["lines"][:-1]}
    # a children's product is screened on a child's encounter: its label's age table
    # bounds 人工牛黄 and every ingredient; pregnancy and lactation do not apply
    assert levels["小儿氨酚黄那敏颗粒"]["level"] == "full"
    assert levels["氨咖黄敏胶囊"]["level"] == "full"
    assert "metformin: dose limit (dose not convertible)" in levels["二甲双胍片"]["lacking"]
    assert levels["复方利血平片"]["level"] == "full"
    in_mg = result["lines"][-1]
    assert in_mg["level"] == "partial"
    assert "promethazine: dose limit" in in_mg["lacking"]
    assert "screened fully 75.0 %" in capsys.readouterr().out


def test_a_childrens_product_is_screened_in_a_child(tmp_path: Path) -> None:
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "drug_coverage.py"
    spec = importlib.util.spec_from_file_location("drug_coverage", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["drug_coverage"] = module
    spec.loader.exec_module(module)
    engine = cdss.Engine(backend="python")
    product = engine.kb.resolve_product("小儿氨酚黄那敏颗粒")
    assert module._for_children_only(product)
    assert not module._for_children_only(engine.kb.resolve_product("氨咖黄敏胶囊"))
    line = module.screen(engine, {"name": "小儿氨酚黄那敏颗粒", "dose": "1 袋",
                                  "frequency": "tid", "weight": 1})
    assert line.level == "full", line.lacking


def test_an_unconvertible_dose_of_a_combination_is_reported_once(engine) -> None:
    report = check(engine, {"drug": "海捷亚", "dose": "1 片", "frequency": "qd",
                            "duration": "28 d"}, patient={"conditions": [{"code": "I10"}]})
    strength = [s for s in report.suggestions if s.rule_id == "quality.missing.dose_strength"]
    assert len(strength) == 1 and strength[0].drugs == ("losartan",)
    # both ingredients are still checked for everything but the dose
    assert "dosing.dose_high.max_daily" in {n.rule_id for n in report.not_evaluated}


def test_a_dose_in_tablets_is_named_in_the_message_language(engine) -> None:
    """quality.missing.dose_strength says 片 in Chinese, tablet in English."""
    # 碳酸钙D3片 is sold in several strengths: a dose in tablets cannot be converted
    report = check(engine, {"drug": "碳酸钙D3片", "dose": "1 片", "frequency": "qd",
                            "duration": "3 d"})
    [first, *_] = [s for s in report.suggestions
                   if s.rule_id == "quality.missing.dose_strength"]
    assert "以 片 书写" in first.text("title", "zh") and "tablet" not in first.text("message", "zh")
    assert "dose in tablet" in first.text("title", "en")


def test_a_labelled_product_given_twice_is_summed_in_its_units(engine) -> None:
    """Two prescriptions of 复方甘草片 (3 + 2 片 tid = 15 a day) pass the label's 12: the
    total is said in 片 in Chinese, tablet in English."""
    report = check(engine,
                   {"drug": "复方甘草片", "dose": "3 片", "frequency": "tid", "duration": "3 d"},
                   {"drug": "复方甘草片", "dose": "2 片", "frequency": "tid", "duration": "3 d"})
    [total] = [s for s in report.suggestions if s.rule_id == "dosing.dose_high.total_daily"]
    zh = total.text("message", "zh")
    assert "= 9 片/日" in zh and "合计日剂量 15 片" in zh and "tablet" not in zh
    assert "a total daily dose of 15 tablet" in total.text("message", "en")


def test_a_combination_product_is_one_card_per_kind_of_finding(engine) -> None:
    """北京降压0号 in pregnancy: five of its ingredients carry pregnancy advice (three
    avoid, two caution); the doctor gets one card for the prescription, the most severe
    (before session 4: five cards)."""
    report = check(engine, {"drug": "北京降压0号", "dose": "1 片", "frequency": "qd",
                            "route": "oral", "duration": "7 d"},
                   patient={"sex": "female", "birth_date": "1990-01-01", "pregnant": True,
                            "conditions": [{"code": "I10"}]})
    pregnancy = [s for s in report.suggestions if s.kind == "pregnancy"]
    assert len(pregnancy) == 1 and pregnancy[0].severity == "warning"
    assert pregnancy[0].rule_id == "dosing.pregnancy.avoid"
