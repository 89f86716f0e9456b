"""Governance metadata on rules (issue #16): status, owner, clinical reviewer, review and
expiry dates; file-level defaults; which statuses run; what lint says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import cdss
from cdss import RuleSpecError, backends
from cdss.cli import main
from cdss.kb import load_knowledge
from cdss.rulelang import build_ruleset, compile_all
from cdss.rulelang.governance import governance_warnings

from _encounters import encounter
from conftest import minimal_rule

KB = load_knowledge()
TODAY = __import__("datetime").date(2026, 12, 5)

#: fires on the normal encounter with no chief complaint
NO_COMPLAINT = encounter(record={"chief_complaint": ""})


def write_file(root: Path, body: dict[str, Any]) -> Path:
    folder = root / "rules" / "quality"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test.yaml").write_text(yaml.safe_dump(body, allow_unicode=True),
                                      encoding="utf-8")
    return root / "rules"


def rules_of(root: Path) -> dict[str, Any]:
    compiled, problems = compile_all(root, KB, backends.validate_all)
    assert not problems, problems
    return {r.id: r.spec for r in compiled}


def test_file_defaults_apply_and_a_rule_overrides_them(tmp_path: Path) -> None:
    root = write_file(tmp_path, {
        "governance": {"status": "production", "owner": "县审方中心",
                       "clinical_reviewer": "李药师", "reviewed": "2026-10-01",
                       "expires": "2027-10-01"},
        "rules": [minimal_rule("quality.missing.a"),
                  minimal_rule("quality.missing.b", status="testing", owner="张医生")]})
    specs = rules_of(root)
    a, b = specs["quality.missing.a"], specs["quality.missing.b"]
    assert (a.status, a.owner, a.clinical_reviewer) == ("production", "县审方中心", "李药师")
    assert a.reviewed.isoformat() == "2026-10-01" and a.expires.isoformat() == "2027-10-01"
    assert (b.status, b.owner, b.clinical_reviewer) == ("testing", "张医生", "李药师")


def test_a_rule_without_governance_is_testing_with_no_owner(tmp_path: Path) -> None:
    spec = rules_of(write_file(tmp_path, {"rules": [minimal_rule()]}))["quality.missing.test_rule"]
    assert (spec.status, spec.owner, spec.clinical_reviewer, spec.reviewed, spec.expires) == \
        ("testing", None, None, None, None)


@pytest.mark.parametrize("bad", [{"status": "retired"}, {"reviewed": "yesterday"},
                                 {"reviewer": "x"}])
def test_bad_governance_is_refused_naming_the_file(tmp_path: Path, bad: dict) -> None:
    _, problems = compile_all(write_file(tmp_path, {"governance": bad,
                                                    "rules": [minimal_rule()]}),
                              KB, backends.validate_all)
    assert problems and "test.yaml" in str(problems[0])


def _statuses_pack(tmp_path: Path) -> Path:
    return write_file(tmp_path, {"rules": [
        minimal_rule(f"quality.missing.{status}", status=status)
        for status in ("draft", "research", "testing", "production", "expired")]})


def test_production_and_testing_rules_run_by_default(tmp_path: Path) -> None:
    ruleset = build_ruleset(_statuses_pack(tmp_path), KB)
    assert sorted(r.id for r in ruleset.rules) == ["quality.missing.production",
                                                   "quality.missing.testing"]


def test_a_report_can_be_restricted_to_production_rules(tmp_path: Path) -> None:
    engine = cdss.Engine(rules_dir=_statuses_pack(tmp_path), statuses=("production",))
    fired = {s.rule_id for s in engine.check(NO_COMPLAINT).suggestions}
    assert fired == {"quality.missing.production"}
    assert engine.options["statuses"] == ("production",)


def test_research_rules_run_only_when_asked(tmp_path: Path) -> None:
    engine = cdss.Engine(rules_dir=_statuses_pack(tmp_path), statuses=("research",))
    assert {s.rule_id for s in engine.check(NO_COMPLAINT).suggestions} == \
        {"quality.missing.research"}


def test_an_unknown_status_or_an_empty_selection_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuleSpecError, match="unknown rule status 'retired'"):
        build_ruleset(_statuses_pack(tmp_path), KB, statuses=("retired",))
    with pytest.raises(RuleSpecError, match="no rule has a status of production"):
        cdss.Engine(statuses=("production",))  # the bundled rules are all in testing


def test_lint_warns_on_unreviewed_production_and_expired_rules(tmp_path: Path) -> None:
    root = write_file(tmp_path, {"rules": [
        minimal_rule("quality.missing.unreviewed", status="production"),
        minimal_rule("quality.missing.half", status="production", clinical_reviewer="李药师"),
        minimal_rule("quality.missing.reviewed", status="production",
                     clinical_reviewer="李药师", reviewed="2026-10-01", expires="2027-10-01"),
        minimal_rule("quality.missing.lapsed", status="testing", expires="2026-12-04"),
        minimal_rule("quality.missing.due_today", status="testing", expires="2026-12-05"),
        minimal_rule("quality.missing.old", status="expired")]})
    compiled, _ = compile_all(root, KB)
    warnings = governance_warnings(compiled, TODAY)
    text = "\n".join(warnings)
    assert len(warnings) == 4, text
    assert "'quality.missing.unreviewed': a production rule without clinical_reviewer and " \
           "reviewed" in text
    assert "'quality.missing.half': a production rule without reviewed (unreviewed)" in text
    assert "'quality.missing.lapsed': review expired on 2026-12-04" in text
    assert "'quality.missing.old': status expired" in text
    assert "'quality.missing.reviewed'" not in text and "due_today" not in text


def test_cli_lint_prints_governance_warnings(tmp_path: Path, capsys) -> None:
    root = write_file(tmp_path, {"rules": [
        minimal_rule("quality.missing.unreviewed", status="production")]})
    assert main(["rules", "lint", "--rules", str(root), "--today", "2026-12-05"]) == 0
    assert "warning: " in capsys.readouterr().out
    assert main(["rules", "lint", "--rules", str(root), "--today", "5/12/2026"]) == 2


def test_cli_status_restricts_a_check(tmp_path: Path, capsys) -> None:
    enc = tmp_path / "enc.json"
    enc.write_text(__import__("json").dumps(NO_COMPLAINT), encoding="utf-8")
    root = _statuses_pack(tmp_path)
    assert main(["check", str(enc), "--rules", str(root), "--status", "production",
                 "--format", "text", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "quality.missing.production" in out and "quality.missing.testing" not in out


def test_every_bundled_rule_has_an_owner_and_no_governance_warning() -> None:
    compiled, problems = compile_all(Path(cdss.__file__).parent / "data" / "rules"
                                     if (Path(cdss.__file__).parent / "data" / "rules").is_dir()
                                     else Path(__file__).parent.parent / "rules", KB)
    assert not problems
    assert all(r.spec.owner for r in compiled)
    assert governance_warnings(compiled, TODAY) == []
