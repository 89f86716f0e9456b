"""One bad record never aborts an audit or a screen (issue #12, item 3).

A JSONL file mixing good lines with every kind of bad one (bytes that are not UTF-8, a
BOM, a character cut in half at the end of the file, U+2028 inside a string, text that
is not JSON, JSON that is not an object, a record whose check raises something other
than an InputError) is audited whole: every non-blank line is either checked or one
entry of ``errors`` with its line, in one process, on Dask, in ``screen`` and through
the command line.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

import cdss
from cdss.audit import AuditResult
from cdss.batch import BOM, BadLine, numbered_lines, split_lines
from cdss.cli import main
from cdss.engine import Engine

from conftest import SAMPLES

BOOM = "boom"  # the record whose check raises (see raise_for_boom)
SECRET = "Zhang San 330102"  # in the exception's text: must never reach errors
CUT_CHAR = "中".encode()[:2]  # a Chinese character cut in half


def good(n: int, **extra: Any) -> dict[str, Any]:
    """A valid encounter: a bundled sample under a new id."""
    paths = sorted(SAMPLES.glob("enc-*.json"))
    enc = json.loads(paths[n % len(paths)].read_text(encoding="utf-8"))
    return {**enc, "id": f"g{n}", **extra}


def dumped(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def with_bad_byte(obj: dict[str, Any]) -> tuple[bytes, int]:
    """``obj`` as JSON with a 0xFF byte inside a string, and that byte's place (from 1)."""
    line = dumped({**obj, "note": "ab"})
    at = line.index(b'"ab"') + 2
    return line[:at] + b"\xff" + line[at:], at + 1


def mixed_lines() -> tuple[list[bytes], dict[int, str]]:
    """The lines of the mixed file (without their "\\n") and the expected error of each
    bad line by line number."""
    bad_byte, at = with_bad_byte(good(3))
    lines = [
        BOM + dumped(good(1)),                                       # 1 BOM: still read
        dumped(good(2)),                                             # 2
        bad_byte,                                                    # 3 not UTF-8
        b"",                                                         # 4 blank: skipped
        dumped(good(5, note="第一行\u2028第二行\u2029三\x85四")),     # 5 U+2028 in a string
        b"{oops",                                                    # 6 not JSON
        b"[1, 2]",                                                   # 7 a list
        b"42",                                                       # 8 a number
        dumped(good(9, id=BOOM)),                                    # 9 check raises
        dumped(good(10)) + b"\r",                                    # 10 Windows ending
        b"   ",                                                      # 11 blank
        dumped(good(12)),                                            # 12
        dumped(good(13))[:-1] + b', "x": "' + CUT_CHAR,              # 13 cut at EOF
    ]
    errors = {3: f"not UTF-8 at byte {at} of the line", 6: "not valid JSON",
              7: "expected a JSON object", 8: "expected a JSON object",
              9: "internal error of cdss (ZeroDivisionError)", 13: "not UTF-8 at byte"}
    return lines, errors


CHECKED_IDS = ["g1", "g2", "g5", "g10", "g12"]


def write_mixed(path: Path) -> Path:
    lines, _ = mixed_lines()
    path.write_bytes(b"\n".join(lines))  # no "\n" after the cut character: the end of file
    return path


def raise_for_boom(original: Any) -> Any:
    """``Engine.findings`` (or ``check``) that raises a non-InputError for the record
    ``BOOM``, with patient-looking text in the exception."""
    def patched(self: Engine, encounter: Any, *args: Any, **kwargs: Any) -> Any:
        enc_id = encounter.get("id") if isinstance(encounter, dict) else encounter.id
        if enc_id in (BOOM, f"screen:{BOOM}"):
            raise ZeroDivisionError(SECRET)
        return original(self, encounter, *args, **kwargs)
    return patched


@pytest.fixture
def boom(monkeypatch) -> None:
    monkeypatch.setattr(Engine, "findings", raise_for_boom(Engine.findings))
    monkeypatch.setattr(Engine, "check", raise_for_boom(Engine.check))


@pytest.fixture(scope="module")
def python_engine() -> cdss.Engine:
    return cdss.Engine(backend="python", lang="en")


