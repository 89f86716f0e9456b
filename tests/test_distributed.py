"""The audit on a Dask cluster gives exactly the single-process rows (issue #6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import cdss
from cdss.audit import AuditResult
from cdss.distributed import audit_dask, block_lines, blocks, read_block, worker_engines

from conftest import SAMPLES

distributed = pytest.importorskip("distributed", reason="needs pip install 'cdss[dask]'")
pd_testing = pytest.importorskip("pandas.testing", reason="needs pandas")

COPIES = 24  # of the 13 samples: 312 encounters


def batch_lines() -> list[str]:
    """The samples many times over with fresh ids, and bad lines among them."""
    samples = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(SAMPLES.glob("enc-*"))]
    lines = [json.dumps({**s, "id": f"{s['id']}-{n}"}, ensure_ascii=False)
             for n in range(COPIES) for s in samples]
    bad = {5: "{oops", 40: "", 100: json.dumps({"id": "no-time", "patient": {"id": "p"}}),
           200: "   ", 250: "[1, 2]", 301: json.dumps({"id": "no-patient", "time": "x"})}
    for at, line in sorted(bad.items()):
        lines.insert(at, line)
    return lines


def write_jsonl(path: Path, lines: list[str]) -> Path:
    # one Windows line ending: one line break (the "\r" is JSON whitespace of its line)
    path.write_bytes(("\n".join(lines[:3]) + "\r\n" + "\n".join(lines[3:]) + "\n")
                     .encode("utf-8"))
    return path


@pytest.fixture(scope="module")
def client() -> Any:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as c:
        yield c


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("dask") / "batch.jsonl", batch_lines())


@pytest.fixture(scope="module")
def expected(engine, batch) -> AuditResult:
    return engine.audit(batch)


def assert_same(got: AuditResult, want: AuditResult) -> None:
    pd_testing.assert_frame_equal(got.to_pandas(), want.to_pandas())
    pd_testing.assert_frame_equal(got.encounters_frame(), want.encounters_frame())
    assert got.errors == want.errors
    assert (got.checked, got.inputs, got.compliant) == (want.checked, want.inputs, want.compliant)
    assert got.tally == want.tally
    assert got == want  # the dataclass, field by field


@pytest.mark.parametrize("block_bytes", [4096, 700])  # 700: most lines span several blocks
def test_cluster_audit_equals_the_single_process_audit(client, engine, batch, expected,
                                                       block_bytes) -> None:
    assert len(blocks(batch.stat().st_size, block_bytes)) > len(expected.errors) * 10
    got = audit_dask(batch, client=client, engine_options=engine.options,
                     block_bytes=block_bytes)
    assert_same(got, expected)
    assert expected.checked == COPIES * 13 and len(expected.errors) == 4
    assert [e["input"] for e in got.errors] == ["line 6", "line 101", "line 251", "line 302"]
    # every worker took part and built its engine once, whatever the number of blocks
    per_worker = client.run(worker_engines)
    assert list(per_worker.values()) == [{"engines": 1, "builds": 1}] * 2


def test_several_files_name_the_file_in_error_labels(client, engine, tmp_path) -> None:
    lines = batch_lines()
    first = write_jsonl(tmp_path / "a.jsonl", lines[:60])
    second = write_jsonl(tmp_path / "b.jsonl", lines[60:120])
    got = audit_dask(str(tmp_path / "*.jsonl"), client=client, engine_options=engine.options,
                     block_bytes=2048)
    want = [engine.audit(first), engine.audit(second)]
    for path, part in zip((first, second), want, strict=True):
        for name in ("errors", "records", "rows"):  # every input label names its file
            setattr(part, name, [{**e, "input": f"{path}: {e['input']}"}
                                 for e in getattr(part, name)])
    assert_same(got, AuditResult.combine(want))
    assert [e["input"] for e in got.errors] == [f"{first}: line 6", f"{second}: line 41"]


def test_without_a_client_the_local_scheduler_runs_the_blocks(tmp_path) -> None:
    engine = cdss.Engine(backend="python")
    path = write_jsonl(tmp_path / "small.jsonl", batch_lines()[:30])
    got = audit_dask(path, engine_options=engine.options, block_bytes=1024)
    assert_same(got, engine.audit(path))
    counts_only = audit_dask(path, engine_options=engine.options, block_bytes=1024,
                             keep_rows=False)
    assert counts_only == engine.audit(path, keep_rows=False) and not counts_only.rows
    assert counts_only.summary().keys() == got.summary().keys()


def test_blocks_lose_and_duplicate_no_line(tmp_path) -> None:
    # split on "\n" only: "\r", U+2028 and U+0085 stay inside their line
    text = "\n".join(["{}", "", "a" * 50, "ü€ 中文", "x\r\ny", "", "   ", "a\u2028b\x85c", "end"])
    path = tmp_path / "lines.jsonl"
    for data in (text, text + "\n", "\n" + text):
        path.write_bytes(data.encode("utf-8"))
        with path.open("rb") as fh:
            want = [line.removesuffix(b"\n") for line in fh]
        size = path.stat().st_size
        for block_bytes in range(1, size + 2):
            parts = [read_block(path, start, end) for start, end in blocks(size, block_bytes)]
            assert b"".join(parts) == data.encode("utf-8"), block_bytes
            assert [x for p in parts for x in block_lines(p)] == want, block_bytes


def test_block_sizes_and_missing_files(tmp_path) -> None:
    assert blocks(0, 4) == []
    assert blocks(10, 4) == [(0, 4), (4, 8), (8, 10)]
    with pytest.raises(ValueError, match="positive"):
        blocks(10, 0)
    with pytest.raises(FileNotFoundError):
        audit_dask(str(tmp_path / "nothing-*.jsonl"))


def test_renumbering_relabels_each_entry_once_in_place() -> None:
    from cdss.audit import AuditResult
    from cdss.distributed import _renumbered

    shared = {"input": "line 2", "rule_id": "r"}
    part = AuditResult(keep_rows=True)
    part.records.append(shared)
    part.rows.extend([shared, {"input": "line 3"}])
    part.errors.append({"input": "line 1"})
    out = _renumbered(part, "a.jsonl: ", 10)
    assert out is part
    assert [e["input"] for e in out.rows] == ["a.jsonl: line 12", "a.jsonl: line 13"]
    assert out.records[0]["input"] == "a.jsonl: line 12"  # the shared entry, once
    assert out.errors[0]["input"] == "a.jsonl: line 11"
    first = AuditResult(keep_rows=True)
    first.errors.append({"input": "line 1"})
    assert _renumbered(first, "", 0).errors[0]["input"] == "line 1"


def _sleep_then(value: int, seconds: float) -> int:
    import time

    time.sleep(seconds)
    if value < 0:
        raise ValueError(f"task {value} fails")
    return value


def test_results_come_back_in_task_order_whatever_order_they_finish_in(client) -> None:
    from cdss.distributed import in_order

    # the first task finishes last: each result is fetched when done, yielded in order
    futures = [client.submit(_sleep_then, n, 0.4 - 0.1 * n, pure=False) for n in range(4)]
    finished: list[int] = []
    for value in in_order(client, futures):
        finished.append(value)
        assert all(f.done() for f in futures[: value + 1])
    assert finished == [0, 1, 2, 3]
    failing = [client.submit(_sleep_then, n, 0.0, pure=False) for n in (0, -1, 2)]
    with pytest.raises(ValueError, match="task -1 fails"):
        list(in_order(client, failing))


def test_the_collection_pause_ends_as_it_began_even_on_an_error() -> None:
    import gc

    from cdss.distributed import young_collections_only

    assert gc.isenabled()
    with pytest.raises(RuntimeError), young_collections_only() as collect:
        assert not gc.isenabled()
        collect()  # the young generations, by hand
        raise RuntimeError("a task failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with young_collections_only():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the caller's choice stays
    finally:
        gc.enable()


def test_a_cluster_audit_leaves_garbage_collection_on(client, engine, batch, expected) -> None:
    import gc

    got = audit_dask(batch, client=client, engine_options=engine.options, block_bytes=4096)
    assert gc.isenabled()
    assert_same(got, expected)
