"""The rule language: schema, IR checks, templates, limits, lint."""

from __future__ import annotations

import pytest

import cdss
from cdss import RuleSpecError, backends
from cdss.backends.durable.ruleset import emit_ruleset
from cdss.cli import main
from cdss.kb import load_knowledge
from cdss.rulelang import build_ruleset, compile_all

from conftest import minimal_rule, write_rules

KB = load_knowledge()


def compile_one(tmp_path, rule=None, **kw):
    rules_dir = write_rules(tmp_path, [rule or minimal_rule(**kw)])
    return build_ruleset(rules_dir, KB, backends.validate_all)


def problems_of(tmp_path, rules, category="quality", templates=None) -> list[str]:
    _, problems = compile_all(write_rules(tmp_path, rules, category, templates), KB,
                              backends.validate_all)
    return [str(p) for p in problems]


def test_a_minimal_rule_compiles_to_durable_json(tmp_path) -> None:
    ruleset = compile_one(tmp_path)
    (rule,) = ruleset.rules
    _, durable = emit_ruleset(ruleset.rules)
    body = durable[rule.action]
    assert body["all"] == [{"r": {"$and": [{"t": "record"}, {"chief_complaint_chars": 0}]}}]
    assert "__sentinel__" in durable


@pytest.mark.parametrize(("when", "message"), [
    ({"r": {"fact": "recrd"}}, "unknown fact type 'recrd' (did you mean 'record'?)"),
    ({"r": {"fact": "record", "if": {"chief_complaint_char": 0}}},
     "unknown field record.chief_complaint_char (did you mean 'chief_complaint_chars'?)"),
    ({"v": {"fact": "vitals", "if": {"sbp": {"greater": 1}}}}, "unsupported operator 'greater'"),
    ({"v": {"fact": "vitals", "if": {"sbp": {"gt": "140"}}}},
     "compares vitals.sbp (number) with a string"),
    ({"v": {"fact": "vitals", "if": {"consciousness": {"gt": 1}}}},
     "compares vitals.consciousness (string) with a number"),
    ({"a": {"fact": "rx_key", "if": {"key": "warfarine"}}},
     "unknown drug or class 'warfarine' in knowledge (did you mean 'warfarin'?)"),
    ({"p": {"fact": "patient", "if": {"problem_groups": {"contains": "hypertensoin"}}}},
     "unknown condition group 'hypertensoin'"),
    ({"a": {"fact": "rx", "if": {"index": {"ne": {"ref": "b.index"}}}},
      "b": {"fact": "rx"}}, "ref 'b.index' names no earlier pattern"),
    ({"c": {"fact": "condition", "if": {"code": {"matches": "[一-龥]+"}}}},
     "regular expressions must be ASCII"),
    ({"v": {"fact": "vitals", "if": {"sbp": {"gt": 0.00001}}}}, "exponent"),
    ({"v": {"fact": "vitals", "if": {"sbp": {"contains": 1}}}}, "is a number, not a list"),
    ({"v": {"fact": "vitals", "if": {"sbp": {"in": []}}}}, "expects a non-empty list"),
])
def test_condition_problems_name_file_rule_and_field(tmp_path, when, message) -> None:
    (problem,) = problems_of(tmp_path, [minimal_rule(when=when)])
    assert problem.startswith("rules/quality/test.yaml rule 'quality.missing.test_rule': ")
    assert message in problem


@pytest.mark.parametrize(("change", "message"), [
    ({"kind": "dose_high"}, "kind 'dose_high' is not a quality kind"),
    ({"title": {"zh": "测试"}}, "title.en: Field required"),
    ({"message": {"zh": "测试", "en": ""}}, "message.en: String should have at least 1"),
    ({"references": []}, "references: Tuple should have at least 1 item"),
    ({"severity": "urgent"}, "severity: Input should be 'info', 'warning' or 'critical'"),
    ({"id": "Bad Id"}, "id: String should match pattern"),
    ({"category": "dosing"}, "category 'dosing' does not match the folder 'quality'"),
    ({"message": {"zh": "{r.chief_complaint}", "en": "x"}},
     "placeholder {r.chief_complaint}: record facts have no field 'chief_complaint'"),
    ({"message": {"zh": "{q.x}", "en": "x"}}, "placeholder {q.x} names no pattern"),
    ({"python": "__import__('os')"}, "python: Extra inputs are not permitted"),
])
def test_spec_problems(tmp_path, change, message) -> None:
    problems = problems_of(tmp_path, [minimal_rule(**change)])
    assert len(problems) == 1 and message in problems[0], problems


