"""Memory of an audit written as partitioned Parquet: flat over 10^6 encounters (#18).

Run: ``python benchmarks/bench_audit_memory.py [--n 1000000] [--months 12]``.

1. ``cdss.synthetic.write_jsonl`` writes ``--n`` encounters spread over ``--months``
   months (streamed; timed apart).
2. ``cdss.audit_parquet.write_partitioned`` audits the file into Parquet partitioned by
   month and site, in this process, while a thread samples this process's RSS every
   ``--every`` seconds; the samples are reported at each tenth of the run, with the peak
   and the growth from the first to the last tenth (flat: no growth with the input).
3. The same call again: every partition is skipped (the scan alone: placing and hashing
   each line), and its time is reported.

With a smaller ``--n`` (10^6 encounters take some twenty minutes on one core of a
shared 2-vCPU machine), the rate of step 2 gives the time for 10^6, and the RSS curve
shows whether memory depends on ``n``: run two sizes and compare their peaks.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import cdss
from cdss.audit_parquet import write_partitioned
from cdss.synthetic import write_jsonl


def rss_mib() -> float:
    """This process's resident set size now, in MiB (Linux: /proc; else the peak)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover - not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Sampler(threading.Thread):
    """Samples RSS every ``every`` seconds until stopped."""

    def __init__(self, every: float) -> None:
        super().__init__(daemon=True)
        self.every, self.samples = every, [rss_mib()]
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.every):
            self.samples.append(rss_mib())

    def stop(self) -> list[float]:
        self._stop_event.set()
        self.join()
        self.samples.append(rss_mib())
        return self.samples


def tenths(samples: list[float]) -> list[float]:
    """The median sample of each tenth of the run."""
    size = max(1, len(samples) // 10)
    return [statistics.median(samples[i:i + size]) for i in range(0, len(samples), size)][:10]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="encounters")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--backend", default="compiled")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="cdss-bench-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        path = write_jsonl(work / "encounters.jsonl", args.n, seed=0, bad_share=0.001,
                           months=args.months)
        generated = time.perf_counter() - start
        engine = cdss.Engine(lang="zh", backend=args.backend)
        before = rss_mib()

        sampler = Sampler(args.every)
        sampler.start()
        start = time.perf_counter()
        run = write_partitioned(engine, path, work / "parts")
        audited = time.perf_counter() - start
        samples = sampler.stop()

        start = time.perf_counter()
        again = write_partitioned(engine, path, work / "parts")
        rescanned = time.perf_counter() - start

        curve = tenths(samples)
        files = list((work / "parts").rglob("*.parquet"))
        print(f"cdss {cdss.__version__}, backend {args.backend}, n={args.n}, "
              f"months={args.months}, cpus={os.cpu_count()}, "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"input: {path.stat().st_size / 2**20:.0f} MiB JSONL, generated in "
              f"{generated:.0f} s")
        print(f"audit to partitions: {audited:.1f} s = {args.n / audited:.0f} encounters/s "
              f"(10^6 would take {1e6 / (args.n / audited) / 60:.1f} min); "
              f"{len(run.recomputed)} partitions, {len(files)} files, "
              f"{sum(p.stat().st_size for p in files) / 2**20:.0f} MiB; {run!r}")
        print(f"RSS before the run {before:.0f} MiB; by tenth of the run (median MiB): "
              + ", ".join(f"{v:.0f}" for v in curve))
        print(f"RSS peak {max(samples):.0f} MiB; last tenth - first tenth = "
              f"{curve[-1] - curve[0]:+.0f} MiB over {len(samples)} samples")
        print(f"second run (all skipped): {rescanned:.1f} s = "
              f"{args.n / rescanned:.0f} lines/s scanned; {again!r}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
