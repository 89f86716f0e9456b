"""Rule parameters (``$name``, ``{$name}``) and named definitions (``{use: name}``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from cdss import RuleSpecError
from cdss.kb import load_knowledge
from cdss.rulelang import compile_all
from cdss.rulelang.params import format_number, repeated_thresholds

from conftest import minimal_rule, write_rules

REPO = Path(__file__).resolve().parent.parent



@pytest.fixture(scope="module")
def kb():
    return load_knowledge(REPO / "knowledge")


def _compile(tmp_path: Path, kb, rule: dict[str, Any], define: dict | None = None,
             shared: dict | None = None):
    rules_dir = write_rules(tmp_path, [rule])
    if define is not None:
        path = rules_dir / "quality" / "test.yaml"
        body = yaml.safe_load(path.read_text(encoding="utf-8"))
        body["define"] = define
        path.write_text(yaml.safe_dump(body, allow_unicode=True), encoding="utf-8")
    if shared is not None:
        (rules_dir / "definitions.yaml").write_text(yaml.safe_dump({"define": shared}),
                                                    encoding="utf-8")
    return compile_all(rules_dir, kb)


def _rule(**overrides: Any) -> dict[str, Any]:
    return minimal_rule(**overrides)


def test_a_parameter_is_written_once_and_rendered_per_language(tmp_path, kb) -> None:
    rule = _rule(params={"limit": 20.0},
                 message={"zh": "主诉超过{$limit}字", "en": "more than {$limit} characters"},
                 when={"r": {"fact": "record", "if": {"chief_complaint_chars": {"gt": "$limit"}}}})
    (compiled,), problems = _compile(tmp_path, kb, rule)
    assert not problems
    assert compiled.spec.message.zh == "主诉超过20字"
    assert compiled.spec.message.en == "more than 20 characters"
    condition = compiled.patterns[0].condition
    assert condition.operand.value == 20.0  # the IR sees the plain literal


@pytest.mark.parametrize("value, zh, en", [(140, "140", "140"), (3.0, "3", "3"),
                                           (3.9, "3.9", "3.9"), (0.25, "0.25", "0.25"),
                                           (12000, "12000", "12,000")])
def test_numbers_render_without_trailing_zero(value, zh, en) -> None:
    assert (format_number(value, "zh"), format_number(value, "en")) == (zh, en)


@pytest.mark.parametrize("change, message", [
    ({"when": {"r": {"fact": "record", "if": {"chief_complaint_chars": {"gt": "$nope"}}}}},
     "when.r.if.chief_complaint_chars.gt: unknown parameter $nope"),
    ({"params": {"x": 1}, "message": {"zh": "{$y}", "en": "x"},
      "when": {"r": {"fact": "record", "if": {"chief_complaint_chars": {"gt": "$x"}}}}},
     "message.zh: unknown parameter {$y}"),
    ({"params": {"unused": 1}}, "params: unused declared but used nowhere"),
])
def test_parameter_problems_name_file_rule_and_name(tmp_path, kb, change, message) -> None:
    _, problems = _compile(tmp_path, kb, _rule(**change))
    assert len(problems) == 1
    assert problems[0].file.endswith("quality/test.yaml")
    assert problems[0].rule_id == "quality.missing.test_rule"
    assert message in problems[0].problem


def test_a_definition_is_expanded_in_place(tmp_path, kb) -> None:
    shared = {"adult": {"fact": "patient", "if": {"age_years": {"gte": 18}}}}
    # (write_rules sorts keys: "use" comes before "weight", so the order is kept)
    used = _rule(when={"p": {"fact": "patient", "if": {"use": "adult", "weight": {"gt": 3}}}})
    inline = _rule(when={"p": {"fact": "patient",
                               "if": {"age_years": {"gte": 18}, "weight": {"gt": 3}}}})
    (a,), problems = _compile(tmp_path / "a", kb, used, shared=shared)
    assert not problems
    (b,), _ = _compile(tmp_path / "b", kb, inline)
    assert a.patterns == b.patterns


@pytest.mark.parametrize("define, use, message", [
    ({}, "adult", "unknown definition 'adult'"),
    ({"a": {"fact": "patient", "if": {"use": "b"}},
      "b": {"fact": "patient", "if": {"use": "a"}}}, "a", "cycle: a -> b -> a"),
    ({"v": {"fact": "vitals", "if": {"sbp": {"gte": 1}}}}, "v",
     "v is a condition on vitals facts, not patient"),
    ({"a": {"fact": "patient", "if": {"sex": "male"}}}, "a",
     "sex is given by the definition and beside it"),
])
def test_definition_problems(tmp_path, kb, define, use, message) -> None:
    rule = _rule(when={"p": {"fact": "patient", "if": {"use": use, "sex": "male"}}})
    _, problems = _compile(tmp_path, kb, rule, define=define)
    assert problems and message in problems[0].problem, problems


def test_a_definition_may_not_hold_parameters(tmp_path, kb) -> None:
    define = {"a": {"fact": "patient", "if": {"age_years": {"gte": "$x"}}}}
    rule = _rule(when={"p": {"fact": "patient", "if": {"use": "a"}}})
    _, problems = _compile(tmp_path, kb, rule, define=define)
    assert problems and "parameters belong to rules" in problems[0].problem


def test_the_lint_finds_a_threshold_written_in_a_text(tmp_path, kb) -> None:
    rule = _rule(message={"zh": "主诉超过20字", "en": "more than 20 characters (NEWS2)"},
                 when={"r": {"fact": "record", "if": {"chief_complaint_chars": {"gt": 20}}}})
    (compiled,), _ = _compile(tmp_path, kb, rule)
    assert sorted(repeated_thresholds(compiled.spec)) == ["message.en: 20", "message.zh: 20"]
    allowed = dict(rule, numbers_in_text={20: "test: allowed with a reason"})
    (compiled,), _ = _compile(tmp_path / "b", kb, allowed)
    assert repeated_thresholds(compiled.spec) == []


def test_bundled_texts_render_thresholds_from_params(kb) -> None:
    rules, problems = compile_all(REPO / "rules", kb)
    assert not problems
    offending = {r.id: repeated_thresholds(r.spec) for r in rules}
    assert not {k: v for k, v in offending.items() if v}


@pytest.mark.parametrize(("bounds", "zh", "en"), [
    ({"gte": 110, "lt": 130}, "110至<130", "110 to <130"),
    ({"gte": 5, "lte": 11}, "5至11", "5 to 11"),
    ({"gt": 0.5, "lt": 5}, ">0.5至<5", ">0.5 to <5"),
    ({"lt": 80}, "<80", "<80"),
    ({"gte": 15.0}, "≥15", "≥15"),
])
def test_a_band_renders_the_rules_own_condition(tmp_path, kb, bounds, zh, en) -> None:
    rule = _rule(message={"zh": "血红蛋白 {$band:l.hemoglobin} g/L",
                          "en": "haemoglobin {$band:l.hemoglobin} g/L"},
                 when={"l": {"fact": "labs", "if": {"all": [{"hemoglobin": bounds}]}}})
    (compiled,), problems = _compile(tmp_path, kb, rule)
    assert not problems
    assert compiled.spec.message.zh == f"血红蛋白 {zh} g/L"
    assert compiled.spec.message.en == f"haemoglobin {en} g/L"


@pytest.mark.parametrize(("when", "problem"), [
    ({"l": {"fact": "labs", "if": {"any": [{"hemoglobin": {"lt": 80}},
                                           {"hemoglobin": {"gt": 200}}]}}}, "under `any`"),
    ({"l": {"fact": "labs", "if": {"potassium": {"gt": 5}}}}, "compares no hemoglobin"),
    ({"l": {"fact": "labs", "if": {"hemoglobin": {"ne": 5}}}}, "not a range"),
    ({"x": {"fact": "labs", "if": {"hemoglobin": {"lt": 80}}}}, "no pattern 'l'"),
])
def test_a_band_that_is_not_one_range_is_a_rule_spec_error(tmp_path, kb, when, problem) -> None:
    rule = _rule(message={"zh": "{$band:l.hemoglobin}", "en": "{$band:l.hemoglobin}"}, when=when)
    _, problems = _compile(tmp_path, kb, rule)
    assert problems and problem in problems[0].problem


def test_the_anaemia_bands_are_rendered_from_each_rows_condition(kb) -> None:
    rules, _ = compile_all(REPO / "rules", kb)
    by_id = {r.id: r for r in rules}
    assert "110 to <130 g/L" in by_id["diagnosis.anaemia.men_mild"].spec.message.en
    assert "（男性 <80 g/L）" in by_id["diagnosis.anaemia.men_severe"].spec.message.zh
    assert "5至11岁儿童" in by_id["diagnosis.anaemia.children_5_11_mild"].spec.title.zh


def test_shared_definitions_are_used_and_shipped() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "rules").glob("*/*.yaml"))
    assert text.count("use: adult") >= 10
    assert (REPO / "rules" / "definitions.yaml").is_file()


def test_a_broken_definitions_file_is_a_rule_spec_error(tmp_path, kb) -> None:
    rules_dir = write_rules(tmp_path, [_rule()])
    (rules_dir / "definitions.yaml").write_text("define: {a: {fact: patient}}", encoding="utf-8")
    _, problems = compile_all(rules_dir, kb)
    assert problems and isinstance(problems[0], RuleSpecError)
    assert "definitions.yaml" in problems[0].problem


def test_rules_lint_warns_about_a_threshold_written_twice(tmp_path, capsys) -> None:
    from cdss import cli

    rule = _rule(message={"zh": "主诉超过20字", "en": "more than 20 characters"},
                 when={"r": {"fact": "record", "if": {"chief_complaint_chars": {"gt": 20}}}})
    rules_dir = write_rules(tmp_path, [rule])
    status = cli.main(["rules", "lint", "--rules", str(rules_dir)])
    out = capsys.readouterr().out
    assert status == 0  # a warning, not a problem of the pack
    assert "warning:" in out and "message.en: 20" in out and "params" in out
