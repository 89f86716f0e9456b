"""Parquet partitioned by month and site, re-run incrementally; Dask workers write the
same partitions as one process (issue #18)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import cdss
from cdss._resources import knowledge_dir
from cdss.audit_parquet import (
    MANIFEST,
    partition_dir,
    read_manifest,
    read_partitioned,
    write_partitioned,
)
from cdss.cli import main
from cdss.synthetic import encounters

pd = pytest.importorskip("pandas", reason="needs pandas (cdss[jupyter])")
pa_parquet = pytest.importorskip("pyarrow.parquet", reason="needs pyarrow (cdss[jupyter])")

#: a site name a path or a Hive reader would misread
ODD_SITE = "a/b%c=d 村"


def _lines(n: int, *, seed: int = 0, months: int = 3) -> list[str]:
    out = []
    for i, enc in enumerate(encounters(n, seed=seed, months=months)):
        assert isinstance(enc, dict)
        if i % 7 == 0:
            enc["site"] = ODD_SITE
        if i % 11 == 0:
            enc.pop("site", None)  # not recorded
        out.append(json.dumps(enc, ensure_ascii=False))
    # unreadable lines (placed apart) and a bad encounter with a month (its partition)
    out[3:3] = ["{oops", json.dumps({"id": "no-patient", "time": out and "2026-11-02T09:00:00"})]
    return out


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def engine() -> cdss.Engine:
    return cdss.Engine(lang="en", backend="python")


@pytest.fixture
def batch(tmp_path: Path) -> Path:
    return _write(tmp_path / "batch.jsonl", _lines(120))


def _files(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*.parquet")}


def test_layout_is_month_then_site_and_reads_back_through_pandas(engine, batch, tmp_path):
    out = tmp_path / "out"
    run = write_partitioned(engine, batch, out)
    whole = engine.audit(batch, progress=False)
    months = {r["month"] for r in whole.records}
    assert len(months) == 3
    parts = {(r["month"], r["site"]) for r in whole.records}
    assert set(run.recomputed) == {partition_dir(p) for p in parts} | {"month=/site="}
    for part in parts:
        assert (out / "encounters" / partition_dir(part)).is_dir()
    assert (out / "encounters" / "month=2026-11" / "site=a%2Fb%25c%3Dd%20村").is_dir()
    assert (out / "errors" / "month=" / "site=").is_dir()  # lines with no month

    frame = pd.read_parquet(out / "encounters")  # Hive partitions: month and site come back
    frame["site"] = frame["site"].astype(str)
    frame["month"] = frame["month"].astype(str)
    assert ODD_SITE in set(frame["site"]) and "" in set(frame["site"])
    want = whole.encounters_frame()
    got = frame.set_index("input").loc[want["input"]].reset_index()
    for column in ("encounter_id", "physician", "site", "month", "suggestions"):
        assert got[column].tolist() == want[column].tolist(), column
    assert [None if v != v else v for v in got["compliant"].tolist()] == \
        want["compliant"].tolist()
    assert [list(v) for v in got["quality_findings"]] == want["quality_findings"].tolist()
    schema = pa_parquet.read_schema(next((out / "suggestions").rglob("*.parquet")))
    assert "month" not in schema.names and "site" not in schema.names  # in the folders

    back = read_partitioned(out)  # the whole audit, in input order
    assert back.tally == whole.tally and back.records == whole.records
    assert back.rows == whole.rows
    assert [(e["input"], e["encounter_id"]) for e in back.errors] == \
        [(e["input"], e["encounter_id"]) for e in whole.errors] == \
        [("line 4", None), ("line 5", "no-patient")]
    assert run.counts.checked == whole.checked and not run.counts.rows


def test_long_partitions_go_on_in_new_files_with_every_row(engine, batch, tmp_path,
                                                           monkeypatch):
    """A writer keeps each row group's metadata until it closes: files are closed after
    MAX_ROW_GROUPS groups (flat memory) and the partition goes on in the next file."""
    import cdss.audit_parquet as module

    monkeypatch.setattr(module, "FLUSH_ROWS", 2)
    monkeypatch.setattr(module, "MAX_ROW_GROUPS", 2)
    write_partitioned(engine, batch, tmp_path / "out")
    names = {p.name for p in (tmp_path / "out" / "suggestions").rglob("*.parquet")}
    assert "part-0000-000000000000-0001.parquet" in names
    for path in (tmp_path / "out").rglob("*.parquet"):
        assert pa_parquet.ParquetFile(path).metadata.num_row_groups <= 2
    assert read_partitioned(tmp_path / "out").records == \
        engine.audit(batch, progress=False).records


def test_a_second_run_recomputes_nothing(engine, batch, tmp_path):
    out = tmp_path / "out"
    first = write_partitioned(engine, batch, out)
    before = _files(out)
    again = write_partitioned(engine, batch, out)
    assert again.recomputed == [] and again.removed == []
    assert again.skipped == first.recomputed and again.counts.checked == 0
    assert _files(out) == before  # not one file rewritten
    assert read_manifest(out)["partitions"].keys() == set(first.recomputed)


def test_new_knowledge_recomputes_every_partition(engine, batch, tmp_path):
    out = tmp_path / "out"
    first = write_partitioned(engine, batch, out)
    changed = tmp_path / "knowledge"
    shutil.copytree(knowledge_dir(), changed)
    table = sorted(changed.rglob("*.yaml"))[0]
    table.write_text(table.read_text(encoding="utf-8") + "\n# reviewed again\n",
                     encoding="utf-8")
    other = cdss.Engine(lang="en", backend="python", knowledge_dir=changed)
    assert other.pins.knowledge_sha256 != engine.pins.knowledge_sha256
    again = write_partitioned(other, batch, out)
    assert again.recomputed == first.recomputed and again.skipped == []
    assert read_partitioned(out).tally == engine.audit(batch, progress=False).tally


def test_adding_a_month_recomputes_only_that_month(engine, tmp_path):
    lines = _lines(90)
    path = _write(tmp_path / "batch.jsonl", lines)
    out = tmp_path / "out"
    first = write_partitioned(engine, path, out)
    before = _files(out)
    december = [json.dumps({**json.loads(x), "id": f"dec-{n}",
                            "time": json.loads(x)["time"].replace("2026-11", "2026-12", 1)},
                           ensure_ascii=False)
                for n, x in enumerate(lines) if x.startswith("{\"") and "2026-11" in x][:20]
    _write(path, lines + december)
    again = write_partitioned(engine, path, out)
    assert again.recomputed and all(p.startswith("month=2026-12/") for p in again.recomputed)
    assert again.skipped == first.recomputed
    assert {k: v for k, v in _files(out).items() if "2026-12" not in k} == before
    assert read_partitioned(out).records == engine.audit(path, progress=False).records


def test_changed_and_vanished_lines_recompute_their_partitions_only(engine, tmp_path):
    lines = _lines(60)
    path = _write(tmp_path / "batch.jsonl", lines)
    out = tmp_path / "out"
    write_partitioned(engine, path, out)
    n = next(i for i, x in enumerate(lines) if x.startswith("{\"") and ODD_SITE in x
             and "2026-11" in x)
    edited = json.loads(lines[n])
    edited["vitals"] = {}
    lines[n] = json.dumps(edited, ensure_ascii=False)
    _write(path, lines)
    again = write_partitioned(engine, path, out)
    assert again.recomputed == [partition_dir(("2026-11", ODD_SITE))]
    # a site's last lines dropped from the end: its partitions go, the rest stay
    closing = [json.dumps({**json.loads(x), "id": f"last-{n}", "site": "closing"},
                          ensure_ascii=False) for n, x in enumerate(lines[-5:])]
    _write(path, lines + closing)
    added = write_partitioned(engine, path, out)
    gone = {p for p in added.recomputed if "site=closing" in p}
    assert gone and set(added.recomputed) == gone
    _write(path, lines)
    last = write_partitioned(engine, path, out)
    assert set(last.removed) == gone and last.recomputed == []
    assert not gone & read_manifest(out)["partitions"].keys()
    assert not any((out / "encounters" / p).exists() for p in gone)


def test_cli_writes_partitions_and_skips_them_the_second_time(batch, tmp_path, capsys):
    out = tmp_path / "pq"
    assert main(["audit", str(batch), "--parquet", str(out), "--backend", "python",
                 "--lang", "en", "--no-progress"]) == 0
    assert "recomputed=" in capsys.readouterr().err and (out / MANIFEST).exists()
    report = tmp_path / "report"
    assert main(["audit", str(batch), "--parquet", str(out), "--out", str(report),
                 "--backend", "python", "--lang", "en", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "recomputed=0" in err and (report / "report.html").exists()
    assert "checked=120" in err  # the report covers every partition, not the 0 rerun
    assert main(["audit", str(batch)]) == 2  # neither --out nor --parquet
    assert main(["audit", str(batch), "--parquet", str(batch)]) == 2  # a file, not a folder
    assert "--parquet" in capsys.readouterr().err


# ---- Dask ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client() -> Any:
    distributed = pytest.importorskip("distributed", reason="needs pip install 'cdss[dask]'")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as c:
        yield c


def test_dask_workers_write_the_partitions_of_one_process(engine, batch, tmp_path, client):
    from cdss.distributed import audit_dask_partitioned

    single, spread = tmp_path / "single", tmp_path / "dask"
    one = write_partitioned(engine, batch, single)
    many = audit_dask_partitioned(batch, spread, client=client, engine_options=engine.options,
                                  block_bytes=4096)
    assert many.recomputed == one.recomputed
    assert read_manifest(spread)["partitions"] == read_manifest(single)["partitions"]
    assert read_partitioned(spread) == read_partitioned(single)
    for table in ("encounters", "suggestions", "errors"):
        got = {p.parent.relative_to(spread) for p in (spread / table).rglob("*.parquet")}
        want = {p.parent.relative_to(single) for p in (single / table).rglob("*.parquet")}
        assert got == want, table
    # several blocks wrote their own files into one partition; only counts came back
    assert len(list(spread.rglob("*.parquet"))) > len(list(single.rglob("*.parquet")))
    assert not many.counts.rows and many.counts.checked == one.counts.checked
    again = audit_dask_partitioned(batch, spread, client=client, engine_options=engine.options,
                                   block_bytes=4096)
    assert again.recomputed == [] and again.skipped == one.recomputed
