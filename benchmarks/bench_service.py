"""order-sign over HTTP (one uvicorn worker, 8 concurrent clients) vs engine.check
in-process on the same encounter. Not a timed test; results go to docs/service.md.

    PYTHONPATH=. python benchmarks/bench_service.py [--seconds 10] [--clients 8]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_service import Server, med, order_sign

import cdss
from cdss.service.mapping import to_encounter


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()
    body = order_sign(med("w1", "warfarin", 3, 1), med("i1", "ibuprofen", 400, 3, days=30),
                      med("m1", "metformin", 500, 3))

    engine = cdss.Engine(backend="python")
    enc, _, _ = to_encounter(body["context"], body["prefetch"])
    for _ in range(20):
        engine.check(enc)
    lat: list[float] = []
    end = time.perf_counter() + args.seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        engine.check(enc)
        lat.append(time.perf_counter() - t)
    inproc_rps = len(lat) / sum(lat)
    print(f"in-process engine.check: {inproc_rps:.0f}/s, p50 {pct(lat, .5) * 1e3:.2f} ms, "
          f"p99 {pct(lat, .99) * 1e3:.2f} ms (1 thread)")

    db = Path(tempfile.mkdtemp()) / "bench.sqlite3"
    srv = Server(f"sqlite:///{db}")
    try:
        with httpx.Client(base_url=srv.base) as c:
            for _ in range(20):
                c.post("/cds-services/cdss-order-sign", json=body).raise_for_status()

        def worker() -> list[float]:
            out = []
            with httpx.Client(base_url=srv.base, timeout=30) as c:
                stop = time.perf_counter() + args.seconds
                while time.perf_counter() < stop:
                    t = time.perf_counter()
                    c.post("/cds-services/cdss-order-sign", json=body).raise_for_status()
                    out.append(time.perf_counter() - t)
            return out

        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
            results = list(pool.map(lambda _: worker(), range(args.clients)))
        wall = time.perf_counter() - start
    finally:
        srv.stop()
    http = [x for r in results for x in r]
    http_rps = len(http) / wall
    print(f"HTTP order-sign, {args.clients} clients, 1 worker: {http_rps:.0f}/s, "
          f"p50 {pct(http, .5) * 1e3:.1f} ms, p99 {pct(http, .99) * 1e3:.1f} ms, "
          f"mean {statistics.mean(http) * 1e3:.1f} ms")
    print(f"ratio HTTP / in-process throughput: {http_rps / inproc_rps:.2f}")


if __name__ == "__main__":
    main()