def assert_mixed_result(result: AuditResult, prefix: str = "") -> None:
    lines, expected = mixed_lines()
    non_blank = sum(1 for line in lines if line.strip())
    assert result.checked + len(result.errors) == result.inputs == non_blank
    assert [r["encounter_id"] for r in result.records] == CHECKED_IDS
    assert [e["input"] for e in result.errors] == [f"{prefix}line {n}" for n in expected]
    for error, (n, fragment) in zip(result.errors, expected.items(), strict=True):
        assert fragment in error["error"], (n, error)
        assert SECRET not in error["error"] and "Traceback" not in error["error"]
    by_line = {e["input"]: e for e in result.errors}
    assert by_line[f"{prefix}line 9"]["encounter_id"] == BOOM  # the id of a record that failed


# ------------------------------------------------------------------ reading lines

def test_lines_split_on_newline_only_and_decode_one_by_one() -> None:
    data = BOM + b'{"a": "x\xe2\x80\xa8y"}\r\n\n  \nbad \xff\n\xe4\xb8'
    lines = split_lines(data)
    assert len(lines) == 5 and split_lines(data + b"\n") == lines
    got = list(numbered_lines(lines))
    assert got == [("line 1", '{"a": "x\u2028y"}\r'), ("line 4", BadLine(5)),
                   ("line 5", BadLine(1))]
    assert split_lines(b"") == [] and split_lines(b"\n") == [b""]
    assert BadLine(5).message("en") == "not UTF-8 at byte 5 of the line"
    assert "UTF-8" in BadLine(5).message("zh") and "第 5 字节" in BadLine(5).message("zh")


# ------------------------------------------------------------------ one process

@pytest.mark.parametrize("backend", ["python", "durable"])
def test_a_mixed_file_is_audited_whole(boom, tmp_path, backend, python_engine,
                                       engine) -> None:
    path = write_mixed(tmp_path / "mixed.jsonl")
    use = python_engine if backend == "python" else engine
    result = use.audit(path, lang="en", progress=False)
    assert_mixed_result(result)
    lean = use.audit(path, lang="en", progress=False, keep_rows=False)
    assert (lean.checked, lean.errors, lean.tally) == (result.checked, result.errors,
                                                       result.tally)
    # the checked lines give the rows they give alone
    alone = use.audit([good(n) for n in (1, 2, 5, 10, 12)], lang="en", progress=False)
    unlabelled = lambda rows: [{**r, "input": None} for r in rows]  # noqa: E731
    assert unlabelled(alone.rows) == unlabelled(result.rows)  # item N there, line N here
    assert alone.tally == result.tally


def test_internal_errors_are_reported_in_the_audit_language(boom, tmp_path,
                                                            python_engine) -> None:
    result = python_engine.audit(write_mixed(tmp_path / "mixed.jsonl"), lang="zh")
    messages = {e["input"]: e["error"] for e in result.errors}
    assert "cdss 内部错误（ZeroDivisionError）" in messages["line 9"]
    assert "不是 UTF-8 编码" in messages["line 3"]


