"""The command line: outputs, exit codes, and never a bare traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cdss.cli import main

from conftest import SAMPLES


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cdss", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_check_prints_report_json(capsys) -> None:
    assert main(["check", str(SAMPLES / "enc-007.json")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["encounter_id"] == "enc-007" and data["suggestions"]
    for s in data["suggestions"]:
        assert s["evidence"] and s["references"]


@pytest.mark.parametrize(("fmt", "marker"), [("text", "[CRITICAL]"), ("cds-hooks", '"cards"')])
def test_check_formats(capsys, fmt, marker) -> None:
    assert main(["check", str(SAMPLES / "enc-007.json"), "--format", fmt, "--lang", "en"]) == 0
    assert marker in capsys.readouterr().out


def test_check_reads_stdin() -> None:
    done = cli("check", "-", stdin=(SAMPLES / "enc-001.json").read_text(encoding="utf-8"))
    assert done.returncode == 0 and json.loads(done.stdout)["encounter_id"] == "enc-001"


@pytest.mark.parametrize(("stdin", "needle"), [
    ("not json", "not valid JSON"),
    ('{"id": "e", "time": "2026-11-20T09:00:00", "patient": {}}', "patient.id"),
    ('{"id": "e", "time": "x", "patient": {"id": "p", "weight": "5 mmHg"}}', "patient.weight"),
])
def test_bad_input_exits_2_with_a_message_and_no_traceback(stdin, needle) -> None:
    done = cli("check", "-", stdin=stdin)
    assert done.returncode == 2
    assert needle in done.stderr and "Traceback" not in done.stderr and done.stdout == ""


def test_missing_file() -> None:
    done = cli("check", "/no/such/file.json")
    assert done.returncode == 2 and "file not found" in done.stderr
    assert "Traceback" not in done.stderr


def test_broken_rules_folder_is_a_configuration_error(tmp_path) -> None:
    (tmp_path / "quality").mkdir()
    (tmp_path / "quality" / "x.yaml").write_text("rules: [{id: 1}]", encoding="utf-8")
    done = cli("check", str(SAMPLES / "enc-001.json"), "--rules", str(tmp_path))
    assert done.returncode == 3 and "configuration error" in done.stderr
    assert "Traceback" not in done.stderr


def test_demo_summarises_every_sample() -> None:
    done = cli("demo", "--lang", "en")
    assert done.returncode == 0, done.stderr
    for path in sorted(SAMPLES.glob("*.json")):
        assert path.stem in done.stdout
    assert "Total: critical" in done.stdout and "ms" in done.stdout


def test_chinese_demo_names_severities_in_chinese() -> None:
    done = cli("demo")
    assert done.returncode == 0, done.stderr
    assert "合计: 危急 " in done.stdout and "    警告 " in done.stdout
    assert "WARNING" not in done.stdout and "critical" not in done.stdout


def test_rules_list(capsys) -> None:
    assert main(["rules", "list", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"diagnosis", "dosing", "quality"} <= {r["category"] for r in rows}
    assert main(["rules", "list", "--category", "quality"]) == 0
    assert "quality.missing.chief_complaint" in capsys.readouterr().out


def test_version_and_help() -> None:
    assert cli("--version").stdout.startswith("cdss ")
    assert cli("--help").returncode == 0
    assert cli().returncode == 2  # argparse: a command is required
