"""Evaluation receipts and ``cdss verify`` (issue #16): a report says what it was computed
from, the same input and clock reproduce it byte for byte, and any change of rules,
knowledge or input shows in the hashes."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

import cdss
from cdss import cli
from cdss._resources import knowledge_dir, rules_dir
from cdss.receipt import fixed_clock, input_sha256

from _encounters import encounter, rx, with_rx

CLOCK = fixed_clock(datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
ENC = with_rx(rx("paracetamol", "1 g", "qid"), rx("布洛芬", "400 mg", "tid"))


@pytest.fixture(scope="module")
def engine() -> cdss.Engine:
    return cdss.Engine(lang="en", clock=CLOCK)


def test_every_report_carries_a_receipt(engine: cdss.Engine) -> None:
    receipt = engine.check(ENC).to_dict()["receipt"]
    assert set(receipt) == {"engine_version", "backend", "rules_sha256", "knowledge_sha256",
                            "input_sha256", "now", "now_source", "evaluated_at"}
    assert receipt["engine_version"] == cdss.__version__
    assert receipt["backend"] == "durable"
    for name in ("rules_sha256", "knowledge_sha256", "input_sha256"):
        assert len(receipt[name]) == 64 and int(receipt[name], 16) >= 0
    # "now" is the visit's own instant, with its zone; evaluation time is the clock's
    assert receipt["now"] == "2026-11-20T09:30:00+08:00"
    assert receipt["now_source"] == "encounter.time"
    assert receipt["evaluated_at"] == "2026-12-01T08:00:00+00:00"


def test_the_default_clock_is_the_wall_clock() -> None:
    before = datetime.now(UTC)
    stamp = datetime.fromisoformat(cdss.Engine().check(ENC).to_dict()["receipt"]["evaluated_at"])
    assert before <= stamp <= datetime.now(UTC)


def test_same_input_and_clock_reproduce_byte_for_byte(engine: cdss.Engine) -> None:
    other = cdss.Engine(lang="en", clock=CLOCK)
    assert engine.check(ENC).to_json() == other.check(json.dumps(ENC)).to_json()


def test_the_input_hash_ignores_formatting_and_sees_every_value() -> None:
    text = json.dumps(ENC, indent=4, ensure_ascii=True)
    assert input_sha256(ENC) == input_sha256(text) == input_sha256(text.encode())
    changed = with_rx(rx("paracetamol", "1 g", "tid"), rx("布洛芬", "400 mg", "tid"))
    assert input_sha256(changed) != input_sha256(ENC)


def test_the_backend_is_named(engine: cdss.Engine) -> None:
    python = cdss.Engine(lang="en", clock=CLOCK, backend="python")
    a, b = engine.check(ENC).to_dict(), python.check(ENC).to_dict()
    assert b["receipt"]["backend"] == "python"
    assert a["receipt"]["rules_sha256"] == b["receipt"]["rules_sha256"]


def _knowledge_copy(tmp_path: Path) -> Path:
    root = tmp_path / "knowledge"
    shutil.copytree(knowledge_dir(), root)
    return root


def _edit_paracetamol_limit(root: Path, max_daily: float) -> None:
    for path in (root / "drugs").glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for drug in data["drugs"]:
            if drug["id"] == "paracetamol":
                for dose in drug.get("doses", []):
                    if dose["route"] == "oral" and "max_daily" in dose:
                        dose["max_daily"] = max_daily
                path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
                return
    raise AssertionError("paracetamol not found")


def test_a_changed_knowledge_row_changes_the_knowledge_hash(tmp_path: Path,
                                                             engine: cdss.Engine) -> None:
    root = _knowledge_copy(tmp_path)
    copy = cdss.Engine(lang="en", clock=CLOCK, knowledge_dir=root)
    assert copy.pins.knowledge_sha256 == engine.pins.knowledge_sha256  # same bytes
    _edit_paracetamol_limit(root, 3000)
    edited = cdss.Engine(lang="en", clock=CLOCK, knowledge_dir=root)
    assert edited.pins.knowledge_sha256 != engine.pins.knowledge_sha256
    assert edited.pins.rules_sha256 == engine.pins.rules_sha256


def test_a_changed_rule_changes_the_rules_hash(tmp_path: Path, engine: cdss.Engine) -> None:
    root = tmp_path / "rules"
    shutil.copytree(rules_dir(), root)
    path = root / "dosing" / "dose.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("severity: warning",
                                                             "severity: critical", 1),
                    encoding="utf-8")
    edited = cdss.Engine(lang="en", clock=CLOCK, rules_dir=root)
    assert edited.pins.rules_sha256 != engine.pins.rules_sha256
    assert edited.pins.knowledge_sha256 == engine.pins.knowledge_sha256


def test_pinned_hashes_are_enforced(engine: cdss.Engine) -> None:
    pins = engine.pins
    cdss.Engine(pin_rules=pins.rules_sha256, pin_knowledge=pins.knowledge_sha256)
    with pytest.raises(cdss.RuleSpecError, match="not the pinned pack"):
        cdss.Engine(pin_rules="0" * 64)
    with pytest.raises(cdss.KnowledgeError, match="not the pinned"):
        cdss.Engine(pin_knowledge="0" * 64)


# ------------------------------------------------------------------ cdss verify
@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    enc_path = tmp_path / "enc.json"
    enc_path.write_text(json.dumps(ENC, ensure_ascii=False), encoding="utf-8")
    return enc_path, tmp_path / "report.json"


def _check_to(enc_path: Path, report_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert cli.main(["check", str(enc_path), "--lang", "en"]) == 0
    text = capsys.readouterr().out
    report_path.write_text(text, encoding="utf-8")
    return text


def test_verify_reproduces_a_report(files: tuple[Path, Path], capsys) -> None:
    enc_path, report_path = files
    _check_to(enc_path, report_path, capsys)
    assert cli.main(["verify", str(report_path), str(enc_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("reproduces") and "byte-identical: yes" in out


def test_verify_finds_an_altered_report(files: tuple[Path, Path], capsys) -> None:
    enc_path, report_path = files
    data = json.loads(_check_to(enc_path, report_path, capsys))
    assert data["suggestions"], "the encounter should have suggestions"
    data["suggestions"][0]["severity"] = "info"
    report_path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    assert cli.main(["verify", str(report_path), str(enc_path)]) == 1
    out = capsys.readouterr().out
    assert "does NOT reproduce" in out and "$.suggestions[0].severity" in out


def test_verify_names_another_input(files: tuple[Path, Path], capsys) -> None:
    enc_path, report_path = files
    _check_to(enc_path, report_path, capsys)
    enc_path.write_text(json.dumps(encounter(), ensure_ascii=False), encoding="utf-8")
    assert cli.main(["verify", str(report_path), str(enc_path)]) == 1
    assert "receipt input_sha256" in capsys.readouterr().out


def test_verify_names_changed_knowledge(files: tuple[Path, Path], tmp_path: Path,
                                       capsys) -> None:
    enc_path, report_path = files
    _check_to(enc_path, report_path, capsys)
    root = _knowledge_copy(tmp_path)
    _edit_paracetamol_limit(root, 3000)
    assert cli.main(["verify", str(report_path), str(enc_path),
                     "--knowledge", str(root)]) == 1
    assert "receipt knowledge_sha256" in capsys.readouterr().out


def test_verify_refuses_a_report_without_receipt(files: tuple[Path, Path], capsys) -> None:
    enc_path, report_path = files
    data = json.loads(_check_to(enc_path, report_path, capsys))
    del data["receipt"]
    report_path.write_text(json.dumps(data), encoding="utf-8")
    assert cli.main(["verify", str(report_path), str(enc_path)]) == cli.EXIT_INPUT
    assert "receipt" in capsys.readouterr().err


def test_verify_refuses_a_receipt_without_zone(files: tuple[Path, Path], capsys) -> None:
    enc_path, report_path = files
    data = json.loads(_check_to(enc_path, report_path, capsys))
    data["receipt"]["evaluated_at"] = "2026-12-01T08:00:00"
    report_path.write_text(json.dumps(data), encoding="utf-8")
    assert cli.main(["verify", str(report_path), str(enc_path)]) == cli.EXIT_INPUT
    assert "receipt.evaluated_at" in capsys.readouterr().err
