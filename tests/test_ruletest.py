"""The rule test kit for sites (issue #16): ``cdss rules test DIR`` runs YAML cases against
the rules (bundled or a site's own), prints a coverage table and fails on a failing case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import cdss
from cdss import InputError
from cdss.cli import EXIT_INPUT, EXIT_LINT, main
from cdss.ruletest import Case, load_cases, run_cases

from conftest import minimal_rule, write_rules

#: the site's rule: an adult whose chief complaint is empty
ADULT_RULE = minimal_rule(
    "quality.missing.adult_complaint",
    when={"p": {"fact": "patient", "if": {"age_years": {"gte": 18}}},
          "r": {"fact": "record", "if": {"chief_complaint_chars": 0}}})
EMPTY = {"record": {"chief_complaint": ""}}


def write_cases(folder: Path, cases: list[dict[str, Any]], name: str = "site.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(yaml.safe_dump(cases, allow_unicode=True), encoding="utf-8")
    return folder


@pytest.fixture()
def site_rules(tmp_path: Path) -> Path:
    return write_rules(tmp_path, [ADULT_RULE])


def run(site_rules: Path, tmp_path: Path, cases: list[dict[str, Any]]):
    engine = cdss.Engine(lang="en", rules_dir=site_rules)
    return run_cases(engine, load_cases(write_cases(tmp_path / "cases", cases)))


RULE = "quality.missing.adult_complaint"


def test_a_firing_case_and_a_near_miss_pass_and_cover_the_rule(site_rules, tmp_path) -> None:
    result = run(site_rules, tmp_path, [
        {"rule": RULE, "title": "empty complaint", "fires": True, "encounter": EMPTY,
         "severity": "info", "also": []},
        {"rule": RULE, "title": "a complaint", "fires": False}])
    assert result.passed and result.counts() == {"pass": 2}
    (row,) = result.coverage
    assert (row.rule_id, row.status) == (RULE, "tested")


def test_pinned_now_decides_the_age(site_rules, tmp_path) -> None:
    # born 1981-03-15: 17 years old on 1998-12-01, so the adult rule stays quiet
    result = run(site_rules, tmp_path, [
        {"rule": RULE, "title": "a minor in 1998", "fires": False, "encounter": EMPTY,
         "now": "1998-12-01T09:00:00+08:00"},
        {"rule": RULE, "title": "an adult in 1999", "fires": True, "encounter": EMPTY,
         "now": "1999-03-15T09:00:00+08:00"}])
    assert result.passed, result.to_text()


@pytest.mark.parametrize(("case", "problem"), [
    ({"fires": True}, "did not fire"),
    ({"fires": False, "encounter": EMPTY}, "fired on a near miss"),
    ({"fires": True, "encounter": EMPTY, "severity": "warning"},
     "severity info, expected warning"),
    ({"fires": True, "encounter": EMPTY, "codes": ["I10"]}, "codes [], expected ['I10']"),
    ({"fires": True, "encounter": EMPTY, "also": ["quality.missing.other"]},
     "other quality suggestions [], expected ['quality.missing.other']"),
    ({"fires": False, "encounter": EMPTY, "silent": [RULE]}, "fired (expected silent)"),
    ({"fires": False, "not_evaluated": [RULE]}, "is not reported as not evaluated"),
])
def test_a_failing_expectation_is_named(site_rules, tmp_path, case, problem) -> None:
    result = run(site_rules, tmp_path, [dict({"rule": RULE, "title": "t"}, **case)])
    assert not result.passed
    (r,) = result.results
    assert r.outcome == "fail" and any(problem in p for p in r.problems), r.problems
    assert problem in result.to_text()


def test_not_evaluated_is_checked_when_data_is_missing(site_rules, tmp_path) -> None:
    result = run(site_rules, tmp_path, [
        {"rule": RULE, "title": "no birth date", "fires": False,
         "encounter": {"record": {"chief_complaint": ""}, "patient": {"birth_date": None}},
         "not_evaluated": [RULE]}])
    assert result.passed, result.to_text()


def test_xfail_xpass_and_unknown_rules(site_rules, tmp_path) -> None:
    result = run(site_rules, tmp_path, [
        {"rule": RULE, "title": "known defect", "fires": True, "xfail": "issue 99"},
        {"rule": RULE, "title": "fixed defect", "fires": False, "xfail": True},
        {"rule": "quality.missing.nope", "title": "typo", "fires": True}])
    assert [r.outcome for r in result.results] == ["xfail", "xpass", "error"]
    assert not result.passed
    assert "no rule 'quality.missing.nope'" in result.to_text()
    # an xfail case proves nothing about the rule
    assert result.coverage[0].status == "untested"


def test_a_bad_case_file_names_file_case_and_field(tmp_path) -> None:
    folder = write_cases(tmp_path / "cases", [
        {"rule": RULE, "title": "ok", "fires": True},
        {"rule": RULE, "title": "typo", "fire": True},
        {"rule": RULE, "title": "floating now", "fires": True, "now": "2026-11-20T09:00"}])
    with pytest.raises(InputError) as info:
        load_cases(folder)
    text = str(info.value)
    assert "site.yaml#1" in text and "fire" in text and "fires" in text
    assert "site.yaml#2" in text and "time zone" in text
    assert "site.yaml#0" not in text


def test_an_empty_base_checks_the_encounter_as_written() -> None:
    case = Case(rule=RULE, title="t", fires=False, base="empty",
                encounter={"id": "e", "time": "2026-11-20T09:00:00+08:00",
                           "patient": {"id": "p"}})
    assert case.build() == {"id": "e", "time": "2026-11-20T09:00:00+08:00",
                            "patient": {"id": "p"}}


def test_cli_exit_codes_and_coverage_table(site_rules, tmp_path, capsys) -> None:
    good = write_cases(tmp_path / "good", [
        {"rule": RULE, "title": "fires", "fires": True, "encounter": EMPTY}])
    assert main(["rules", "test", str(good), "--rules", str(site_rules), "--all"]) == 0
    out = capsys.readouterr().out
    assert f"{RULE}" in out and "no near miss" in out and "1 cases: 1 pass" in out
    bad = write_cases(tmp_path / "bad", [{"rule": RULE, "title": "x", "fires": False,
                                          "encounter": EMPTY}])
    assert main(["rules", "test", str(bad), "--rules", str(site_rules)]) == EXIT_LINT
    assert "FAIL site.yaml#0" in capsys.readouterr().out
    assert main(["rules", "test", str(tmp_path / "missing")]) == EXIT_INPUT


def test_the_project_cases_pass_through_the_kit(capsys) -> None:
    cases = Path(__file__).parent / "cases"
    assert main(["rules", "test", str(cases), "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "ERROR" not in out and " pass" in out
