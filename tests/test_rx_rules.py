"""The prescription rules of issue #15: slips, skin tests, antimicrobial tiers.

Rule cases (firing and near miss) are in tests/cases/rx_rules.yaml. The tier rules
cannot fire on the shipped knowledge (its sourced tier rows are all non-restricted), so
they are tested here on a copy of the knowledge with one test-only tier row, as
tests/test_rules_with_test_knowledge.py does for rules no shipped row exercises.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

import cdss
from cdss._resources import knowledge_dir

from _encounters import encounter

#: rule ids proven here with a firing case and a near miss (on test knowledge)
COVERED_WITH_TEST_KNOWLEDGE = ("quality.inconsistent.antimicrobial_tier_above_title",
                               "quality.missing.prescriber_title_for_tier")

#: a test-only row: levofloxacin has no tier row in the shipped knowledge
TEST_TIERS = {"tiers": [{"drug": "levofloxacin", "tier": "restricted",
                         "source": {"title": "test only", "verification": "K"}}]}


@pytest.fixture(scope="module")
def engine() -> cdss.Engine:
    return cdss.Engine(lang="en")


@pytest.fixture(scope="module")
def tier_engine(tmp_path_factory) -> cdss.Engine:
    root = Path(tmp_path_factory.mktemp("kb")) / "knowledge"
    shutil.copytree(knowledge_dir(), root)
    (root / "antimicrobial_tiers" / "zz_test_only.yaml").write_text(
        yaml.safe_dump(TEST_TIERS, allow_unicode=True), encoding="utf-8")
    return cdss.Engine(lang="en", knowledge_dir=root)


LEVO = {"drug": "levofloxacin", "dose": "500 mg", "frequency": "qd"}


def _ids(report) -> set[str]:
    return {s.rule_id for s in report.suggestions}


def _visit(*rx, setting=None) -> dict:
    extra = {"setting": setting} if setting is not None else {}
    return encounter(prescriptions=list(rx), **extra)


# ------------------------------------------------------------------ antimicrobial tiers
@pytest.mark.parametrize("title", ["village_doctor", "乡村医生", "assistant", "junior", "医师"])
def test_restricted_tier_above_a_title_granted_only_non_restricted(tier_engine, title) -> None:
    report = tier_engine.check(_visit(LEVO, setting={"prescriber_title": title}))
    hit = [s for s in report.suggestions
           if s.rule_id == "quality.inconsistent.antimicrobial_tier_above_title"]
    assert hit and hit[0].severity == "warning" and list(hit[0].drugs) == ["levofloxacin"]
    assert "village doctor" in hit[0].text("message", "en") or title not in (
        "village_doctor", "乡村医生")


@pytest.mark.parametrize("title", ["intermediate", "主治医师", "senior"])
def test_restricted_tier_within_the_title(tier_engine, title) -> None:
    report = tier_engine.check(_visit(LEVO, setting={"prescriber_title": title}))
    assert not _ids(report) & set(COVERED_WITH_TEST_KNOWLEDGE)


def test_title_not_sent_asks_for_it_without_an_alarm(tier_engine) -> None:
    report = tier_engine.check(_visit(LEVO, setting={"facility_level": "township"}))
    ids = _ids(report)
    assert "quality.missing.prescriber_title_for_tier" in ids
    assert "quality.inconsistent.antimicrobial_tier_above_title" not in ids
    info = next(s for s in report.suggestions
                if s.rule_id == "quality.missing.prescriber_title_for_tier")
    assert info.severity == "info"
    entry = next(n for n in report.not_evaluated
                 if n.rule_id == "quality.inconsistent.antimicrobial_tier_above_title")
    assert "setting.prescriber_title" in entry.missing
    # no setting at all: the same
    assert "quality.missing.prescriber_title_for_tier" in _ids(tier_engine.check(_visit(LEVO)))


def test_title_sent_is_no_missing_title(tier_engine) -> None:
    report = tier_engine.check(_visit(LEVO, setting={"prescriber_title": "senior"}))
    assert "quality.missing.prescriber_title_for_tier" not in _ids(report)


def test_a_drug_without_a_tier_row_is_reported_not_checked(engine) -> None:
    report = engine.check(_visit(LEVO, setting={"prescriber_title": "village_doctor"}))
    assert not _ids(report) & set(COVERED_WITH_TEST_KNOWLEDGE)
    entry = next(n for n in report.not_evaluated
                 if n.rule_id == "quality.inconsistent.antimicrobial_tier_above_title")
    assert "knowledge.antimicrobial_tiers.levofloxacin" in entry.missing
    assert not entry.ask


def test_non_antimicrobials_have_no_tier(engine) -> None:
    report = engine.check(_visit({"drug": "amlodipine", "dose": "5 mg", "frequency": "qd"}))
    assert not [n for n in report.not_evaluated if "tier" in n.rule_id]


# ------------------------------------------------------------------ skin tests
def test_positive_skin_test_is_critical_and_names_where_it_was_read(engine) -> None:
    enc = encounter(record={"physical_exam": "皮试 （＋）"},
                    prescriptions=[{"drug": "阿莫西林", "dose": "0.5 g", "frequency": "tid"}])
    hit = [s for s in engine.check(enc).suggestions
           if s.rule_id == "dosing.allergy.skin_test_positive"]
    assert hit and hit[0].severity == "critical"
    assert any(e["field"] == "record" for e in hit[0].to_dict()["evidence"])


def test_prescription_result_wins_over_the_record(engine) -> None:
    enc = encounter(record={"treatment_plan": "未做皮试"},
                    prescriptions=[{"drug": "amoxicillin", "dose": "500 mg",
                                    "frequency": "tid", "skin_test": "negative"}])
    ids = _ids(engine.check(enc))
    assert not ids & {"quality.inconsistent.skin_test_not_done", "quality.missing.skin_test"}


def test_record_positive_wins_over_record_negative(engine) -> None:
    enc = encounter(record={"treatment_plan": "头孢皮试(-)，青霉素皮试(+)"},
                    prescriptions=[{"drug": "amoxicillin", "dose": "500 mg", "frequency": "tid"}])
    assert "dosing.allergy.skin_test_positive" in _ids(engine.check(enc))


# ------------------------------------------------------------------ input
def test_extensions_parse_with_chinese_words() -> None:
    enc = cdss.Encounter.parse({
        "id": "e", "time": "2026-11-20T09:00:00+08:00", "patient": {"id": "p"},
        "setting": {"facility_level": "乡镇卫生院", "prescriber_title": "主治医师"},
        "prescriptions": [{"drug": "amoxicillin", "slip": 2, "skin_test": "阴性"},
                          {"drug": "amoxicillin", "skin_test": {"result": "(+)"}}]})
    assert enc.setting is not None
    assert (enc.setting.facility_level, enc.setting.prescriber_title) == ("township",
                                                                           "intermediate")
    assert enc.prescriptions[0].slip == "2"
    assert enc.prescriptions[0].skin_test.result == "negative"
    assert enc.prescriptions[1].skin_test.result == "positive"


@pytest.mark.parametrize("bad, field", [
    ({"setting": {"prescriber_title": "professor"}}, "setting.prescriber_title"),
    ({"prescriptions": [{"drug": "x", "skin_test": "maybe"}]}, "prescriptions[0].skin_test"),
])
def test_bad_extension_values_name_the_field(bad, field) -> None:
    with pytest.raises(cdss.InputError) as err:
        cdss.Encounter.parse({"id": "e", "time": "2026-11-20T09:00:00+08:00",
                              "patient": {"id": "p"}, **bad})
    assert field in str(err.value)


# ------------------------------------------------------------------ pending knowledge
ROOT = Path(__file__).resolve().parent.parent
MICRO = ("minocycline nitrofurantoin aciclovir valaciclovir oseltamivir cefradine cefadroxil "
         "cefdinir cefazolin roxithromycin moxifloxacin norfloxacin clindamycin gentamicin "
         "tinidazole ornidazole phenoxymethylpenicillin ribavirin isoniazid rifampicin "
         "ethambutol pyrazinamide albendazole terbinafine").split()


def test_pending_tier_rows_are_micro_drugs_not_loaded() -> None:
    pending = ROOT / "knowledge" / "antimicrobial_tiers" / "pending_micro.yaml.disabled"
    rows = yaml.safe_load(pending.read_text(encoding="utf-8"))["tiers"]
    assert rows and all(r["drug"] in MICRO for r in rows)
    kb = cdss.Engine().kb
    assert not {r["drug"] for r in rows} & {r.drug for r in kb.antimicrobial_tiers}
