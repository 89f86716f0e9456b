"""The batch audit on a Dask cluster: the same rows as ``engine.audit(path)``, faster.

A JSONL file is cut into byte ranges (blocks) with Hadoop's split rule: a block owns the
lines that *start* inside it, so a line crossing a boundary is read whole, once, by the
block it starts in (the byte ``\\n`` is never part of a multi-byte UTF-8 character, so
no line is cut inside a character). One task per block reads its lines, checks them
with an engine built once per worker process (from ``engine.options``; an engine is
never pickled) and sends back an :class:`~cdss.audit.AuditResult` with its line count;
a line that is not UTF-8, not JSON or not an encounter, or whose check fails, is an
error of that line only. The client fetches each part as soon as it is done (while
the workers compute the rest), renumbers its labels to file line numbers and combines
the parts in file and block order.

Needs ``pip install 'cdss[dask]'``; the recipe for a real cluster is docs/distributed.md.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from cdss.audit import AuditResult, audit_items
from cdss.audit_parquet import (
    PartitionRun,
    Scan,
    audit_lines,
    engine_key,
    finish,
    jsonl_paths,
    part_name,
    plan,
    scan,
)
from cdss.batch import LINE_LABEL, numbered_lines, split_lines
from cdss.engine import Engine

MIB = 1 << (4 * 5)
#: bytes per block (sixteen MiB): some fifteen thousand encounters, a minute or so of checking
DEFAULT_BLOCK_BYTES = MIB << 4

#: the engines of this process (a worker's), by their options; built on first use
_engines: dict[tuple[tuple[str, Any], ...], Engine] = {}
_engines_lock = threading.Lock()
_builds = 0


def worker_engine(options: Mapping[str, Any]) -> Engine:
    """This process's engine for ``options`` (``cdss.Engine(**options)``), built once."""
    global _builds
    key = tuple(sorted(options.items()))
    with _engines_lock:  # a worker with several threads still builds one engine
        if key not in _engines:
            _engines[key] = Engine(**options)
            _builds += 1
        return _engines[key]


def worker_engines() -> dict[str, Any]:
    """How many engines this process holds and has built; run it on every worker with
    ``client.run(cdss.distributed.worker_engines)``."""
    return {"engines": len(_engines), "builds": _builds}


def blocks(size: int, block_bytes: int) -> list[tuple[int, int]]:
    """The byte ranges ``[start, end)`` that cut a file of ``size`` bytes."""
    if block_bytes < 1:
        raise ValueError(f"block_bytes must be positive, got {block_bytes}")
    return [(start, min(start + block_bytes, size)) for start in range(0, size, block_bytes)]


def read_block(path: str | Path, start: int, end: int) -> bytes:
    """The bytes of the lines that start in ``[start, end)``, each read to its end."""
    with open(path, "rb") as fh:
        if start:
            fh.seek(start - 1)
            fh.readline()  # the rest of a line that started before the block, or its "\n"
        first = fh.tell()
        if first >= end:
            return b""
        data = fh.read(end - first)
        if not data.endswith(b"\n"):
            data += fh.readline()  # the last line started inside the block: read it whole
    return data


def block_lines(data: bytes) -> list[bytes]:
    """The lines of a block, split on ``b"\\n"`` only as ``engine.audit(path)`` splits
    them (each is decoded on its own later), so line numbers agree with it."""
    return split_lines(data)


def audit_block(path: str, start: int, end: int, options: Mapping[str, Any],
                lang: str | None = None, keep_rows: bool = True) -> tuple[AuditResult, int]:
    """One task: audit the lines of a block, labelled ``line N`` from 1 within the block;
    returns the part and the number of lines (blank ones included)."""
    lines = block_lines(read_block(path, start, end))
    part = audit_items(worker_engine(options), numbered_lines(lines), lang=lang,
                       keep_rows=keep_rows)
    return part, len(lines)


def file_label(label: str, prefix: str, offset: int) -> str:
    """A block-relative ``line N`` label made file-wide (``<prefix>line N+offset``)."""
    return f"{prefix}{LINE_LABEL}{int(label.removeprefix(LINE_LABEL)) + offset}"


