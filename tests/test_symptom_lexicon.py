"""The red-flag symptom lexicon (knowledge/symptoms.yaml, cdss/kb/symptoms.py).

* a table of clinicians' phrasings (tests/data/symptom_phrasings.yaml) with the keys
  each must name, negated or not: the exact sets, so an extra key fails too;
* end-to-end: "突发左上肢无力" fires the stroke rule, "胸骨后压榨样疼痛伴大汗" the
  chest-pain rules;
* the schema refuses a broken lexicon at load with a KnowledgeError naming the file;
* every symptom key a rule names exists in the lexicon.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import yaml

import cdss
from cdss import KnowledgeError
from cdss._resources import knowledge_dir, rules_dir
from cdss.kb import load_knowledge

from _encounters import encounter

DATA = Path(__file__).resolve().parent / "data" / "symptom_phrasings.yaml"
PHRASINGS = yaml.safe_load(DATA.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


@pytest.fixture(scope="module")
def engine():
    return cdss.Engine()


def test_the_table_is_large_and_well_formed(kb) -> None:
    assert len(PHRASINGS) >= 200
    known = {s.key for s in kb.symptoms.symptoms}
    texts = [row["text"] for row in PHRASINGS]
    assert len(texts) == len(set(texts)), "a phrasing is listed twice"
    for row in PHRASINGS:
        assert set(row) <= {"text", "keys", "negated"}, row
        assert set(row.get("keys", [])) | set(row.get("negated", [])) <= known, row
    assert sum(1 for r in PHRASINGS if not r.get("keys") and not r.get("negated")) >= 60
    assert sum(1 for r in PHRASINGS if r.get("negated")) >= 30


@pytest.mark.parametrize("row", PHRASINGS, ids=[r["text"] for r in PHRASINGS])
def test_phrasing(kb, row) -> None:
    keys, negated = kb.symptom_keys(row["text"])
    assert (sorted(keys), sorted(negated)) == (sorted(row.get("keys", [])),
                                               sorted(row.get("negated", [])))


def _rule_ids(engine, symptoms: list[str]) -> set[str]:
    report = engine.check(encounter(symptoms=symptoms))
    return {s.rule_id for s in report.suggestions}


@pytest.mark.parametrize(("symptoms", "fires", "silent"), [
    (["突发左上肢无力"], {"diagnosis.symptom.stroke_stroke_arm"}, set()),
    # (the high-risk card replaces the plain ECG card: one card for the chest pain)
    (["胸骨后压榨样疼痛伴大汗"], {"diagnosis.symptom.chest_pain_high_risk"},
     {"diagnosis.symptom.chest_pain_ecg"}),
    (["胸闷", "气短"], {"diagnosis.symptom.chest_pain_high_risk"},
     {"diagnosis.symptom.chest_pain_ecg"}),
    (["左下肢麻木3年"], set(), {"diagnosis.symptom.stroke_stroke_arm"}),
    (["胸痛", "无大汗"], {"diagnosis.symptom.chest_pain_ecg"},
     {"diagnosis.symptom.chest_pain_high_risk"}),
])
def test_end_to_end(engine, symptoms, fires, silent) -> None:
    ids = _rule_ids(engine, symptoms)
    assert fires <= ids and not (silent & ids), ids


def test_high_risk_chest_pain_is_one_finding_per_chest_pain(engine) -> None:
    report = engine.check(encounter(symptoms=["胸痛伴大汗", "气促", "晕倒1次"]))
    hits = [s for s in report.suggestions if s.rule_id == "diagnosis.symptom.chest_pain_high_risk"]
    assert len(hits) == 1


# ---- schema -------------------------------------------------------------------------
def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "knowledge"
    shutil.copytree(knowledge_dir(), root)
    return root


def _edit_lexicon(root: Path, change) -> None:
    path = root / "symptoms.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def _stroke_arm(data) -> dict:
    return next(s for s in data["symptoms"] if s["key"] == "stroke_arm")


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: _stroke_arm(d)["compositions"][0].update(qualifers=["无力"]),
     r"qualifers: Extra inputs are not permitted"),
    (lambda d: _stroke_arm(d)["compositions"][0].update(sites=[]), r"sites: .*at least 1"),
    (lambda d: _stroke_arm(d)["compositions"][0].update(qualifiers=[" "]), r"qualifiers\.0"),
    (lambda d: _stroke_arm(d)["compositions"][0].update(max_gap=-1), r"max_gap"),
    (lambda d: _stroke_arm(d)["compositions"][0].update(max_gap="4"), r"max_gap"),
    (lambda d: _stroke_arm(d)["compositions"][0].update(max_gap=99), r"max_gap"),
    (lambda d: d["matching"].update(max_gap=-2), r"matching\.max_gap"),
    (lambda d: d["matching"].update(negation_reach="far"), r"negation_reach"),
    (lambda d: d["matching"].update(chronic=["[0-9+年"]), r"not a regular expression"),
    (lambda d: d["matching"].update(past=["既往("]), r"not a regular expression"),
    (lambda d: d["matching"].update(chronic=[]), r"exclude_chronic needs matching\.chronic"),
    (lambda d: d["matching"].update(onset=[]), r"onset composition needs matching\.onset"),
    (lambda d: _stroke_arm(d).update(terms=[], compositions=[]),
     r"neither terms nor compositions"),
    (lambda d: _stroke_arm(d)["compositions"][0].update(qualifiers=["上肢"]),
     r"both site and qualifier"),
    (lambda d: d["symptoms"].append(dict(_stroke_arm(d))), r"duplicate symptom key"),
])
def test_a_broken_lexicon_is_refused_at_load(tmp_path, change, message) -> None:
    root = _copy(tmp_path)
    _edit_lexicon(root, change)
    with pytest.raises(KnowledgeError, match=message) as err:
        load_knowledge(root)
    assert "symptoms.yaml" in str(err.value)


def test_the_gap_is_a_knowledge_setting(tmp_path) -> None:
    """A gap of 0 in the knowledge file stops "左上肢突然无力" (gap 2) from matching."""
    assert load_knowledge().symptom_keys("左上肢突然无力")[0] == ("stroke_arm",)
    root = _copy(tmp_path)
    _edit_lexicon(root, lambda d: _stroke_arm(d)["compositions"][0].update(max_gap=0))
    assert load_knowledge(root).symptom_keys("左上肢突然无力") == ((), ())


def test_rules_name_only_known_symptom_keys(kb) -> None:
    known = {s.key for s in kb.symptoms.symptoms}
    named: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            if node.get("fact") == "symptom":
                key = node.get("if", {}).get("key")
                values = key.get("in", []) if isinstance(key, dict) else [key]
                named.update(v for v in values if "{" not in str(v))
            for value in node.values():
                walk(value)
            rows = node.get("rows")
            if isinstance(rows, list):
                named.update(r["key"] for r in rows if isinstance(r, dict) and "key" in r)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in Path(rules_dir()).rglob("*.yaml"):
        walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert {"chest_pain", "diaphoresis", "stroke_arm"} <= named
    assert named <= known, named - known


def test_matching_is_fast(kb) -> None:
    """The audit runs ~1000 encounters/s: matching a symptom must take well under 1 ms."""
    texts = [row["text"] for row in PHRASINGS]
    start = time.perf_counter()
    for _ in range(20):
        for text in texts:
            kb.symptom_keys(text)
    per_text = (time.perf_counter() - start) / (20 * len(texts))
    assert per_text < 2e-4, f"{per_text * 1e6:.0f} µs per text"


def test_clause_separators_are_read_from_the_lexicon(tmp_path) -> None:
    """The clause separators are knowledge: with ；removed, "否认胸痛；心悸" keeps the
    negation across it (one clause), so palpitations are no longer named."""
    text = "否认胸痛；心悸"
    before = load_knowledge(knowledge_dir()).symptom_keys(text)
    root = _copy(tmp_path)

    def drop(data) -> None:
        data["matching"]["clause_separators"] = [
            s for s in data["matching"]["clause_separators"] if s != "；"]
    _edit_lexicon(root, drop)
    after = load_knowledge(root).symptom_keys(text)
    assert before != after, (before, after)


def test_the_matcher_settings_have_no_python_defaults(tmp_path) -> None:
    root = _copy(tmp_path)
    _edit_lexicon(root, lambda d: d["matching"].pop("negation_reach"))
    with pytest.raises(KnowledgeError, match="negation_reach"):
        load_knowledge(root)
