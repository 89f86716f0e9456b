"""Clinical choices live in knowledge/, not in Python: changing the data changes the
behaviour (issue #13)."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

import cdss
from cdss._resources import knowledge_dir

TEEN = {"id": "t", "time": "2026-11-20T09:00:00+08:00",
        "patient": {"id": "p", "sex": "male", "birth_date": "2009-06-01", "weight": "60 kg"},
        "labs": [{"code": "creatinine", "value": "80 umol/L"}]}


def _knowledge(tmp_path: Path, min_age: int | None) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(knowledge_dir(), target)
    path = target / "formulas.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for formula in data["formulas"]:
        if formula["id"] in ("ckd_epi_2021", "cockcroft_gault"):
            if min_age is None:
                formula["constants"].pop("min_age")
            else:
                formula["constants"]["min_age"] = min_age
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


def test_the_renal_equations_minimum_age_is_read_from_knowledge(tmp_path) -> None:
    assert "egfr" not in cdss.Engine(lang="en").check(TEEN).derived  # 17: not an adult
    engine = cdss.Engine(lang="en", knowledge_dir=_knowledge(tmp_path, 16))
    derived = engine.check(TEEN).derived
    assert "egfr" in derived and "crcl" in derived


def test_knowledge_without_a_minimum_age_computes_no_renal_function(tmp_path) -> None:
    engine = cdss.Engine(lang="en", knowledge_dir=_knowledge(tmp_path, None))
    adult = dict(TEEN, patient=dict(TEEN["patient"], birth_date="1960-01-01"))
    assert "egfr" not in engine.check(adult).derived  # never assumed to be 18


def _prescribing(tmp_path: Path, change) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(knowledge_dir(), target)
    path = target / "prescribing.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


VISIT = {"id": "v", "time": "2026-11-20T09:00:00+08:00",
         "patient": {"id": "p", "sex": "male", "birth_date": "1960-01-01"},
         "prescriptions": [{"drug": "ibuprofen", "dose": "800 mg", "frequency": "tid"}]}


def test_frequency_words_are_read_from_the_engines_knowledge(tmp_path) -> None:
    def four_times(data) -> None:
        data["frequencies"]["tid"] = 4
    engine = cdss.Engine(lang="en", knowledge_dir=_prescribing(tmp_path, four_times))
    assert engine.parse(VISIT).prescriptions[0].frequency.times_per_day == 4
    assert cdss.Engine(lang="en").parse(VISIT).prescriptions[0].frequency.times_per_day == 3


def test_the_default_route_is_read_from_knowledge(tmp_path) -> None:
    """A prescription without a route is checked against the knowledge's default route:
    with none that a drug has limits for, its dose limit is not evaluated."""
    def no_oral_default(data) -> None:
        data["default_route"] = "rectal"
    engine = cdss.Engine(lang="en", knowledge_dir=_prescribing(tmp_path, no_oral_default))
    too_much = dict(VISIT, prescriptions=[{"drug": "ibuprofen", "dose": "1200 mg",
                                           "frequency": "qid"}])
    bundled = {s.rule_id for s in cdss.Engine(lang="en").check(too_much).suggestions}
    changed = {s.rule_id for s in engine.check(too_much).suggestions}
    assert any(r.startswith("dosing.dose_high") for r in bundled)
    assert not any(r.startswith("dosing.dose_high") for r in changed)


def test_dosage_form_words_are_read_from_knowledge(tmp_path) -> None:
    engine = cdss.Engine(lang="en", knowledge_dir=_prescribing(
        tmp_path, lambda d: d.update(formulations=[["长效", "extended_release"]])))
    assert engine.kb.formulation_of("某药长效片") == "extended_release"
    assert cdss.Engine(lang="en").kb.formulation_of("某药长效片") is None


def test_an_analyte_of_a_sites_own_knowledge_can_be_read_by_its_rules(tmp_path) -> None:
    """The fact schema's lab fields come from the engine's knowledge, not the bundled
    table: a site that adds an analyte can write a rule on it."""
    from conftest import minimal_rule, write_rules

    root = tmp_path / "knowledge"
    shutil.copytree(knowledge_dir(), root)
    path = root / "analytes.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["analytes"].append({"code": "ferritin", "name": {"zh": "铁蛋白", "en": "ferritin"},
                             "loinc": ["2276-4"], "canonical": "ug/L",
                             "source": {"title": "test analyte", "verification": "K"}})
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    rule = minimal_rule("diagnosis.test.low_ferritin", category="diagnosis",
                        kind="workup", when={"l": {"fact": "labs",
                                                   "if": {"ferritin": {"lt": 15}}}})
    rules = write_rules(tmp_path / "r", [rule], category="diagnosis")
    engine = cdss.Engine(lang="en", rules_dir=rules, knowledge_dir=root)
    report = engine.check({**TEEN, "labs": [{"code": "ferritin", "value": "9 ug/L"}]})
    assert [s.rule_id for s in report.suggestions] == ["diagnosis.test.low_ferritin"]


def test_every_score_table_of_the_knowledge_is_computed(tmp_path) -> None:
    """Which scores are computed, and from which inputs, is the score tables' data: a
    table added to knowledge/scores is computed without code."""
    root = tmp_path / "knowledge"
    shutil.copytree(knowledge_dir(), root)
    data = yaml.safe_load((root / "scores" / "qsofa.yaml").read_text(encoding="utf-8"))
    data["id"] = "qsofa_site"
    (root / "scores" / "qsofa_site.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                                     encoding="utf-8")
    engine = cdss.Engine(lang="en", knowledge_dir=root)
    visit = {**TEEN, "vitals": {"sbp": 90, "dbp": 60, "resp_rate": 24,
                                "consciousness": "confusion"}}
    derived = engine.check(visit).derived
    assert derived["qsofa_site"]["value"] == derived["qsofa"]["value"] == 3


def _edited(tmp_path: Path, name: str, change) -> Path:
    """A copy of the bundled knowledge with ``name`` edited by ``change``."""
    target = tmp_path / "knowledge"
    shutil.copytree(knowledge_dir(), target)
    path = target / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


def test_the_modified_release_family_is_read_from_knowledge(tmp_path) -> None:
    """Glipizide has a controlled-release limit (20 mg/day) and a general one (30): a
    sustained-release tablet takes the controlled-release limit only while both forms
    are in the knowledge's modified-release family."""
    def limit(kb) -> float | None:
        row = kb.dose_limit(kb.drugs["glipizide"], "oral", "sustained_release")
        return None if row is None else row.max_daily

    assert limit(cdss.Engine(lang="en").kb) == 20
    engine = cdss.Engine(lang="en", knowledge_dir=_edited(
        tmp_path, "prescribing.yaml", lambda d: d.update(modified_release=[])))
    assert limit(engine.kb) == 30