def test_an_interrupt_still_stops_the_audit(monkeypatch, tmp_path, python_engine) -> None:
    def interrupted(self: Engine, encounter: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(Engine, "findings", interrupted)
    with pytest.raises(KeyboardInterrupt):
        python_engine.audit([good(1)])
    monkeypatch.setattr(Engine, "check", interrupted)
    with pytest.raises(KeyboardInterrupt):
        python_engine.screen([{"patient": {"id": "p"}}], as_of="2026-05-01")


def hostile_lines() -> list[bytes]:
    """Reproducers of the issue that raised other errors than InputError (whether they
    are errors or notes now is for the parser to say; never the end of the audit)."""
    def rx(dose: str) -> dict[str, Any]:
        return {"drug": "metformin", "dose": dose, "frequency": "bid", "route": "oral"}
    base = good(7)
    return [
        dumped({**base, "id": "h1", "prescriptions": [rx("5 mg/0")]}),
        dumped({**base, "id": "h2", "prescriptions": [rx("5 IU**0")]}),
        dumped({**base, "id": "h3", "prescriptions": [rx("5 1e308**2")]}),
        dumped({**base, "id": "h4", "labs": [{"code": "creatinine"}, {"unit": "g/L"}]}),
        dumped({**base, "id": "h5", "vitals": {"sbp": 1e15}}),
        dumped({**base, "id": "h6", "time": "9999-12-31T23:59:59"}),
        b'{"id": "h7", "n": ' + b"9" * 5000 + b"}",
        b"[" * 10_000 + b"]" * 10_000,
        dumped({**base, "id": "h9", "vitals": {"sbp": "1" * 400}}),
        dumped(good(8)),
    ]


def test_hostile_records_never_end_the_audit(tmp_path, python_engine) -> None:
    lines = hostile_lines()
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = python_engine.audit(path, lang="en", progress=False)
    assert result.checked + len(result.errors) == result.inputs == len(lines)
    assert "g8" in [r["encounter_id"] for r in result.records]
    assert all(SECRET not in e["error"] for e in result.errors)


# ------------------------------------------------------------------ Dask

def _patch_workers(on: bool) -> Any:
    """A function for ``client.run`` that (un)patches ``Engine.findings`` in a worker
    (defined inside a function so that it is pickled by value, not by module)."""
    def run() -> None:
        from cdss.engine import Engine as WorkerEngine

        if on:
            original = WorkerEngine.findings
            WorkerEngine._original_findings = original  # type: ignore[attr-defined]

            def findings(self: Any, encounter: Any, *args: Any, **kwargs: Any) -> Any:
                if encounter.id == "boom":
                    raise ZeroDivisionError("Zhang San 330102")
                return original(self, encounter, *args, **kwargs)
            WorkerEngine.findings = findings  # type: ignore[method-assign]
        elif hasattr(WorkerEngine, "_original_findings"):
            WorkerEngine.findings = WorkerEngine._original_findings  # type: ignore[method-assign]
            del WorkerEngine._original_findings
    return run


def test_a_mixed_file_is_audited_whole_on_dask(boom, tmp_path, python_engine) -> None:
    distributed = pytest.importorskip("distributed", reason="needs pip install 'cdss[dask]'")
    from cdss.distributed import audit_dask

    path = write_mixed(tmp_path / "mixed.jsonl")
    want = python_engine.audit(path, lang="en", progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        client.run(_patch_workers(True))
        try:
            for block_bytes in (97, 1 << 20):  # lines spread over many blocks; one block
                got = audit_dask(path, client=client, engine_options=python_engine.options,
                                 block_bytes=block_bytes, lang="en")
                assert_mixed_result(got)
                assert got == want
            listed = audit_dask([path], client=client, engine_options=python_engine.options,
                                block_bytes=300, lang="en")
            assert_mixed_result(listed, prefix=f"{path}: ")
        finally:
            client.run(_patch_workers(False))


# ------------------------------------------------------------------ screen

def entry(pid: str, **extra: Any) -> dict[str, Any]:
    """A managed hypertensive patient last seen 120 days before 2026-05-01 (overdue)."""
    return {"patient": {"id": pid, "sex": "male", "birth_date": "1960-01-01",
                        "conditions": [{"code": "I10", "name": "原发性高血压"}]},
            "history": {"followups": [{"date": "2026-01-01", "condition": "I10",
                                       "sbp": 132, "dbp": 84}]}, **extra}


def screen_lines() -> tuple[list[bytes], dict[int, str]]:
    bad_byte, at = with_bad_byte(entry("p3"))
    lines = [
        BOM + dumped(entry("p1")),                                   # 1 BOM
        dumped(entry("p2", note="甲\u2028乙\u2029丙\x85丁")),          # 2 U+2028 in a string
        bad_byte,                                                    # 3 not UTF-8
        b"",                                                         # 4 blank
        b"{oops",                                                    # 5 not JSON
        b"[1, 2]",                                                   # 6 a list
        b"7",                                                        # 7 a number
        dumped(entry(BOOM)),                                         # 8 check raises
        b"[" * 10_000 + b"]" * 10_000,                               # 9 nested too deep
        dumped(entry("p10")),                                        # 10
        dumped(entry("p11"))[:-1] + b', "x": "' + CUT_CHAR,          # 11 cut at EOF
    ]
    errors = {3: f"not UTF-8 at byte {at} of the line", 5: "not valid JSON",
              6: "patient", 7: "patient", 8: "internal error of cdss (ZeroDivisionError)",
              9: "not valid JSON", 11: "not UTF-8 at byte"}
    return lines, errors


def test_a_mixed_registry_is_screened_whole(boom, tmp_path, python_engine) -> None:
    lines, expected = screen_lines()
    path = tmp_path / "registry.jsonl"
    path.write_bytes(b"\n".join(lines))
    result = python_engine.screen(path, as_of="2026-05-01", lang="en")
    non_blank = sum(1 for line in lines if line.strip())
    assert result.screened + len(result.errors) == non_blank
    assert [e["input"] for e in result.errors] == [f"line {n}" for n in expected]
    for error, fragment in zip(result.errors, expected.values(), strict=True):
        assert fragment in error["error"] and SECRET not in error["error"], error
    # the good entries (p2 despite its U+2028) are all overdue: one row each
    assert sorted(r["patient_id"] for r in result.rows) == ["p1", "p10", "p2"]


def test_a_json_list_with_a_bad_entry_is_screened_whole(boom, tmp_path,
                                                        python_engine) -> None:
    bad_byte, _ = with_bad_byte(entry("p2"))
    data = BOM + b"[" + b", ".join([dumped(entry("p1")), bad_byte, b"[1]",
                                    dumped(entry(BOOM)), dumped(entry("p5"))]) + b"]"
    path = tmp_path / "registry.json"
    path.write_bytes(data)
    for source in (path, data):
        result = python_engine.screen(source, as_of="2026-05-01", lang="en")
        assert result.screened == 2 and len(result.errors) == 3
        assert [e["input"] for e in result.errors] == ["item 1", "item 2", "item 3"]
        assert result.errors[0]["error"] == "not UTF-8"
        assert "internal error of cdss" in result.errors[2]["error"]
        assert sorted(r["patient_id"] for r in result.rows) == ["p1", "p5"]
    path.write_bytes(b'[{"patient": ')
    with pytest.raises(cdss.InputError, match="not a JSON document at line 1"):
        python_engine.screen(path, as_of="2026-05-01")


# ------------------------------------------------------------------ command line

def test_cli_audit_of_a_mixed_file_exits_0_and_writes_the_errors(boom, tmp_path,
                                                                 capsys) -> None:
    path = write_mixed(tmp_path / "mixed.jsonl")
    out = tmp_path / "out"
    status = main(["audit", str(path), "--out", str(out), "--lang", "en", "--no-progress"])
    assert status == 0, capsys.readouterr().err
    _, expected = mixed_lines()
    with (out / "errors.csv").open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["input"] for r in rows] == [f"line {n}" for n in expected]
    assert all(SECRET not in r["error"] for r in rows)
    assert f"checked={len(CHECKED_IDS)}" in capsys.readouterr().err


def test_cli_screen_of_a_mixed_file_exits_0_and_writes_the_errors(boom, tmp_path,
                                                                  capsys, monkeypatch) -> None:
    lines, expected = screen_lines()
    path = tmp_path / "registry.jsonl"
    path.write_bytes(b"\n".join(lines))
    args = ["--as-of", "2026-05-01", "--format", "json", "--lang", "en"]
    assert main(["screen", str(path), *args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["screened"] == 3  # p1, p2 (U+2028) and p10
    assert [e["input"] for e in out["errors"]] == [f"line {n}" for n in expected]
    # a JSON list on stdin, read as bytes: a bad byte spoils its entry only
    bad_byte, _ = with_bad_byte(entry("p2"))
    data = b"[" + dumped(entry("p1")) + b", " + bad_byte + b"]"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    assert main(["screen", "-", *args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["screened"] == 1 and [e["input"] for e in out["errors"]] == ["item 1"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"{oops"), encoding="utf-8"))
    assert main(["screen", "-", *args]) == 2
    assert "not a JSON document" in capsys.readouterr().err


def test_the_id_of_a_failed_record_is_kept_only_when_plain() -> None:
    from cdss.audit import MAX_ERROR_ID, _id_of

    assert _id_of('{"id": "e-1", "time": "x"}') == "e-1" and _id_of({"id": 7}) == 7
    assert _id_of({"id": "x" * 10_000}) == "x" * MAX_ERROR_ID
    assert _id_of({"id": 10 ** 1000}) is None and _id_of({"id": ["a"]}) is None
    assert _id_of("[" * 10_000) is None and _id_of(b"\xff") is None and _id_of(42) is None