def test_duplicate_ids_are_reported(tmp_path) -> None:
    problems = problems_of(tmp_path, [minimal_rule(), minimal_rule()])
    assert problems == ["rules/quality/test.yaml rule 'quality.missing.test_rule': duplicate "
                        "rule id (first in rules/quality/test.yaml)"]


def test_all_problems_are_collected(tmp_path) -> None:
    rules = [minimal_rule("quality.missing.a", severity="x"),
             minimal_rule("quality.missing.b", kind="y")]
    assert len(problems_of(tmp_path, rules)) == 2
    with pytest.raises(RuleSpecError, match="and 1 more problems"):
        build_ruleset(write_rules(tmp_path, rules), KB)


def test_template_expands_one_rule_per_knowledge_row(tmp_path) -> None:
    template = {"over": "interactions", "severity_map": {"contraindicated": "critical",
                                                          "major": "warning",
                                                          "moderate": "info"},
                "rule": {"id": "dosing.interaction.t_{row.id}", "version": 1,
                         "kind": "interaction", "severity": "{row.severity}",
                         "title": {"zh": "{a.name_zh}", "en": "{a.name_en}"},
                         "message": "{row.effect}", "recommendation": "{row.action}",
                         "references": [{"title": "{row.source.title}"}],
                         "when": {"a": {"fact": "rx_key", "if": {"key": "{row.a}"}},
                                  "b": {"fact": "rx_key", "if": {"key": "{row.b}"}}}}}
    ruleset = build_ruleset(write_rules(tmp_path, [], "dosing", [template]), KB)
    assert len(ruleset.rules) == len(KB.interactions)
    by_id = {r.id: r for r in ruleset.rules}
    simva = by_id["dosing.interaction.t_simvastatin_clarithromycin"]
    assert simva.spec.severity == "critical"


def test_template_with_unknown_row_field(tmp_path) -> None:
    template = {"over": "interactions",
                "rule": minimal_rule("dosing.interaction.t_{row.nope}")}
    problems = problems_of(tmp_path, [], "dosing", [template])
    assert "template field row.nope is not a column of interactions" in problems[0]


def test_yaml_is_read_safely(tmp_path) -> None:
    folder = tmp_path / "rules" / "quality"
    folder.mkdir(parents=True)
    (folder / "evil.yaml").write_text("rules: !!python/object/apply:os.system ['true']\n")
    _, problems = compile_all(tmp_path / "rules", KB)
    assert "not valid YAML" in str(problems[0])


def test_bundled_rules_lint_clean(capsys) -> None:
    assert main(["rules", "lint"]) == 0
    assert ": ok" in capsys.readouterr().out


def test_lint_reports_problems_and_fails(tmp_path, capsys) -> None:
    rules_dir = write_rules(tmp_path, [minimal_rule(kind="nope")])
    assert main(["rules", "lint", "--rules", str(rules_dir)]) == 1
    assert "kind 'nope'" in capsys.readouterr().out


def test_a_custom_rules_folder_drives_the_engine(tmp_path) -> None:
    engine = cdss.Engine(rules_dir=write_rules(tmp_path, [minimal_rule()]))
    report = engine.check({"id": "e", "time": "2026-11-20T09:00:00", "patient": {"id": "p"},
                           "record": {"chief_complaint": " "}})
    assert [s.rule_id for s in report.suggestions] == ["quality.missing.test_rule"]