def test_route_spellings_are_read_from_knowledge(tmp_path) -> None:
    visit = dict(VISIT, prescriptions=[dict(VISIT["prescriptions"][0], route="经口")])
    assert cdss.Engine(lang="en").parse(visit).prescriptions[0].route == "经口"  # kept as is
    engine = cdss.Engine(lang="en", knowledge_dir=_edited(
        tmp_path, "prescribing.yaml", lambda d: d["routes"].update({"经口": "oral"})))
    assert engine.parse(visit).prescriptions[0].route == "oral"


def test_the_list_item_separators_are_read_from_the_lexicon(tmp_path) -> None:
    """In 无发热、胸痛2小时 the item with a number stops the negation's carry along the 、
    list; without 、 as an item separator the clause is one item and 无 reaches 胸痛."""
    text = "无发热、胸痛2小时"
    assert cdss.Engine(lang="en").kb.symptom_keys(text) == (("chest_pain",), ("fever",))
    engine = cdss.Engine(lang="en", knowledge_dir=_edited(
        tmp_path, "symptoms.yaml", lambda d: d["matching"].update(item_separators=[])))
    assert engine.kb.symptom_keys(text) == ((), ("chest_pain", "fever"))


def test_the_negation_reach_is_read_from_the_lexicon(tmp_path) -> None:
    """否认 ends three units (有明显) before 胸痛: negated with the bundled reach (4), not
    with a reach of 2."""
    text = "否认有明显胸痛"
    assert cdss.Engine(lang="en").kb.symptom_keys(text) == ((), ("chest_pain",))
    engine = cdss.Engine(lang="en", knowledge_dir=_edited(
        tmp_path, "symptoms.yaml", lambda d: d["matching"].update(negation_reach=2)))
    assert engine.kb.symptom_keys(text) == (("chest_pain",), ())


def test_a_childrens_limit_without_a_route_is_refused(tmp_path) -> None:
    """No route is assumed for a children's dose limit (it was oral by a Python default)."""
    import pytest

    from cdss.errors import KnowledgeError
    from cdss.kb import load_knowledge

    def drop_route(data) -> None:
        row = next(d for d in data["drugs"] if d.get("pediatric"))
        row["pediatric"][0].pop("route")

    root = _edited(tmp_path, "drugs/antidiabetic_antiinfective.yaml", drop_route)
    with pytest.raises(KnowledgeError, match="route"):
        load_knowledge(root)
