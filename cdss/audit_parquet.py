"""An audit written as Parquet partitioned by month and site, re-run incrementally.

Layout of the output folder (Hive partitioning: ``pandas.read_parquet(DIR / "encounters")``
gives the ``month`` and ``site`` columns back from the folder names)::

    DIR/manifest.json
    DIR/encounters/month=2026-11/site=医疗车一号/part-0000-000000000000.parquet
    DIR/suggestions/month=.../site=.../part-....parquet
    DIR/errors/month=.../site=.../part-....parquet

A line is placed by its ``time`` (month ``YYYY-MM`` as written) and ``site`` (``site=``:
not recorded), read from its JSON before any check; a line whose month cannot be read
(not UTF-8, not JSON, no time) is in ``month=/site=`` and only ever has errors.

**Incremental runs.** Each partition's *key* is a hash of its input lines (each line's
bytes with its file and line number, summed over the partition so that the
order of reading does not matter) with the engine version, ``rules_sha256``,
``knowledge_sha256`` (:class:`cdss.receipt.Pins`) and the language. ``manifest.json``
records the keys; a partition whose key is unchanged is skipped, a changed or new one is
deleted and computed again, and one whose lines are all gone is deleted. Appending a
month to a file recomputes that month only; a new rule pack or knowledge recomputes all.

Each task (one process, or one Dask block: :func:`cdss.distributed.audit_dask_partitioned`)
writes its own files (``part-<file>-<byte offset>.parquet``), a few thousand rows at a
time, so memory stays flat and no row travels back to a client.
"""

from __future__ import annotations

import glob
import hashlib
import json
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdss.audit import AuditResult, audit_items
from cdss.audit_views import RECORD_COLUMNS, ROW_COLUMNS
from cdss.batch import LINE_LABEL, BadLine, decode_line

if TYPE_CHECKING:
    from cdss.engine import Checker
    from cdss.receipt import Pins

#: bump when the layout or the columns change: every partition is then recomputed
FORMAT = 1
MANIFEST = "manifest.json"
TABLES = ("encounters", "suggestions", "errors")
#: columns held in the folder names, not in the files
PARTITION_COLUMNS = ("month", "site")
#: rows buffered per partition and table before they are written as a row group
FLUSH_ROWS = 2048
#: row groups per file: a Parquet writer keeps each group's metadata (some 9 KB) until
#: it closes, so a file is closed after this many and the partition goes on in the next
#: (memory stays flat however long the input: docs/performance.md)
MAX_ROW_GROUPS = 8
_MOD = 2 ** 256

Part = tuple[str, str]  # (month, site); ("", "") for lines whose month cannot be read


# ---- placing and hashing lines ---------------------------------------------------

def partition_of(text: str | BadLine) -> Part:
    """The (month, site) of an input line, read from its JSON before any check."""
    if isinstance(text, BadLine):
        return ("", "")
    try:
        data = json.loads(text)
        month = datetime.fromisoformat(data["time"]).strftime("%Y-%m")
    except Exception:  # not JSON, not an object, no time: placed apart, an error later
        return ("", "")
    site = data.get("site")
    return (month, site.strip() if isinstance(site, str) else "")


def _segment(value: str) -> str:
    """A partition value as a folder name: characters that a path or a Hive reader
    would take for syntax are percent-encoded (pyarrow decodes them)."""
    return "".join(c if (c.isalnum() or c in "-_.") and c.isprintable()
                   else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
                   for c in value)


def partition_dir(part: Part) -> str:
    """``month=<month>/site=<site>`` (Hive partitioning)."""
    return f"month={_segment(part[0])}/site={_segment(part[1])}"


def numbered(lines: Iterable[bytes]) -> Iterator[tuple[int, bytes, str | BadLine]]:
    """``(n, bytes, text)`` of each non-blank line, n counted from 1 over all lines (as
    :func:`cdss.batch.numbered_lines` counts)."""
    for n, raw in enumerate(lines, 1):
        text = decode_line(raw)
        if isinstance(text, BadLine) or text.strip():
            yield n, raw, text


def file_lines(fh: Any) -> Iterator[bytes]:
    """The lines of a binary file without their ``\\n``, streamed (split on ``\\n``
    only, as :func:`cdss.batch.split_lines` splits a block)."""
    for line in fh:
        yield line.removesuffix(b"\n")


