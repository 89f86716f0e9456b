"""Reports: the contract's JSON, ordering, deduplication, CDS Hooks, text and HTML."""

from __future__ import annotations

import json
import re

import pytest

import cdss
from cdss.report import Suggestion, deduplicate

from conftest import sample

CONTRACT_SUGGESTION_KEYS = {"rule_id", "rule_version", "category", "kind", "severity", "title",
                            "message", "recommendation", "evidence", "codes", "drugs",
                            "references"}
#: documented in docs/contract-additions.md (reasoning under missing data)
EXTENSION_SUGGESTION_KEYS = {"certainty", "assumed", "stop"}  # "site", "repeat": with a site
OPTIONAL_SUGGESTION_KEYS = {"clear_when"}  # when a boundary clears it (cdss.clearing)


@pytest.fixture(scope="module")
def busy(engine):
    return engine.check(sample("enc-007"))


def test_report_json_follows_the_contract(engine) -> None:
    report = engine.check(sample("enc-008"))
    data = json.loads(report.to_json())
    assert data["encounter_id"] == "enc-008"
    assert set(data["engine"]) == {"version", "knowledge_version", "rules"}
    assert data["engine"]["version"] == cdss.__version__
    assert {"suggestions", "not_evaluated", "notes"} <= set(data)
    for s in data["suggestions"]:
        assert set(s) - OPTIONAL_SUGGESTION_KEYS == \
            CONTRACT_SUGGESTION_KEYS | EXTENSION_SUGGESTION_KEYS
        assert s["certainty"] in ("complete", "regardless", "conditional")
        assert s["severity"] in ("info", "warning", "critical")
        assert s["evidence"] and all("field" in e and "value" in e for e in s["evidence"])
        assert s["references"] and all(r["title"] for r in s["references"])
    for n in data["not_evaluated"]:
        assert {"rule_id", "missing", "ask"} <= set(n) <= {"rule_id", "missing", "also", "ask"}
        assert n["missing"]


def test_suggestions_are_sorted_by_severity_category_rule(engine) -> None:
    report = engine.check(sample("enc-010"))
    keys = [({"critical": 0, "warning": 1, "info": 2}[s.severity], s.category, s.rule_id)
            for s in report.suggestions]
    assert keys == sorted(keys)


def test_evidence_names_the_drugs_and_the_interaction_row(busy) -> None:
    interaction = next(s for s in busy.suggestions if s.kind == "interaction")
    assert interaction.drugs == ("warfarin", "ibuprofen")
    fields = [e["field"] for e in interaction.evidence]
    assert fields == ["prescriptions[0].drug", "prescriptions[1].drug"]
    assert interaction.references[0]["title"]


def test_dose_evidence_carries_threshold_and_derivation(engine) -> None:
    report = engine.check(sample("enc-008"))
    dose = next(s for s in report.suggestions if s.kind == "dose_high")
    ev = next(e for e in dose.evidence if e["field"].endswith("daily_dose"))
    assert ev["value"] == 3000 and ev["threshold"] == 2550 and ev["unit"] == "mg/d"
    assert ev["derivation"]["inputs"] == {"dose": "1000 mg", "frequency": "tid (3/d)"}


KEEP = ("specificity", "severity")


def test_symmetric_and_grouped_findings_give_one_suggestion() -> None:
    def s(rule_id, severity, subject, group=None, specificity=0):
        return Suggestion(rule_id, "1", "dosing", "interaction", severity,
                          {"zh": {}, "en": {}}, (), (), (), (), subject, group, specificity)

    pair = ("prescriptions[0]", "prescriptions[1]")
    out = deduplicate([s("dosing.interaction.b_class", "warning", pair, "i", 1),
                       s("dosing.interaction.a_drug", "warning", pair, "i", 0),
                       s("dosing.interaction.c", "critical", pair, "i", 2),
                       s("dosing.x", "info", pair), s("dosing.x", "info", pair[::-1])],
                      KEEP)
    # the most specific row wins within a group (a drug row is an exception to its class)
    assert [x.rule_id for x in out] == ["dosing.interaction.a_drug", "dosing.x"]
    out = deduplicate([s("dosing.interaction.b_class", "warning", pair, "i", 1),
                       s("dosing.interaction.a_drug", "warning", pair, "i", 0)], KEEP)
    assert [x.rule_id for x in out] == ["dosing.interaction.a_drug"]
    # the policy is data: severity first keeps the critical class row instead
    out = deduplicate([s("dosing.interaction.c", "critical", pair, "i", 2),
                       s("dosing.interaction.a_drug", "warning", pair, "i", 0)],
                      ("severity", "specificity"))
    assert [x.rule_id for x in out] == ["dosing.interaction.c"]


