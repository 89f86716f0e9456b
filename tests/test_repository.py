"""The repository's promises: README commands, CI, and clinical numbers kept out of code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not (REPO / "README.md").exists(),
                                reason="needs the source checkout")


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block and text.index(block.group(0)) < 40, "the README must start with the commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_starts_with_demo_and_test_commands() -> None:
    demo, tests = readme_commands()
    assert demo.endswith("cdss demo")
    assert "pytest" in tests and "ruff check" in tests


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert readme_commands()[1] in ci


def test_no_clinical_thresholds_in_python() -> None:
    # thresholds live in rules/ and knowledge/; code compares only with structural numbers
    pattern = re.compile(r"(>=?|<=?|==)\s*[0-9]{2,}(\.[0-9]+)?\b")
    hits = []
    for path in (REPO / "cdss").rglob("*.py"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line) and "noqa: threshold" not in line and "len(" not in line:
                hits.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_rule_language_doc_lists_every_fact_field() -> None:
    from cdss.cli import facts_markdown

    doc = (REPO / "docs" / "rule-language.md").read_text(encoding="utf-8")
    assert facts_markdown() in doc, (
        "regenerate: python -m cdss rules facts --write docs/rule-language.md")


@pytest.mark.parametrize("category", ["diagnosis", "dosing", "quality", "followup"])
def test_rule_docs_are_generated_from_the_rules(engine, category) -> None:
    from cdss.rulelang.describe import rules_markdown

    rules = [r for r in engine.rules if r.spec.category == category]
    expected = rules_markdown(rules, f"{category.capitalize()} rules ({len(rules)})")
    doc = (REPO / "docs" / "rules" / f"{category}.md").read_text(encoding="utf-8")
    assert doc == expected, (
        f"regenerate: python -m cdss rules doc {category} --lang en --write "
        f"docs/rules/{category}.md")
