"""knowledge/implied_conditions.yaml: loaded, validated at load, and looked up by drug."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cdss._resources import knowledge_dir
from cdss.errors import KnowledgeError
from cdss.kb import load_knowledge


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


@pytest.mark.parametrize(("drug", "groups"), [
    ("gliclazide", ("type2_diabetes", "diabetes")),
    ("metformin", ("diabetes",)),
    ("insulin_glargine", ("diabetes",)),
    ("amlodipine", ("hypertension",)),
    ("losartan", ("hypertension",)),
    ("captopril", ("hypertension",)),
    ("hydrochlorothiazide", ("hypertension",)),
])
def test_classes_imply_their_groups(kb, drug: str, groups: tuple[str, ...]) -> None:
    assert kb.implied_groups(kb.drugs[drug]) == groups


@pytest.mark.parametrize("drug", ["acarbose", "metoprolol", "furosemide", "amoxicillin",
                                  "aspirin"])
def test_classes_left_out_imply_nothing(kb, drug: str) -> None:
    assert kb.implied_groups(kb.drugs[drug]) == ()


def test_every_row_has_a_source_and_known_ids(kb) -> None:
    assert kb.implied, "the table is loaded"
    for row in kb.implied:
        assert row.class_.removeprefix("class:") in kb.classes
        assert row.group in kb.condition_groups
        assert row.source.verification in ("V", "S", "K", "UNVERIFIED")


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "knowledge"
    shutil.copytree(knowledge_dir(), root)
    return root


def _rewrite(root: Path, old: str, new: str) -> None:
    path = root / "implied_conditions.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_unknown_class_is_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _rewrite(root, "class: class:insulin", "class: class:insulins")
    with pytest.raises(KnowledgeError, match="unknown drug class 'class:insulins'"):
        load_knowledge(root)


def test_unknown_group_is_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _rewrite(root, "group: hypertension", "group: hypertensoin")
    with pytest.raises(KnowledgeError, match="unknown condition group 'hypertensoin'"):
        load_knowledge(root)


def test_a_drug_id_instead_of_a_class_is_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _rewrite(root, "class: class:insulin", "class: metformin")
    with pytest.raises(KnowledgeError):
        load_knowledge(root)


def test_duplicate_rows_are_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _rewrite(root, "group: type2_diabetes", "group: diabetes")
    with pytest.raises(KnowledgeError, match="duplicate"):
        load_knowledge(root)


def test_the_table_is_optional(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "implied_conditions.yaml").unlink()
    kb = load_knowledge(root)
    assert kb.implied == ()
    assert kb.implied_groups(kb.drugs["metformin"]) == ()
