"""Throughput of the batch audit (encounters per second) and its memory on a long stream.

Run: ``python benchmarks/bench_audit.py [--n 4000] [--stream 200000]``. Everything is
measured in the same run, so the ratios hold on any machine:

* baseline: reading the JSONL and parsing each line into ``cdss.Encounter`` (no rules);
* single process, python backend and durable backend (one core each), median of
  ``--repeat`` runs with the range, interleaved with the baseline runs, and the median
  of each repeat's ratio to the baseline measured just before it;
* Dask, a local cluster of 2 worker processes (1 thread each), python backend, warm
  (engines already built on the workers: the first run is reported separately): wall
  clock, its speed-up over the single process run just after it, and the rate of a
  busy worker (encounters over the time the workers spent computing audit tasks, from
  Dask's task stream: without scheduling, transfers and the client's work);
* memory: RSS of this process while auditing a ``--stream``-line JSONL file with
  ``keep_rows=False``, sampled along the way (flat = no growth with the input).

Inputs are the bundled samples (``--source samples``: each sample repeated with a new id)
or the synthetic generator (``--source synthetic``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cdss
from cdss import synthetic
from cdss.audit import audit_items, items

SAMPLES = Path(cdss.__file__).parent / "samples"


def write_samples(path: Path, n: int) -> Path:
    """``n`` lines cycling through the bundled samples, each with its own id."""
    samples = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(SAMPLES.glob("*.json"))]
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            enc = samples[i % len(samples)]
            fh.write(json.dumps({**enc, "id": f"{enc['id']}-{i}"}, ensure_ascii=False) + "\n")
    return path


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds else float("inf")


def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def baseline(path: Path) -> float:
    """Encounters/s for reading and parsing only."""
    def parse_all() -> int:
        n = 0
        for _, line in items(path):
            cdss.Encounter.parse(line)
            n += 1
        return n
    n, seconds = timed(parse_all)
    return rate(n, seconds)


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def sampled(inputs: Iterator[tuple[str, Any]], every: int, marks: list[tuple[int, float]]
            ) -> Iterator[tuple[str, Any]]:
    for n, item in enumerate(inputs, 1):
        if n % every == 0:
            marks.append((n, rss_mib()))
        yield item


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000, help="encounters for throughput")
    parser.add_argument("--stream", type=int, default=200_000, help="lines for the memory run")
    parser.add_argument("--source", choices=("samples", "synthetic"), default="samples")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement")
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cdss-bench-"))
    path = tmp / "batch.jsonl"
    if args.source == "samples":
        write_samples(path, args.n)
    else:
        synthetic.write_jsonl(path, args.n, seed=1)
    results: dict[str, Any] = {"n": args.n, "source": args.source, "cpus": os.cpu_count()}

    engines = {name: cdss.Engine(lang="en", backend=name) for name in ("python", "durable")}
    for engine in engines.values():
        engine.audit(path, progress=False)  # warm-up
    # a shared machine is noisy, and its speed drifts over minutes: the runs are
    # interleaved (baseline, python, durable, baseline, ...) so that each repeat's
    # ratio compares runs made a few seconds apart; medians and ranges are reported
    rates: dict[str, list[float]] = {"baseline_parse": [], "python": [], "durable": []}
    ratios: dict[str, list[float]] = {"python": [], "durable": []}
    single = {}
    for _ in range(args.repeat):
        rates["baseline_parse"].append(baseline(path))
        for name, engine in engines.items():
            result, seconds = timed(lambda engine=engine: engine.audit(path, progress=False))
            single[name] = result
            rates[name].append(rate(result.inputs, seconds))
            ratios[name].append(rates[name][-1] / rates["baseline_parse"][-1])
    results["baseline_parse_per_s"] = statistics.median(rates["baseline_parse"])
    results["baseline_parse_range"] = _range(rates["baseline_parse"])
    for name in engines:
        results[f"single_{name}_per_s"] = statistics.median(rates[name])
        results[f"single_{name}_range"] = _range(rates[name])
        results[f"single_{name}_ratio_to_baseline"] = statistics.median(ratios[name])
    assert single["python"].rows == single["durable"].rows, "backends disagree"

    if not args.no_dask:
        from distributed import Client, LocalCluster, get_task_stream

        from cdss.distributed import audit_dask

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster, \
                Client(cluster) as client:
            options = engines["python"].options
            block = max(1, path.stat().st_size // 16)
            def run() -> Any:
                return audit_dask(path, client=client, engine_options=options, block_bytes=block)
            cold, cold_s = timed(run)
            dask_rates, dask_ratios, busy = [], [], []
            for _ in range(args.repeat):  # interleaved with the single process, as above
                with get_task_stream(client) as stream:
                    warm, warm_s = timed(run)
                dask_rates.append(rate(warm.inputs, warm_s))
                busy.append(_compute_seconds(stream.data))
                _, single_s = timed(lambda: engines["python"].audit(path, progress=False))
                dask_ratios.append(dask_rates[-1] / rate(args.n, single_s))
            assert warm.rows == single["python"].rows, "dask rows differ from single process"
            results["dask2_first_run_per_s"] = rate(cold.inputs, cold_s)
            results["dask2_per_s"] = statistics.median(dask_rates)
            results["dask2_range"] = _range(dask_rates)
            results["dask2_per_s_per_worker"] = results["dask2_per_s"] / 2
            results["dask2_speed_up_over_single_process"] = statistics.median(dask_ratios)
            # the workers' own time in audit tasks (no scheduling, transfer or client
            # work): encounters per second of a busy worker core
            results["dask2_per_busy_worker_s"] = statistics.median(
                rate(args.n, seconds) for seconds in busy)

    stream = tmp / "stream.jsonl"
    if args.source == "samples":
        write_samples(stream, args.stream)
    else:
        synthetic.write_jsonl(stream, args.stream, seed=2)
    marks: list[tuple[int, float]] = []
    every = max(1, args.stream // 10)
    start_rss = rss_mib()
    result, seconds = timed(lambda: audit_items(
        engines["python"], sampled(items(stream), every, marks), keep_rows=False))
    results["stream"] = {"lines": result.inputs, "per_s": rate(result.inputs, seconds),
                         "rss_mib_before": round(start_rss, 1),
                         "rss_mib_samples": [(n, round(m, 1)) for n, m in marks]}
    first, last = marks[0][1], marks[-1][1]
    results["stream"]["rss_growth_first_to_last_mib"] = round(last - first, 1)

    for key, value in results.items():
        print(f"{key}: {round(value, 3) if isinstance(value, float) else value}")


def _compute_seconds(tasks: list[dict[str, Any]]) -> float:
    """Seconds the workers spent computing, summed over the tasks of a task stream."""
    return sum(ss["stop"] - ss["start"] for task in tasks for ss in task["startstops"]
               if ss["action"] == "compute")


def _range(values: list[float]) -> str:
    return f"{min(values):.0f}-{max(values):.0f}"


if __name__ == "__main__":
    main()