@dataclass
class Scan:
    """The inputs of each partition seen in some lines: (sum of line hashes, count)."""

    parts: dict[Part, list[int]] = field(default_factory=dict)
    #: every line seen, blank ones included (to number the lines of the next block)
    lines: int = 0

    def add(self, other: Scan) -> None:
        for part, (total, count) in other.parts.items():
            mine = self.parts.setdefault(part, [0, 0])
            mine[0] = (mine[0] + total) % _MOD
            mine[1] += count
        self.lines += other.lines


def scan(lines: Iterable[bytes], prefix: str = "", first_line: int = 0) -> Scan:
    """Place and hash each line (with its file, ``prefix`` as in labels, and its line
    number ``first_line + n``: a line edited in place changes its partition only)."""
    out = Scan()
    named = prefix.encode("utf-8", "surrogatepass")
    counted = _counting(lines)
    for n, raw, text in numbered(counted):
        digest = hashlib.sha256(b"%s\0%d\0%s" % (named, first_line + n, raw)).digest()
        entry = out.parts.setdefault(partition_of(text), [0, 0])
        entry[0] = (entry[0] + int.from_bytes(digest, "big")) % _MOD
        entry[1] += 1
    out.lines = counted.seen
    return out


class _counting:
    """An iterator that counts what it yields (blank lines are skipped downstream)."""

    def __init__(self, lines: Iterable[bytes]) -> None:
        self._it = iter(lines)
        self.seen = 0

    def __iter__(self) -> _counting:
        return self

    def __next__(self) -> bytes:
        item = next(self._it)
        self.seen += 1
        return item


def engine_key(pins: Pins, lang: str) -> str:
    """What, besides the inputs, a partition's rows depend on (the backend does not:
    every backend gives the same reports)."""
    return f"format={FORMAT};cdss={pins.version};rules={pins.rules_sha256};" \
           f"knowledge={pins.knowledge_sha256};lang={lang}"


def partition_key(engine: str, total: int, count: int) -> str:
    return hashlib.sha256(f"{engine};inputs={total:064x}:{count}".encode()).hexdigest()


# ---- writing a partition's rows ------------------------------------------------

def schemas() -> dict[str, Any]:
    """The Arrow schema of each table (the partition columns are in the folder names)."""
    import pyarrow as pa

    text, texts = pa.string(), pa.list_(pa.string())
    types = {"suggestions": pa.int32(), "compliant": pa.bool_(), "quality_findings": texts,
             "codes": texts, "drugs": texts}
    columns = {"encounters": RECORD_COLUMNS, "suggestions": ROW_COLUMNS,
               "errors": ("input", "encounter_id", "error")}
    return {table: pa.schema([(c, types.get(c, text)) for c in cols
                              if c not in PARTITION_COLUMNS])
            for table, cols in columns.items()}


