"""Shared fixtures: one engine per test session, and rule files written on the fly."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

import cdss

SAMPLES = Path(cdss.__file__).parent / "samples"


@pytest.fixture(scope="session")
def engine() -> cdss.Engine:
    return cdss.Engine()


@pytest.fixture(scope="session")
def engine_en() -> cdss.Engine:
    return cdss.Engine(lang="en")


def sample(name: str) -> dict[str, Any]:
    """A bundled sample encounter by file stem (``enc-001``)."""
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def minimal_rule(rule_id: str = "quality.missing.test_rule", **overrides: Any) -> dict[str, Any]:
    """A valid rule mapping, to be modified by a test."""
    rule: dict[str, Any] = {
        "id": rule_id,
        "version": 1,
        "kind": "missing",
        "severity": "info",
        "title": {"zh": "测试", "en": "test"},
        "message": {"zh": "测试", "en": "test"},
        "recommendation": {"zh": "测试", "en": "test"},
        "references": [{"title": "test"}],
        "when": {"r": {"fact": "record", "if": {"chief_complaint_chars": 0}}},
    }
    rule.update(overrides)
    return rule


def write_rules(root: Path, rules: list[dict[str, Any]], category: str = "quality",
                templates: list[dict[str, Any]] | None = None) -> Path:
    """Write a rules folder with one file and return it."""
    folder = root / "rules" / category
    folder.mkdir(parents=True, exist_ok=True)
    body: dict[str, Any] = {"rules": rules}
    if templates:
        body["templates"] = templates
    (folder / "test.yaml").write_text(yaml.safe_dump(body, allow_unicode=True), encoding="utf-8")
    return root / "rules"


#: subprocess code of a durable-rules test ruleset, ``body``: the sentinel rule, a join of
#: two facts ("pair": ``b.x == a.x``) and a one-fact rule ("one": ``t == c``); the durable
#: tests add a rule of their own and register it
DURABLE_TEST_BODY = """
body = {"s": {"all": [{"m": {"t": "__sentinel__"}}], "run": "__sentinel__"},
        "pair": {"all": [{"a": {"t": "a"}},
                         {"b": {"$and": [{"t": "b"}, {"x": {"a": "x"}}]}}],
                 "run": "pair"},
        "one": {"all": [{"m": {"t": "c"}}], "run": "one"}}
"""


def run_isolated(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run Python code in a fresh interpreter, so a crash fails a test, not the runner."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout)
