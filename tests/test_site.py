"""Site layers (issue #16): each layer operation, precedence (clinic over county over
province over national), the never list, alerting (stop levels, hidden suggestions),
repeat suppression, and what the receipt says."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from _sites import layer, site

import cdss
from cdss import SiteError
from cdss._resources import rules_dir
from cdss.cli import EXIT_CONFIG, EXIT_LINT, main
from cdss.site import FileOverrides, MemoryOverrides, Override, load_site

from _encounters import encounter, rx, with_rx

WARFARIN_NSAID = with_rx(rx("warfarin", "3 mg"), rx("ibuprofen", "200 mg", "tid"))
SIMVA_CLARI = with_rx(rx("simvastatin", "20 mg", "qn"), rx("clarithromycin", "250 mg", "bid"))
TWO_NSAIDS = with_rx(rx("ibuprofen", "200 mg", "tid"), rx("diclofenac", "50 mg", "bid"))
VISIT = datetime.fromisoformat(encounter()["time"])


def fired(engine: cdss.Engine, enc: dict[str, Any]) -> dict[str, Any]:
    return {s["rule_id"]: s for s in engine.check(enc).to_dict()["suggestions"]}


@pytest.fixture(scope="module")
def national() -> cdss.Engine:
    return cdss.Engine(lang="en")


# ------------------------------------------------------------------ loading
def test_a_layer_error_names_the_file_and_the_path(tmp_path: Path) -> None:
    folder = site(tmp_path, layer("county", rules={"disable": [
        {"rule": "dosing.interaction.warfarin_nsaid", "reason": "no author"}]}))
    with pytest.raises(SiteError, match=r"county\.yaml at rules\.disable\[0\]\.author"):
        load_site(folder)


@pytest.mark.parametrize(("files", "message"), [
    ({"town.yaml": layer("county")}, "town.yaml: not a layer file"),
    ({"county.yaml": layer("clinic")}, "says 'clinic' in a file named 'county.yaml'"),
    ({}, "no layer file .* and no rules/ folder"),
])
def test_a_site_folder_holds_layer_files_only(tmp_path: Path, files, message) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(SiteError, match=message):
        load_site(folder)


def test_a_change_naming_nothing_is_refused(tmp_path: Path) -> None:
    cases = [
        (layer("county", rules={"severity": [{"rule": "dosing.nope", "severity": "info",
                                               "reason": "r"}]}),
         r"rules\.severity\[0\]\.rule: no rule 'dosing\.nope'"),
        (layer("county", knowledge={"disable": [{"table": "interactions", "id": "nope",
                                                 "reason": "r", "author": "a"}]}),
         r"knowledge\.disable\[0\]\.id: no interactions row 'nope'"),
        (layer("county", knowledge={"names": [{"drug": "amlodipin", "names": ["x"]}]}),
         r"knowledge\.names\[0\]\.drug: no drug 'amlodipin'"),
        (layer("county", knowledge={"names": [{"drug": "amlodipine", "names": ["拜新同"]}]}),
         r"name '拜新同' already names drug 'nifedipine'"),
        (layer("province", knowledge={"followup": [{"programme": "copd",
                                                     "routine_interval_days": 30,
                                                     "reason": "r"}]}),
         r"no follow-up programme 'copd'"),
    ]
    for i, (data, message) in enumerate(cases):
        folder = site(tmp_path / str(i), data)
        with pytest.raises(SiteError, match=message):
            cdss.Engine(site=folder)


# ------------------------------------------------------------------ the never list
@pytest.mark.parametrize(("change", "message"), [
    ({"rules": {"disable": [{"rule": "dosing.allergy.same_drug_or_class", "reason": "r",
                             "author": "a"}]}}, "may not turn it off"),
    ({"rules": {"severity": [{"rule": "diagnosis.critical_value.potassium_high",
                              "severity": "warning", "reason": "r"}]}},
     "may not lower its severity to warning"),
    ({"rules": {"stop": [{"rule": "dosing.interaction.simvastatin_clarithromycin",
                          "stop": "none", "reason": "r"}]}},
     "may not set its stop level to none"),
    ({"rules": {"disable": [{"rule": "dosing.pregnancy.contraindicated", "reason": "r",
                             "author": "a"}]}}, "never list"),
    ({"knowledge": {"disable": [{"table": "interactions", "id": "simvastatin_clarithromycin",
                                 "reason": "r", "author": "a"}]}}, "never list"),
])
def test_no_layer_may_turn_off_a_never_list_rule(tmp_path: Path, change, message) -> None:
    folder = site(tmp_path, layer("clinic", **change))
    with pytest.raises(SiteError, match=message) as info:
        cdss.Engine(site=folder)
    assert "clinic.yaml" in str(info.value)


def test_a_never_list_rule_may_interrupt_less_but_stays(tmp_path: Path) -> None:
    folder = site(tmp_path, layer("county", rules={"stop": [
        {"rule": "dosing.interaction.simvastatin_clarithromycin", "stop": "soft",
         "reason": "pharmacist reviews every statin order"}]}))
    s = fired(cdss.Engine(lang="en", site=folder),
              SIMVA_CLARI)["dosing.interaction.simvastatin_clarithromycin"]
    assert (s["severity"], s["stop"]) == ("critical", "soft")


def test_lint_refuses_a_never_list_change(tmp_path: Path, capsys) -> None:
    folder = site(tmp_path, layer("county", rules={"disable": [
        {"rule": "dosing.allergy.same_drug_or_class", "reason": "r", "author": "a"}]}))
    assert main(["rules", "lint", "--site", str(folder)]) == EXIT_LINT
    assert "never list" in capsys.readouterr().out
    enc = tmp_path / "enc.json"
    enc.write_text(json.dumps(WARFARIN_NSAID), encoding="utf-8")
    assert main(["check", str(enc), "--site", str(folder)]) == EXIT_CONFIG


# ------------------------------------------------------------------ rule changes
def test_a_county_disables_a_rule(tmp_path: Path, national: cdss.Engine) -> None:
    assert "dosing.interaction.warfarin_nsaid" in fired(national, WARFARIN_NSAID)
    folder = site(tmp_path, layer("county", rules={"disable": [
        {"rule": "dosing.interaction.warfarin_nsaid", "reason": "INR clinic monitors",
         "author": "王主任"}]}))
    assert "dosing.interaction.warfarin_nsaid" not in fired(
        cdss.Engine(lang="en", site=folder), WARFARIN_NSAID)


def test_precedence_clinic_over_county_over_province(tmp_path: Path) -> None:
    rule = "dosing.interaction.warfarin_nsaid"
    province = layer("province", rules={"severity": [
        {"rule": rule, "severity": "critical", "reason": "provincial bleeding audit"}]})
    county = layer("county", rules={"disable": [{"rule": rule, "reason": "r", "author": "a"}]})
    clinic = layer("clinic", rules={"enable": [{"rule": rule, "reason": "no INR clinic here"}],
                                    "severity": [{"rule": rule, "severity": "warning",
                                                  "reason": "clinic's own review"}]})
    assert rule not in fired(cdss.Engine(site=site(tmp_path / "a", province, county)),
                             WARFARIN_NSAID)
    both = fired(cdss.Engine(lang="en", site=site(tmp_path / "b", province)), WARFARIN_NSAID)
    assert both[rule]["severity"] == "critical" and both[rule]["stop"] == "hard"
    assert both[rule]["site"] == [{"level": "province", "change": "severity warning -> critical",
                                   "reason": "provincial bleeding audit", "author": "李药师"}]
    top = fired(cdss.Engine(lang="en", site=site(tmp_path / "c", province, county, clinic)),
                WARFARIN_NSAID)
    assert top[rule]["severity"] == "warning"


def test_stop_levels_follow_severity_unless_a_layer_sets_one(tmp_path: Path,
                                                            national: cdss.Engine) -> None:
    default = fired(national, WARFARIN_NSAID)["dosing.interaction.warfarin_nsaid"]
    assert default["severity"] == "warning" and default["stop"] == "soft"
    folder = site(tmp_path, layer("clinic", rules={"stop": [
        {"rule": "dosing.interaction.warfarin_nsaid", "stop": "hard", "reason": "r"}]}))
    s = fired(cdss.Engine(lang="en", site=folder), WARFARIN_NSAID)
    assert s["dosing.interaction.warfarin_nsaid"]["stop"] == "hard"
    assert s["dosing.interaction.warfarin_nsaid"]["severity"] == "warning"


def test_a_minimum_severity_hides_but_never_drops(tmp_path: Path) -> None:
    enc = encounter(record={"signed_at": None})  # quality.missing.signing_time, info
    folder = site(tmp_path, layer("county", rules={"min_severity": [
        {"category": "quality", "severity": "warning", "reason": "too many record alerts"}]}))
    report = cdss.Engine(lang="en", site=folder).check(enc).to_dict()
    assert "quality.missing.signing_time" not in {s["rule_id"] for s in report["suggestions"]}
    (hidden,) = [h for h in report["hidden"] if h["rule_id"] == "quality.missing.signing_time"]
    assert hidden["severity"] == "info" and hidden["title"]
    assert hidden["hidden_by"]["level"] == "county"
    # a kind-level floor wins over the category-level one
    kind = site(tmp_path / "k", layer("county", rules={"min_severity": [
        {"category": "quality", "severity": "warning", "reason": "r"},
        {"category": "quality", "kind": "missing", "severity": "info", "reason": "r"}]}))
    assert "quality.missing.signing_time" in fired(cdss.Engine(site=kind), enc)


def test_never_list_rules_are_shown_whatever_the_floor(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(rules_dir(), rules)
    (rules / "never_off.yaml").write_text(yaml.safe_dump({"never_off": [
        {"match": "quality.missing.signing_*", "reason": {"zh": "测试", "en": "test"},
         "source": "test"}]}, allow_unicode=True), encoding="utf-8")
    folder = site(tmp_path, layer("county", rules={"min_severity": [
        {"category": "quality", "severity": "critical", "reason": "r"}]}))
    engine = cdss.Engine(rules_dir=rules, site=folder)
    assert "quality.missing.signing_time" in fired(engine, encounter(record={"signed_at": None}))


# ------------------------------------------------------------------ knowledge changes
def test_a_local_brand_name_and_a_formulary_code_name_the_drug(tmp_path: Path,
                                                               national: cdss.Engine) -> None:
    enc = with_rx(rx("安内真", "15 mg"))
    assert "dosing.unknown_drug.not_in_knowledge" in fired(national, enc)
    folder = site(tmp_path, layer("clinic", knowledge={
        "names": [{"drug": "amlodipine", "names": ["安内真"], "reason": "local brand"}],
        "formulary": [{"drug": "metformin", "name": "本院二甲双胍片", "code": "YP-0042"}]}))
    engine = cdss.Engine(lang="en", site=folder)
    assert "dosing.dose_high.max_daily" in fired(engine, enc)
    assert "dosing.dose_high.max_daily" in fired(engine, with_rx(rx("YP-0042", "1000 mg", "tid")))
    assert any(c.what == "安内真 names amlodipine" for c in engine.site_changes)


def test_a_duplicate_allowance_and_a_row_disable(tmp_path: Path,
                                                 national: cdss.Engine) -> None:
    assert "dosing.duplicate.dup_nsaid" in fired(national, TWO_NSAIDS)
    folder = site(tmp_path, layer("county", knowledge={
        "duplicate_allowances": [{"duplicate": "dup_nsaid", "reason": "r", "author": "a"}],
        "disable": [{"table": "interactions", "id": "warfarin_nsaid", "reason": "r",
                     "author": "a"}]}))
    engine = cdss.Engine(site=folder)
    assert "dosing.duplicate.dup_nsaid" not in fired(engine, TWO_NSAIDS)
    assert "dosing.interaction.warfarin_nsaid" not in fired(engine, WARFARIN_NSAID)


def test_a_province_sets_its_own_follow_up_interval(tmp_path: Path,
                                                   national: cdss.Engine) -> None:
    routine = national.kb.followup[0].routine_interval_days
    folder = site(tmp_path, layer("province", knowledge={"followup": [
        {"programme": "hypertension", "routine_interval_days": routine + 30,
         "reason": "provincial BPHS rule"}]}))
    engine = cdss.Engine(site=folder)
    programme = {p.id: p for p in engine.kb.followup}["hypertension"]
    assert programme.routine_interval_days == routine + 30


# ------------------------------------------------------------------ repeats
def _suppressing(tmp_path: Path, **extra: Any) -> Path:
    return site(tmp_path, layer("county", suppression={
        "window_days": 30, "reason": "repeats of overridden alerts interrupt less", **extra}))


def _override(days: float, drugs=("ibuprofen", "warfarin"), reason="cds-not-applicable"):
    return Override("p-test", "dosing.interaction.warfarin_nsaid", tuple(drugs),
                    VISIT - timedelta(days=days), reason)


@pytest.mark.parametrize(("override", "lowered"), [
    (_override(10), True),
    (_override(29.9), True),
    (_override(30.1), False),                      # outside the window
    (_override(-1), False),                        # after this visit
    (_override(10, drugs=("warfarin",)), False),    # other drugs
])
def test_a_repeat_of_an_overridden_alert_interrupts_less(tmp_path: Path, override,
                                                         lowered: bool) -> None:
    engine = cdss.Engine(lang="en", site=_suppressing(tmp_path),
                         overrides=MemoryOverrides([override]))
    s = fired(engine, WARFARIN_NSAID)["dosing.interaction.warfarin_nsaid"]
    assert s["severity"] == "warning"  # never dropped, never less severe
    assert (s["stop"] == "none") is lowered and ("repeat" in s) is lowered
    if lowered:
        assert s["repeat"]["stop_was"] == "soft" and s["repeat"]["window_days"] == 30


def test_only_the_named_override_reasons_count(tmp_path: Path) -> None:
    engine = cdss.Engine(site=_suppressing(tmp_path, reasons=["patient-declined"]),
                         overrides=MemoryOverrides([_override(3)]))
    assert fired(engine, WARFARIN_NSAID)["dosing.interaction.warfarin_nsaid"]["stop"] == "soft"


def test_overrides_in_a_file_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "overrides.jsonl"
    FileOverrides(path).add(_override(5))
    engine = cdss.Engine(site=_suppressing(tmp_path), overrides=FileOverrides(path))
    assert fired(engine, WARFARIN_NSAID)["dosing.interaction.warfarin_nsaid"]["stop"] == "none"
    path.write_text("{not json}\n", encoding="utf-8")
    with pytest.raises(cdss.InputError, match=r"overrides\.jsonl line 1"):
        FileOverrides(path)


def test_an_override_time_needs_a_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        MemoryOverrides([Override("p", "r", (), datetime(2026, 1, 1))])


# ------------------------------------------------------------------ receipts and CLI
def test_the_receipt_hashes_the_knowledge_with_the_layers(tmp_path: Path,
                                                          national: cdss.Engine) -> None:
    folder = site(tmp_path, layer("clinic", knowledge={
        "names": [{"drug": "amlodipine", "names": ["安内真"]}]}))
    engine = cdss.Engine(site=folder)
    assert engine.pins.knowledge_sha256 != national.pins.knowledge_sha256
    assert "+site:" in engine.kb.version
    cdss.Engine(site=folder, pin_knowledge=engine.pins.knowledge_sha256)
    (folder / "clinic.yaml").write_text((folder / "clinic.yaml").read_text(encoding="utf-8")
                                        + "\n# edited\n", encoding="utf-8")
    with pytest.raises(cdss.KnowledgeError, match="not the pinned"):
        cdss.Engine(site=folder, pin_knowledge=engine.pins.knowledge_sha256)


def test_cli_check_with_a_site(tmp_path: Path, capsys) -> None:
    folder = site(tmp_path, layer("county", rules={"disable": [
        {"rule": "dosing.interaction.warfarin_nsaid", "reason": "r", "author": "a"}]}))
    enc = tmp_path / "enc.json"
    enc.write_text(json.dumps(WARFARIN_NSAID), encoding="utf-8")
    assert main(["check", str(enc), "--site", str(folder)]) == 0
    assert "warfarin_nsaid" not in capsys.readouterr().out
    assert main(["rules", "lint", "--site", str(folder)]) == 0


def test_cards_carry_the_stop_level_repeat_and_site_changes(tmp_path: Path) -> None:
    folder = site(tmp_path, layer("county", rules={"severity": [
        {"rule": "dosing.interaction.warfarin_nsaid", "severity": "critical",
         "reason": "bleeding audit"}]}, suppression={"window_days": 30, "reason": "r"}))
    engine = cdss.Engine(lang="en", site=folder, overrides=MemoryOverrides([_override(3)]))
    cards = engine.check(WARFARIN_NSAID).to_cds_hooks()["cards"]
    (card,) = [c for c in cards
               if c["source"]["topic"]["code"] == "dosing.interaction.warfarin_nsaid"]
    assert card["indicator"] == "critical"
    ext = card["extension"]
    assert ext["cdss.stop"] == "soft" and ext["cdss.repeat"]["stop_was"] == "hard"
    assert ext["cdss.site"][0]["change"] == "severity warning -> critical"


def test_the_service_uses_a_site(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from cdss.service import create_app
    from cdss.service.settings import Settings

    folder = site(tmp_path, layer("county", rules={"disable": [
        {"rule": "dosing.interaction.warfarin_nsaid", "reason": "r", "author": "a"}]}))
    settings = Settings(site=str(folder), require_auth=False,
                        db_url=f"sqlite:///{tmp_path / 'fb.db'}")
    app = create_app(settings=settings)
    assert app.state.engine.site.folder == folder
    assert "dosing.interaction.warfarin_nsaid" not in {r.id for r in app.state.engine.rules}


def test_a_site_adds_its_own_rules_and_the_kit_tests_them(tmp_path: Path, capsys) -> None:
    """A county's own rule (site/rules/<category>/*.yaml) runs beside the bundled ones,
    may use the bundled definitions, and the rule test kit runs the county's cases."""
    from conftest import minimal_rule

    folder = site(tmp_path, layer("county"))
    rules = folder / "rules" / "quality"
    rules.mkdir(parents=True)
    rule = minimal_rule("quality.missing.county_phone", when={
        "p": {"fact": "patient", "if": {"use": "adult"}},
        "r": {"fact": "record", "if": {"chief_complaint_chars": 0}}})
    (rules / "county.yaml").write_text(yaml.safe_dump({"rules": [rule]}, allow_unicode=True),
                                       encoding="utf-8")
    engine = cdss.Engine(site=folder)
    assert "quality.missing.county_phone" in {r.id for r in engine.rules}
    assert len(engine.rules) == len(cdss.Engine().rules) + 1
    assert "quality.missing.county_phone" in fired(engine, encounter(
        record={"chief_complaint": ""}))
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "county.yaml").write_text(yaml.safe_dump([
        {"rule": "quality.missing.county_phone", "title": "empty", "fires": True,
         "encounter": {"record": {"chief_complaint": ""}}},
        {"rule": "quality.missing.county_phone", "title": "written", "fires": False},
    ], allow_unicode=True), encoding="utf-8")
    assert main(["rules", "test", str(cases), "--site", str(folder)]) == 0
    assert "2 cases: 2 pass" in capsys.readouterr().out
    # a site rule may not reuse a bundled id
    (rules / "county.yaml").write_text(yaml.safe_dump({"rules": [
        minimal_rule("dosing.interaction.warfarin_nsaid")]}), encoding="utf-8")
    with pytest.raises(cdss.RuleSpecError, match="duplicate rule id"):
        cdss.Engine(site=folder)


def test_verify_reproduces_a_report_made_with_a_site(tmp_path: Path, capsys) -> None:
    folder = site(tmp_path, layer("county", rules={"disable": [
        {"rule": "dosing.interaction.warfarin_nsaid", "reason": "r", "author": "a"}]}))
    enc = tmp_path / "enc.json"
    enc.write_text(json.dumps(WARFARIN_NSAID), encoding="utf-8")
    assert main(["check", str(enc), "--site", str(folder)]) == 0
    report = tmp_path / "report.json"
    report.write_text(capsys.readouterr().out, encoding="utf-8")
    assert main(["verify", str(report), str(enc), "--site", str(folder)]) == 0
    assert main(["verify", str(report), str(enc)]) == 1  # without the site: not the same
    assert "receipt knowledge_sha256" in capsys.readouterr().out