class PartitionWriter:
    """Buffers rows per (table, partition) and writes them to this task's files of each
    partition as row groups of ``flush`` rows, ``groups`` row groups per file
    (``<name>.parquet``, then ``<name>-0001.parquet``...)."""

    def __init__(self, folder: Path, name: str, flush: int | None = None,
                 groups: int | None = None) -> None:
        self.folder, self.name = folder, name
        self.flush = flush or FLUSH_ROWS
        self.groups = groups or MAX_ROW_GROUPS
        self._schemas = schemas()
        self._buffers: dict[tuple[str, Part], list[dict[str, Any]]] = {}
        self._writers: dict[tuple[str, Part], Any] = {}
        #: per (table, partition): files opened so far, row groups in the open one
        self._files: dict[tuple[str, Part], int] = {}
        self._groups: dict[tuple[str, Part], int] = {}

    def add(self, part: Part, result: AuditResult) -> None:
        for table, rows in (("encounters", result.records), ("suggestions", result.rows),
                            ("errors", result.errors)):
            if not rows:
                continue
            buffer = self._buffers.setdefault((table, part), [])
            buffer.extend(rows)
            if len(buffer) >= self.flush:
                self._write((table, part))

    def _write(self, key: tuple[str, Part]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table, part = key
        rows = self._buffers.pop(key)
        if table == "errors":  # an id read from a broken line may be a number
            rows = [{**r, "encounter_id": None if r["encounter_id"] is None
                     else str(r["encounter_id"])} for r in rows]
        data = pa.Table.from_pylist(rows, schema=self._schemas[table])
        if key not in self._writers:
            where = self.folder / table / partition_dir(part)
            where.mkdir(parents=True, exist_ok=True)
            number = self._files.get(key, 0)
            suffix = f"-{number:04d}" if number else ""
            self._writers[key] = pq.ParquetWriter(where / f"{self.name}{suffix}.parquet",
                                                  self._schemas[table])
            self._files[key], self._groups[key] = number + 1, 0
        self._writers[key].write_table(data)
        self._groups[key] += 1
        if self._groups[key] >= self.groups:  # its metadata is released with it
            self._writers.pop(key).close()

    def close(self) -> None:
        for key in list(self._buffers):
            self._write(key)
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


def audit_lines(engine: Checker, lines: Iterable[bytes], todo: set[Part],
                folder: Path, name: str, *, prefix: str = "", first_line: int = 0,
                lang: str | None = None) -> AuditResult:
    """Audit the lines of ``todo`` partitions and write their rows (one file per
    partition and table named ``name``); returns the counts (no rows). Lines are
    labelled ``<prefix>line <first_line + n>``."""
    total = AuditResult(keep_rows=False)
    writer = PartitionWriter(folder, name)
    try:
        for n, _, text in numbered(lines):
            part = partition_of(text)
            if part not in todo:
                continue
            one = audit_items(engine, [(f"{prefix}{LINE_LABEL}{first_line + n}", text)],
                              lang=lang)
            writer.add(part, one)
            total.checked += one.checked
            total.with_record += one.with_record
            total.compliant += one.compliant
            total.errors.extend(one.errors)
            total.tally.add(one.tally)
    finally:
        writer.close()
    return total


# ---- the run -------------------------------------------------------------------

@dataclass
class PartitionRun:
    """What an incremental run did: partitions (``month=.../site=...``) recomputed,
    skipped (unchanged) and removed (no input left), and the counts of the lines it
    audited (no rows: they are in the files)."""

    folder: Path
    recomputed: list[str]
    skipped: list[str]
    removed: list[str]
    counts: AuditResult

    def __repr__(self) -> str:
        return (f"<PartitionRun {self.folder}: recomputed={len(self.recomputed)} "
                f"skipped={len(self.skipped)} removed={len(self.removed)} "
                f"checked={self.counts.checked} errors={len(self.counts.errors)}>")


def jsonl_paths(paths: str | Path | Sequence[str | Path]) -> tuple[list[str], bool]:
    """The files to audit, and whether their labels name the file: a list or a glob
    pattern names them (``"<path>: line N"``), one plain path does not (``"line N"``)."""
    if isinstance(paths, str | Path):
        if Path(paths).exists() or not glob.has_magic(str(paths)):
            return [str(paths)], False
        found = sorted(glob.glob(str(paths)))
        if not found:
            raise FileNotFoundError(f"no file matches {str(paths)!r}")
        return found, True
    return [str(p) for p in paths], True


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of an output folder (empty when there is none)."""
    path = folder / MANIFEST
    if not path.exists():
        return {"format": FORMAT, "partitions": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    tmp = folder / f"{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True),
                   encoding="utf-8")
    tmp.replace(folder / MANIFEST)


@dataclass
class Plan:
    """Which partitions a run recomputes, given the scan and the manifest."""

    keys: dict[Part, str]
    todo: set[Part]
    skipped: list[str]
    removed: list[str]
    scan: Scan


def plan(folder: Path, scanned: Scan, engine: str) -> Plan:
    """Compare the keys of the scanned partitions with the manifest's; delete the files
    of every partition to recompute or remove, and drop them from the manifest first (a
    run that dies half-way recomputes them next time)."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(folder)
    old: dict[str, Any] = manifest.get("partitions", {})
    keys = {part: partition_key(engine, total, count)
            for part, (total, count) in scanned.parts.items()}
    current = {partition_dir(part): part for part in keys}
    todo = {part for where, part in current.items()
            if old.get(where, {}).get("key") != keys[part]}
    removed = sorted(set(old) - set(current))
    for where in [*removed, *(partition_dir(p) for p in todo)]:
        old.pop(where, None)
        for table in TABLES:
            shutil.rmtree(folder / table / where, ignore_errors=True)
    _write_manifest(folder, {**manifest, "format": FORMAT, "partitions": old})
    skipped = sorted(set(current) - {partition_dir(p) for p in todo})
    return Plan(keys, todo, skipped, removed, scanned)


def finish(folder: Path, done: Plan, engine: str, files: list[str], counts: AuditResult
           ) -> PartitionRun:
    """Record every current partition's key in the manifest."""
    partitions = {partition_dir(part): {"key": key, "inputs": done.scan.parts[part][1],
                                        "month": part[0], "site": part[1]}
                  for part, key in sorted(done.keys.items())}
    _write_manifest(folder, {"format": FORMAT, "engine": engine, "inputs": files,
                             "partitions": partitions})
    return PartitionRun(folder, sorted(partition_dir(p) for p in done.todo), done.skipped,
                        done.removed, counts)


def write_partitioned(engine: Checker, paths: str | Path | Sequence[str | Path],
                      folder: str | Path, *, lang: str | None = None) -> PartitionRun:
    """Audit JSONL file(s) into ``folder`` as partitioned Parquet, recomputing only the
    partitions whose key changed (see the module docstring); one process, streamed."""
    folder = Path(folder)
    files, named = jsonl_paths(paths)
    shown = lang or engine.lang
    key = engine_key(engine.pins, shown)  # type: ignore[attr-defined]
    scanned, per_file = Scan(), []
    for path in files:
        with open(path, "rb") as fh:
            part = scan(file_lines(fh), f"{path}: " if named else "")
        per_file.append(part)
        scanned.add(part)
    done = plan(folder, scanned, key)
    counts = AuditResult(keep_rows=False)
    for number, (path, part) in enumerate(zip(files, per_file, strict=True)):
        if not done.todo & part.parts.keys():
            continue
        with open(path, "rb") as fh:
            got = audit_lines(engine, file_lines(fh), done.todo, folder,
                              part_name(number, 0), prefix=f"{path}: " if named else "",
                              lang=shown)
        counts = AuditResult.combine([counts, got])
    return finish(folder, done, key, files, counts)


def part_name(file_number: int, start: int) -> str:
    """The file name (without suffix) a task writes in each of its partitions."""
    return f"part-{file_number:04d}-{start:012d}"


# ---- reading back ----------------------------------------------------------------

def read_partitioned(folder: str | Path) -> AuditResult:
    """The audit held in a partitioned folder as an :class:`~cdss.audit.AuditResult`
    (rows, records and errors in input order; counts and tallies worked out from them;
    no source to explain from). Loads every row: for county-scale data read the tables
    with pandas or pyarrow filters instead."""
    import pandas as pd

    from cdss.audit_explore import rebuilt

    folder = Path(folder)
    tables = {}
    for table in TABLES:
        where = folder / table
        if where.exists() and any(where.rglob("*.parquet")):
            frame = pd.read_parquet(where)
            for column in PARTITION_COLUMNS:
                frame[column] = frame[column].astype(str)
            tables[table] = _in_input_order(frame).to_dict("records")
        else:
            tables[table] = []
    records = [_plain(r) for r in tables["encounters"]]
    rows = [_plain(r) for r in tables["suggestions"]]
    errors = [{k: _none(r[k]) for k in ("input", "encounter_id", "error")}
              for r in tables["errors"]]
    return rebuilt(AuditResult(), records, rows, errors)


def _in_input_order(frame: Any) -> Any:
    """Rows sorted by file and line (``<path>: line N``), stably."""
    if frame.empty:
        return frame
    split = frame["input"].str.rpartition(LINE_LABEL)
    return frame.assign(_file=split[0], _line=split[2].astype(int)).sort_values(
        ["_file", "_line"], kind="stable").drop(columns=["_file", "_line"])


def _none(value: Any) -> Any:
    """A missing value read back (NaN, NA) as None."""
    try:
        return None if value is None or bool(value != value) else value
    except (TypeError, ValueError):  # an array, or pandas.NA
        return value if hasattr(value, "__len__") else None


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A row read back with Python values (lists, None for a missing compliance)."""
    out = {k: _none(v) for k, v in row.items()}
    for name in ("quality_findings", "codes", "drugs"):
        if name in out:
            out[name] = [str(v) for v in out[name]]
    if out.get("compliant") is not None:
        out["compliant"] = bool(out["compliant"])
    if "suggestions" in out:
        out["suggestions"] = int(out["suggestions"])
    return out