def test_the_bundled_finding_policy_lets_specificity_beat_severity() -> None:
    from cdss._resources import rules_dir
    from cdss.rulelang.load import finding_policy

    assert finding_policy(rules_dir()).keep == KEEP


def test_warfarin_aspirin_reports_the_drug_row_not_the_class_row(engine) -> None:
    base = sample("enc-011")
    # diagnoses that indicate both drugs, so the record itself is complete
    record = dict(base["record"], diagnoses=[{"code": "I48", "name": "心房颤动"},
                                             {"code": "I25.1", "name": "冠心病"}])
    enc = dict(base, record=record, prescriptions=[
        {"drug": "warfarin", "dose": "3 mg", "frequency": "qd"},
        {"drug": "aspirin", "dose": "100 mg", "frequency": "qd"}])
    ids = [s.rule_id for s in engine.check(enc).suggestions]
    assert ids == ["dosing.interaction.warfarin_aspirin"]


def test_cds_hooks_cards(busy) -> None:
    cards = busy.to_cds_hooks()["cards"]
    # one card per suggestion, then one short card of the data worth collecting
    assert len(cards) == len(busy.suggestions) + bool(busy.missing_data)
    for card, s in zip(cards, busy.suggestions, strict=False):
        assert len(card["summary"]) <= 140
        assert card["indicator"] == s.severity
        assert card["source"]["label"]
        assert all(e["field"] in card["detail"] for e in s.evidence)
    assert busy.to_cds_hooks() == busy.to_cds_hooks()  # stable card uuids
    if busy.missing_data:
        last = cards[-1]
        assert last["indicator"] == "info" and last["summary"].startswith("缺少：")


def test_languages(busy) -> None:
    en = busy.with_lang("en").to_dict()["suggestions"]
    zh = busy.to_dict()["suggestions"]
    assert en[0]["rule_id"] == zh[0]["rule_id"] and en[0]["title"] != zh[0]["title"]
    assert busy.with_lang("en").lang == "en"
    with pytest.raises(ValueError):
        busy.with_lang("fr")


def test_engine_language_and_per_call_override(engine_en, engine) -> None:
    assert engine_en.check(sample("enc-007")).lang == "en"
    assert engine.check(sample("enc-007"), lang="en").lang == "en"


def test_text_and_html_forms(busy) -> None:
    text = busy.to_text()
    assert "enc-007" in text and "dosing.allergy.same_drug_or_class" in text
    html = busy._repr_html_()
    assert html.startswith("<div>") and "<table>" in html and "<script" not in html
    assert repr(busy).startswith("<Report encounter='enc-007'")


def test_html_escapes_user_text(engine) -> None:
    enc = dict(sample("enc-011"), prescriptions=[{"drug": "<script>x</script>"}])
    html = engine.check(enc)._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_notes_for_unknown_lab_and_unknown_allergen(engine) -> None:
    enc = sample("enc-011")
    enc["labs"] = [{"code": "ferritin", "value": "30 ng/mL"}]
    enc["patient"]["allergies"] = [{"substance": "海鲜"}]
    notes = engine.check(enc).to_dict()["notes"]
    assert [n["field"] for n in notes] == ["labs[0].code", "patient.allergies[0].substance"]


def test_unknown_drug_suggests_close_names(engine) -> None:
    enc = dict(sample("enc-011"), prescriptions=[{"drug": "amlodipin", "dose": "5 mg"}])
    s = next(s for s in engine.check(enc).suggestions if s.kind == "unknown_drug")
    assert s.evidence[0]["did_you_mean"][0] == "amlodipine"


def test_not_evaluated_names_missing_inputs_not_internal_fields(engine) -> None:
    report = engine.check({"id": "e", "time": "2026-11-20T09:00:00", "patient": {"id": "p"}})
    missing = {r: n.missing for n in report.not_evaluated for r in (n.rule_id, *n.also)}
    assert "vitals.sbp" in missing["diagnosis.hypertension.urgent_referral"]
    assert "patient.birth_date" in missing["diagnosis.hypertension.urgent_referral"]
    assert missing["quality.missing.chief_complaint"] == ("record",)
    # one entry per finding: the rules of a group lacking the same data are listed once
    anaemia = [n for n in report.not_evaluated if n.rule_id.startswith("diagnosis.anaemia")]
    assert len(anaemia) <= 6 and all(n.also for n in anaemia)


def test_a_rule_that_fired_is_not_also_not_evaluated_for_the_same_finding(engine) -> None:
    report = engine.check(sample("enc-005"))  # NEWS2 high from a partial score
    assert [s.rule_id for s in report.suggestions if s.group == "news2"] == [
        "diagnosis.news2.high"]
    assert not any(n.rule_id.startswith("diagnosis.news2") for n in report.not_evaluated)