def _renumbered(part: AuditResult, prefix: str, offset: int) -> AuditResult:
    """``part`` with its block-relative input labels (errors, records, rows) made
    file-wide, in place: the part is the task's own result (a copy unpickled from a
    worker, or made for this call), and copying its rows cost the client as much as
    unpickling them (issue #17: 0.19 s of a 2.9 s run over 12,000 lines)."""
    if not (part.errors or part.records) or (offset == 0 and not prefix):
        return part
    seen: set[int] = set()  # an entry listed twice is relabelled once
    labels: dict[str, str] = {}  # the rows of an encounter share its label: made once
    for name in ("errors", "records", "rows"):
        for entry in getattr(part, name):
            if id(entry) not in seen:
                seen.add(id(entry))
                label = entry["input"]
                new = labels.get(label)
                if new is None:
                    new = labels[label] = file_label(label, prefix, offset)
                entry["input"] = new
    return part


@contextlib.contextmanager
def young_collections_only() -> Iterator[Callable[[], None]]:
    """While the client receives the parts, no automatic garbage collection; the
    caller collects the young generations (cheap: only what arrived since) after each
    part with the function given. Every part adds thousands of tracked objects (a row
    is a dict with two lists), and each time they add up to a quarter of what the
    process already holds, CPython's automatic collection scans the whole heap: a
    full collection took 0.2-0.7 s (load 4-7) of a 1.3-4 s run over 6,000 lines, on
    the client, competing with the workers for the cores (issue #17). The rows are
    kept, not garbage; fresh reference cycles (of the network machinery) are still
    collected with each part. Automatic collection resumes as it was afterwards."""
    if not gc.isenabled():
        yield lambda: None
        return
    gc.disable()
    try:
        yield functools.partial(gc.collect, 1)
    finally:
        gc.enable()


def in_order(client: Any, futures: Sequence[Any]) -> Iterator[Any]:
    """The results of ``futures`` in their order, each fetched from its worker as soon as
    it is done (by the client's event loop, while the workers compute the rest), so
    the client relabels a part while later ones run. ``client.gather`` fetched
    them all only after the last was done: 40-120 ms of a 1.3 s run with every worker
    idle (issue #17). A failed task raises its error, as ``gather`` did."""
    from distributed import as_completed

    index = {future.key: n for n, future in enumerate(futures)}
    ready: dict[int, Any] = {}
    following = 0
    for future, result in as_completed(futures, loop=client.loop, with_results=True):
        ready[index[future.key]] = result
        while following in ready:
            yield ready.pop(following)
            following += 1


@contextlib.contextmanager
def _no_pause() -> Iterator[Callable[[], None]]:
    """Automatic garbage collection as it is (the local scheduler: parts made here)."""
    yield lambda: None


def audit_dask(paths: str | Path | Sequence[str | Path], *, client: Any = None,
               engine_options: Mapping[str, Any] | None = None,
               block_bytes: int = DEFAULT_BLOCK_BYTES, lang: str | None = None,
               keep_rows: bool = True) -> AuditResult:
    """Audit JSONL file(s) on a Dask cluster; equal to ``engine.audit(path)`` for one path.

    :param paths: a JSONL path, a list of them or a glob pattern; workers must read
        them at the same path as the client (shared storage).
    :param client: a ``distributed.Client``; default: the current client if there is
        one, else Dask's local threaded scheduler.
    :param engine_options: ``engine.options`` of the engine to reproduce on each worker
        (default: ``cdss.Engine()``).
    :param block_bytes: bytes per task (a line longer than a block is read whole once).
    :param lang, keep_rows: as for :func:`cdss.audit.audit_items`.
    """
    try:
        import dask
    except ImportError as exc:
        raise ImportError("audit_dask needs Dask: pip install 'cdss[dask]'") from exc
    files, named = jsonl_paths(paths)
    options = dict(engine_options or {})
    where: list[tuple[int, str]] = []  # (file number, label prefix), one per task
    tasks = []
    task = dask.delayed(audit_block, pure=False)
    for number, path in enumerate(files):
        for start, end in blocks(os.path.getsize(path), block_bytes):
            where.append((number, f"{path}: " if named else ""))
            tasks.append(task(path, start, end, options, lang, keep_rows))
    if client is not None:
        done: Iterable[tuple[AuditResult, int]] = in_order(client, client.compute(tasks))
    else:
        done = dask.compute(*tasks)  # the default distributed client, if any, runs them
    parts: list[AuditResult] = []
    offset, current = 0, -1
    with young_collections_only() if client is not None else _no_pause() as collect:
        for (number, prefix), (part, n_lines) in zip(where, done, strict=True):
            if number != current:  # a new file: line numbers start again
                offset, current = 0, number
            parts.append(_renumbered(part, prefix, offset))
            offset += n_lines
            collect()
        result = AuditResult.combine(parts) if parts else AuditResult(keep_rows=keep_rows)
    # for explain(): the files as labelled, and the engine to rebuild
    result.source = files if named else files[0]
    result.engine = functools.partial(worker_engine, options)
    return result


