"""Knowledge tables: schema, references between tables, and look-up."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from cdss import KnowledgeError
from cdss._resources import knowledge_dir
from cdss.kb import load_knowledge


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


@pytest.mark.parametrize(("name", "drug_id"), [
    ("amlodipine", "amlodipine"), ("氨氯地平", "amlodipine"), ("络活喜", "amlodipine"),
    ("氨氯地平片", "amlodipine"), ("C08CA01", "amlodipine"), ("Amlodipine ", "amlodipine"),
    ("格华止", "metformin"), ("拜新同", "nifedipine"), ("对乙酰氨基酚", "paracetamol"),
    ("acetaminophen", "paracetamol"),
])
def test_drugs_resolve_by_any_name(kb, name, drug_id) -> None:
    assert kb.resolve_drug(name).id == drug_id


def test_unknown_drug_gets_suggestions(kb) -> None:
    assert kb.resolve_drug("amlodipin") is None
    suggestions = kb.suggest_drugs("amlodipin")
    assert suggestions[0] == "amlodipine" and len(set(suggestions)) == len(suggestions)


def test_allergy_substances_resolve_to_drugs_or_classes(kb) -> None:
    assert kb.allergy_keys("青霉素") == ("class:penicillin",)
    assert kb.allergy_keys("青霉素过敏") == ("class:penicillin",)
    # an allergy to one penicillin is an allergy to the class (allergy_group)
    assert kb.allergy_keys("阿莫西林") == ("amoxicillin", "class:penicillin",
                                        "class:aminopenicillin")
    assert kb.allergy_keys("海鲜") == ()


def test_condition_groups_by_prefix(kb) -> None:
    assert kb.groups_of("I10") == ("hypertension",)
    assert set(kb.groups_of("E11.900")) == {"diabetes", "type2_diabetes"}
    assert kb.groups_of("O80") == ("pregnancy",)
    assert kb.groups_of("J18.9") == ("pneumonia",)
    assert kb.groups_of("J06.9") == ()


@pytest.mark.parametrize(("code", "ok"), [
    ("I10", True), ("E11.9", True), ("E11.900", True), ("I10.x00x002", True), ("U07.1", True),
    ("高血压", False), ("110", False), ("I1", False), ("i10", False), ("I10.", False),
])
def test_icd10_form(kb, code, ok) -> None:
    assert kb.icd10_form_ok(code) is ok


def test_every_number_has_a_source_with_verification(kb) -> None:
    for drug in kb.drugs.values():
        for limit in drug.doses:
            assert limit.source.verification in ("V", "S", "K", "UNVERIFIED"), drug.id
            assert limit.source.title
    for row in kb.interactions:
        assert row.source.title and row.source.verification


def test_at_least_ten_drugs_with_limits(kb) -> None:
    with_limit = [d for d in kb.drugs.values() if any(x.max_daily for x in d.doses)]
    assert len(kb.drugs) >= 10 and len(with_limit) >= 10


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "knowledge"
    shutil.copytree(knowledge_dir(), root)
    return root


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_interaction_naming_an_unknown_drug_fails_at_load(tmp_path) -> None:
    root = _copy(tmp_path)
    _edit(root / "interactions" / "core.yaml",
          lambda d: d["interactions"][0].update(b="class:nsaidz"))
    with pytest.raises(KnowledgeError, match=r"unknown drug or class 'class:nsaidz' \(did you "
                                             r"mean 'class:nsaid'\?\)"):
        load_knowledge(root)


def test_a_dose_limit_of_the_wrong_type_names_file_and_field(tmp_path) -> None:
    root = _copy(tmp_path)
    _edit(root / "drugs" / "core.yaml", lambda d: d["drugs"][0]["doses"][0].update(max_daily="ten"))
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(root)
    assert "core.yaml" in str(err.value) and "max_daily" in str(err.value)


def test_a_name_shared_by_two_drugs_is_refused(tmp_path) -> None:
    root = _copy(tmp_path)
    _edit(root / "drugs" / "core.yaml", lambda d: d["drugs"][1]["aliases"].append("络活喜"))
    with pytest.raises(KnowledgeError, match="also names drug 'amlodipine'"):
        load_knowledge(root)


def test_duplicate_ids_are_refused(tmp_path) -> None:
    root = _copy(tmp_path)
    _edit(root / "drug_classes/core.yaml", lambda d: d["classes"].append(d["classes"][0]))
    with pytest.raises(KnowledgeError, match="duplicate class id"):
        load_knowledge(root)


def test_knowledge_version_changes_with_content(tmp_path, kb) -> None:
    root = _copy(tmp_path)
    assert load_knowledge(root).version == kb.version
    _edit(root / "icd10.yaml", lambda d: d["codes"].append({"code": "Z00", "zh": "体检",
                                                            "en": "check-up"}))
    assert load_knowledge(root).version != kb.version


def test_a_duplicate_allowance_the_rules_cannot_honour_is_refused(tmp_path) -> None:
    root = _copy(tmp_path)
    _edit(root / "duplicate_classes/core.yaml", lambda d: d["duplicates"][0].update(allowed=2))
    with pytest.raises(KnowledgeError, match="allowed"):
        load_knowledge(root)


# ------------------------------------------------------------------ indications
def test_indications_cover_the_chronic_disease_drugs_with_sources(kb) -> None:
    covered = {row.drug for row in kb.indications}
    for drug in ("amlodipine", "losartan", "metformin", "glimepiride", "atorvastatin",
                 "aspirin", "clopidogrel", "amoxicillin"):
        assert drug in covered, drug
    for row in kb.indications:
        assert row.source.verification in ("S", "V"), row.id  # no recalled-only row
        assert row.source.url and row.source.note, row.id


def test_indication_prefixes_merge_codes_and_groups(kb) -> None:
    prefixes = kb.indication_prefixes(kb.drugs["amlodipine"])
    assert {"I10", "I15", "I20", "I25"} <= set(prefixes)
    assert kb.indication_prefixes(kb.drugs["diazepam"]) == ()  # no row: not checked


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["indications"][0].update(drug="amlodipin"),
     r"indications/core\.yaml.*amlodipine.*unknown drug or class 'amlodipin'"),
    (lambda d: d["indications"][0].update(drug="class:statins"),
     r"unknown drug or class 'class:statins'"),
    (lambda d: d["indications"][0].update(codes=["I1O"]),
     r"indications/core\.yaml.*amlodipine.*malformed ICD-10 prefix 'I1O'"),
    (lambda d: d["indications"][0].update(codes=["i10"]), r"malformed ICD-10 prefix 'i10'"),
    (lambda d: d["indications"][0].update(groups=["hypertensoin"]),
     r"unknown condition group 'hypertensoin'"),
    (lambda d: d["indications"][0].update(codes=[], groups=[]), r"codes or groups"),
    (lambda d: d["indications"].append(dict(d["indications"][0])), r"duplicate indication id"),
])
def test_a_bad_indication_row_is_refused_with_file_and_row(tmp_path, change, message) -> None:
    root = _copy(tmp_path)
    _edit(root / "indications/core.yaml", change)
    with pytest.raises(KnowledgeError, match=message):
        load_knowledge(root)


def test_age_edit_groups(kb) -> None:
    assert kb.groups_of("Z38.0") == ("newborn_only",)
    assert kb.groups_of("Z00.1") == ("pediatric_only",)
    assert kb.groups_of("Z00.0") == ()  # WHO general examination: not age-specific here
    assert kb.groups_of("H25.9") == kb.groups_of("R54") == ("adult_only",)
    assert kb.groups_of("H26.0") == () and kb.groups_of("P07.3") == ()