def test_check_does_not_mutate_input(engine) -> None:
    enc = sample("enc-007")
    before = json.dumps(enc, sort_keys=True)
    engine.check(enc)
    assert json.dumps(enc, sort_keys=True) == before


def test_module_level_check_uses_a_default_engine() -> None:
    assert cdss.check(sample("enc-011")).suggestions == []
    assert cdss.default_engine() is cdss.default_engine()


def test_an_83_year_old_with_a_cold_and_chest_tightness_gets_an_ecg(engine) -> None:
    # the example: this patient must not go home without an ECG being suggested
    report = engine.check({
        "id": "e", "time": "2026-11-20T09:30:00+08:00",
        "patient": {"id": "p", "sex": "male", "birth_date": "1943-02-01", "conditions": []},
        "vitals": {"sbp": 132, "dbp": 78, "heart_rate": 84, "resp_rate": 18,
                   "temperature": "37.0 degC", "spo2": 96, "consciousness": "alert",
                   "on_oxygen": False},
        "symptoms": ["感冒两天", "有点胸闷"]})
    ecg = [s for s in report.suggestions if s.rule_id == "diagnosis.symptom.chest_pain_ecg"]
    assert ecg and ecg[0].severity == "warning" and "心电图" in ecg[0].text("title", "zh")
    assert ecg[0].evidence[0] == {"field": "symptoms[1]", "value": "有点胸闷",
                                  "condition": "names chest_pain", "clause": "s"}


def test_cds_hooks_cards_follow_the_spec_on_labels_links_and_autolinks(engine_en) -> None:
    """CDS Hooks 2.0: a short source label, the citation in detail/links, no empty arrays;
    user text cannot become a link (GFM autolinks ``https://`` and ``a@b``)."""
    from conftest import sample

    enc = sample("enc-001")
    enc["prescriptions"] = [{"drug": "https://evil.example a@b.cn", "dose": "5 mg",
                             "frequency": "qd"}]
    cards = engine_en.check(enc).to_cds_hooks()["cards"]
    assert any("evil" in card["detail"] for card in cards)  # the user text does reach it
    for card in cards:
        assert card["source"]["label"] == "cdss"
        assert "links" not in card or card["links"]
        assert all(v != [] for v in card.values())
        prose = re.sub(r"(`+)[^`]*?\1", "", card["detail"])  # code spans never link
        assert "https://evil" not in prose and "a@b" not in prose


def test_a_rules_folder_reads_its_own_finding_policy(tmp_path) -> None:
    from cdss import RuleSpecError
    from cdss.kb import load_knowledge
    from cdss.rulelang import build_ruleset

    from conftest import minimal_rule, write_rules

    kb = load_knowledge()
    rules_dir = write_rules(tmp_path, [minimal_rule()])
    assert build_ruleset(rules_dir, kb).keep == KEEP  # none of its own: the bundled one
    (rules_dir / "findings.yaml").write_text("keep: [severity]\nreason: a county's choice\n",
                                             encoding="utf-8")
    assert build_ruleset(rules_dir, kb).keep == ("severity",)
    (rules_dir / "findings.yaml").write_text("keep: [severity, severity]\nreason: x\n",
                                             encoding="utf-8")
    with pytest.raises(RuleSpecError, match=r"findings\.yaml"):
        build_ruleset(rules_dir, kb)


def test_chinese_text_form_is_chinese_throughout() -> None:
    """Severity, operator words and word units in Chinese; °C not pint's 'degC' (#18)."""
    import json
    from pathlib import Path

    enc = json.loads((Path(cdss.__file__).parent / "samples" / "enc-010.json").read_text(
        encoding="utf-8"))
    engine = cdss.Engine(backend="python")
    zh = engine.check(enc, lang="zh").to_text()
    assert "[警告] 数值不合理：收缩压 = 400" in zh
    assert "体温（vitals.temperature）为 55 °C" in zh and "degC" not in zh
    assert "(超出可信范围 50–300)" in zh and "outside" not in zh
    assert "25 字 (> 20)" in zh and "characters" not in zh
    assert "[WARNING]" not in zh
    en = engine.check(enc, lang="en").to_text()
    assert "[WARNING] Implausible value: systolic blood pressure = 400" in en
    assert "(outside 50–300)" in en and "55 °C" in en and "25 characters (> 20)" in en


def test_evidence_condition_words_translate_only_whole_words() -> None:
    from cdss.rulelang.ops import evidence_condition

    assert evidence_condition("contains diabetes", "zh") == "含 diabetes"
    assert evidence_condition("does not contain hypertension", "zh") == "不含 hypertension"
    assert evidence_condition("≥ 140", "zh") == "≥ 140"
    assert evidence_condition("inside", "zh") == "inside"  # not the word "in"
    assert evidence_condition("contains diabetes", "en") == "contains diabetes"