# ---- partitioned Parquet: each worker writes its own files ------------------------

def count_block(path: str, start: int, end: int) -> int:
    """Phase zero of a partitioned run: the lines of a block (to number the next)."""
    return len(block_lines(read_block(path, start, end)))


def scan_block(path: str, start: int, end: int, prefix: str, first_line: int,
               options: Mapping[str, Any], lang: str | None) -> tuple[Scan, str]:
    """Phase one: place and hash the block's lines; and what the worker's engine makes
    of them (:func:`cdss.audit_parquet.engine_key`)."""
    engine = worker_engine(options)
    return (scan(block_lines(read_block(path, start, end)), prefix, first_line),
            engine_key(engine.pins, lang or engine.lang))


def write_block(path: str, start: int, end: int, prefix: str, first_line: int,
                todo: set[tuple[str, str]], folder: str, file_number: int,
                options: Mapping[str, Any], lang: str | None) -> AuditResult:
    """Phase two: audit the block's lines of the partitions to recompute and write their
    rows to this block's own files; only the counts go back to the client."""
    engine = worker_engine(options)
    return audit_lines(engine, block_lines(read_block(path, start, end)), todo,
                       Path(folder), part_name(file_number, start), prefix=prefix,
                       first_line=first_line, lang=lang or engine.lang)


def audit_dask_partitioned(paths: str | Path | Sequence[str | Path], folder: str | Path, *,
                           client: Any = None, engine_options: Mapping[str, Any] | None = None,
                           block_bytes: int = DEFAULT_BLOCK_BYTES, lang: str | None = None
                           ) -> PartitionRun:
    """:func:`cdss.audit_parquet.write_partitioned` on a Dask cluster: the same partitions
    with the same rows (in files named by block), the same manifest. Workers scan their
    blocks (after counting their lines, to number them), the client compares the keys
    with the manifest, then the workers audit and write the blocks that hold a partition
    to recompute. ``folder`` must be shared
    storage, like the inputs."""
    try:
        import dask
    except ImportError as exc:
        raise ImportError("audit_dask_partitioned needs Dask: pip install 'cdss[dask]'") from exc
    folder = Path(folder)
    files, named = jsonl_paths(paths)
    options = dict(engine_options or {})
    where = [(number, path, f"{path}: " if named else "", start, end)
             for number, path in enumerate(files)
             for start, end in blocks(os.path.getsize(path), block_bytes)]

    def run(tasks: list[Any]) -> list[Any]:
        if client is not None:
            return list(client.gather(client.compute(tasks)))
        return list(dask.compute(*tasks))

    counts = run([dask.delayed(count_block, pure=False)(path, start, end)
                  for _, path, _, start, end in where])
    first_lines, before, current = [], 0, -1
    for (number, *_), n_lines in zip(where, counts, strict=True):
        if number != current:  # a new file: line numbers start again
            before, current = 0, number
        first_lines.append(before)
        before += n_lines
    scans = run([dask.delayed(scan_block, pure=False)(path, start, end, prefix, first, options,
                                                      lang)
                 for (_, path, prefix, start, end), first in zip(where, first_lines,
                                                                 strict=True)])
    keys = {key for _, key in scans}
    if len(keys) > 1:
        raise RuntimeError(f"the workers run different engines: {sorted(keys)}")
    engine = keys.pop() if keys else ""
    scanned = Scan()
    for part, _ in scans:
        scanned.add(part)
    done = plan(folder, scanned, engine)
    tasks = [dask.delayed(write_block, pure=False)(path, start, end, prefix, first,
                                                   done.todo, str(folder), number, options,
                                                   lang)
             for (number, path, prefix, start, end), first, (part, _)
             in zip(where, first_lines, scans, strict=True) if done.todo & part.parts.keys()]
    audited = AuditResult.combine(run(tasks)) if tasks else AuditResult(keep_rows=False)
    return finish(folder, done, engine, files, audited)
