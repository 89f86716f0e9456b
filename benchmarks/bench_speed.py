"""Speed of issue #17: every backend against raw durable-rules, at two rule counts.

Run: ``python benchmarks/bench_speed.py [--rounds 15] [--extra 60] [--dask]``. Every
figure is measured in this one run, interleaved (round by round, each backend in turn)
so that a drift of the shared machine hits all alike; ratios are within the run.

* check p50/p99 per backend on the bundled samples, with the bundled rules and with a
  grown set (``--extra`` generated interaction rows in a temporary copy of the
  knowledge: the way the set grows); ``raw`` is durable-rules' own ``Host`` asserting
  the same facts (``ruleset.relevant``, as the engine asserts them) into the same
  emitted ruleset, with actions that only record;
* start-up: a fresh interpreter doing ``import cdss; cdss.Engine()`` (and the
  ``compiled`` engine with its code cache warm), against ``python -c pass``;
* audit: encounters/s on one core per backend (``engine.audit`` of a JSONL file of the
  samples), against reading + parsing the same lines;
* dose parse time per unit (``Prescription.model_validate``), as a ratio to mg;
* latency with 1/5/20/50 prescriptions per backend (linear in the facts?);
* ``--dask``: 2 Dask workers against two plain single-process audits started at once.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

import cdss
from cdss import backends
from cdss._resources import knowledge_dir
from cdss.derive import build_facts
from cdss.kb import load_knowledge

SAMPLES = Path(cdss.__file__).parent / "samples"
BACKENDS = backends.names()


def samples() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(SAMPLES.glob("*.json"))]


def grown_knowledge(extra: int, into: Path) -> Path:
    """A copy of the bundled knowledge with ``extra`` more interaction rows (pairs of
    known drugs not yet paired, each a copy of the first row)."""
    root = into / "knowledge"
    shutil.copytree(knowledge_dir(), root)
    kb = load_knowledge()
    paired = {frozenset((i.a, i.b)) for i in kb.interactions}
    template = yaml.safe_load((root / "interactions" / "core.yaml").read_text("utf-8"))
    row = template["interactions"][0]
    rows = []
    for a, b in itertools.combinations(sorted(kb.drugs), 2):
        if len(rows) == extra:
            break
        if frozenset((a, b)) not in paired:
            rows.append({**row, "id": f"bench_{a}_{b}", "a": a, "b": b})
    (root / "interactions" / "bench_extra.yaml").write_text(
        yaml.safe_dump({"interactions": rows}, allow_unicode=True), encoding="utf-8")
    return root


class RawDurable:
    """durable-rules' own Host (public API), the engine's emitted ruleset, recording
    actions: what asserting the facts costs without cdss around it."""

    def __init__(self, engine: cdss.Engine, suffix: str = "_raw") -> None:
        from durable import engine as durable_engine

        from cdss.backends.durable.ruleset import emit_ruleset

        found: list[str] = []

        class Host(durable_engine.Host):
            def _run(self) -> None:
                return None

            def get_action(self, action_name: str) -> Callable[[Any], None]:
                return lambda c: found.append(action_name)

        self.name, body = emit_ruleset(engine.rules)
        self.name += suffix
        self.host = Host()
        self.host.register_rulesets({self.name: body})
        self.found = found
        self.sids = itertools.count(1)
        self.not_handled = durable_engine.MessageNotHandledException

    def run(self, facts: list[dict[str, Any]]) -> None:
        from cdss.backends.durable.host import _engine_fact
        from cdss.backends.durable.ruleset import SENTINEL_TYPE

        sid = str(next(self.sids))
        self.found.clear()
        for fact in [{"id": SENTINEL_TYPE, "t": SENTINEL_TYPE}, *facts]:
            try:
                self.host.assert_fact(self.name, _engine_fact(fact, sid))
            except self.not_handled:
                pass
        self.host.delete_state(self.name, sid)


def as_asserted(engine: cdss.Engine, facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``facts`` as the durable backend asserts them: the fields some rule reads, and
    none of a type no rule matches (``emit.fields_by_type``)."""
    from cdss.backends.durable import emit

    fields = emit.fields_by_type([r.patterns for r in engine.rules])
    return [{k: fact[k] for k in fields[fact["t"]] if k in fact}
            for fact in facts if fact["t"] in fields]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def check_latency(knowledge: Path | None, rounds: int) -> dict[str, Any]:
    """p50/p99 (ms) of engine.check per backend and of raw durable-rules, interleaved."""
    engines = {name: cdss.Engine(backend=name, knowledge_dir=knowledge) for name in BACKENDS}
    raw = RawDurable(engines["durable"])
    encs = samples()
    reference = engines["durable"]
    facts = [reference.ruleset.relevant(build_facts(reference.parse(e), reference.kb).facts)
             for e in encs]
    times: dict[str, list[float]] = {name: [] for name in [*BACKENDS, "raw"]}
    clock = time.perf_counter
    for _ in range(2):  # warm-up
        for e, f in zip(encs, facts, strict=True):
            raw.run(f)
            for engine in engines.values():
                engine.check(e)
    for _ in range(rounds):
        for e, f in zip(encs, facts, strict=True):
            start = clock()
            raw.run(f)
            times["raw"].append(clock() - start)
            for name, engine in engines.items():
                start = clock()
                engine.check(e)
                times[name].append(clock() - start)
    # each engine alone, round after round, as an application that uses one engine runs
    # it (no other engine between two of its checks to evict its data from the CPU
    # caches); raw durable-rules alone too, for ratios between figures measured alike
    runs: list[tuple[str, Callable[[Any, Any], Any]]] = [("raw", lambda e, f: raw.run(f))]
    # a stricter baseline, alone only (one more ruleset in the interleaved rounds would
    # change what the others find in the CPU caches): raw durable-rules given the facts
    # as the backend asserts them (the fields some rule reads), not as derived
    raw_projected = RawDurable(reference, "_rawp")
    as_run = {id(f): as_asserted(reference, f) for f in facts}
    runs.append(("raw projected", lambda e, f: raw_projected.run(as_run[id(f)])))
    runs += [(name, lambda e, f, engine=engine: engine.check(e))
             for name, engine in engines.items()]
    for name, run in runs:
        for _ in range(rounds):
            for e, f in zip(encs, facts, strict=True):
                start = clock()
                run(e, f)
                times.setdefault(f"{name} alone", []).append(clock() - start)
    # the durable backend's matching alone (durable-rules on the caller's thread)
    for _ in range(rounds):
        for f in facts:
            start = clock()
            reference._backend.run(f)
            times.setdefault("durable: matching (backend.run)", []).append(clock() - start)
    out: dict[str, Any] = {"rules": len(reference.rules)}
    for name, values in times.items():
        # "alone" figures against raw durable-rules alone (and raw with projected facts)
        alone = name.endswith(" alone")
        p50 = statistics.median(values)
        out[name] = {"p50_ms": round(p50 * 1e3, 3),
                     "p99_ms": round(percentile(values, 0.99) * 1e3, 3),
                     "p50_vs_raw": round(p50 / statistics.median(
                         times["raw alone" if alone else "raw"]), 2)}
        if alone:
            out[name]["p50_vs_raw_projected"] = round(
                p50 / statistics.median(times["raw projected alone"]), 2)
    return out


def startup(runs: int) -> dict[str, Any]:
    """Median seconds of a fresh interpreter: bare, ``import cdss``, + default engine,
    + compiled engine (cache warm: built once before)."""
    env = {**os.environ, "PYTHONPATH": str(Path(cdss.__file__).resolve().parents[1])}
    codes = {"python -c pass": "pass",
             "import cdss": "import cdss",
             "import cdss; Engine()": "import cdss; cdss.Engine()",
             "import cdss; Engine(backend='compiled')":
                 "import cdss; cdss.Engine(backend='compiled')"}
    times: dict[str, list[float]] = {k: [] for k in codes}
    subprocess.run([sys.executable, "-c", codes["import cdss; Engine(backend='compiled')"]],
                   check=True, env=env)
    for _ in range(runs):
        for key, code in codes.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, env=env)
            times[key].append(time.perf_counter() - start)
    bare = statistics.median(times["python -c pass"])
    return {k: {"s": round(statistics.median(v), 3),
                "minus_bare_s": round(statistics.median(v) - bare, 3)} for k, v in times.items()}


def write_jsonl(path: Path, n: int) -> Path:
    encs = samples()
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            enc = encs[i % len(encs)]
            fh.write(json.dumps({**enc, "id": f"{enc['id']}-{i}"}, ensure_ascii=False) + "\n")
    return path


def audit_rates(path: Path, rounds: int) -> dict[str, Any]:
    """Encounters/s of engine.audit per backend, and of reading + parsing alone."""
    from cdss.audit import items

    engines = {name: cdss.Engine(lang="en", backend=name) for name in BACKENDS}
    rates: dict[str, list[float]] = {"parse_only": [], **{n: [] for n in BACKENDS}}
    for engine in engines.values():
        engine.audit(path, progress=False)
    rows = None
    for _ in range(rounds):
        start = time.perf_counter()
        n = sum(1 for _, line in items(path) if cdss.Encounter.parse(line))
        rates["parse_only"].append(n / (time.perf_counter() - start))
        for name, engine in engines.items():
            start = time.perf_counter()
            result = engine.audit(path, progress=False)
            rates[name].append(result.inputs / (time.perf_counter() - start))
            assert rows is None or result.rows == rows, f"{name}: other rows"
            rows = result.rows
    parse = statistics.median(rates["parse_only"])
    return {k: {"per_s": round(statistics.median(v)), "vs_parse_only":
                round(statistics.median(v) / parse, 3)} for k, v in rates.items()}


def dose_parse(repeat: int = 7, number: int = 3000) -> dict[str, Any]:
    """Microseconds per ``Prescription.model_validate`` by dose unit, and the ratio to mg."""
    import timeit

    from cdss.models import Prescription

    doses = ["5 mg", "0.5 g", "250 ug", "250 mcg", "10 IU", "10 U", "10 单位", "5 mL",
             "5 毫升", "0.005 L", "10 µg"]
    out: dict[str, float] = {}
    for dose in doses:
        raw = {"drug": "x", "dose": dose, "frequency": "qd", "route": "oral"}
        Prescription.model_validate(raw)
        out[dose] = min(timeit.repeat(lambda raw=raw: Prescription.model_validate(raw),
                                      number=number, repeat=repeat)) / number * 1e6
    mg = out["5 mg"]
    return {k: {"us": round(v, 1), "vs_mg": round(v / mg, 2)} for k, v in out.items()}


def prescriptions(rounds: int) -> dict[str, Any]:
    """check p50 (ms) per backend with 1, 5, 20 and 50 prescriptions (known drugs, one
    each, cycling), and per prescription relative to the 1-prescription case."""
    kb = load_knowledge()
    drugs = sorted(kb.drugs)
    base = json.loads((SAMPLES / "enc-003.json").read_text(encoding="utf-8"))
    engines = {name: cdss.Engine(backend=name) for name in BACKENDS}
    out: dict[str, Any] = {}
    encounters = {n: {**base, "prescriptions": [
        {"drug": drugs[i % len(drugs)], "dose": "1 mg", "frequency": "qd", "route": "oral"}
        for i in range(n)]} for n in (1, 5, 20, 50)}
    times: dict[tuple[str, int], list[float]] = {}
    shown = {n: len(engines["durable"].check(enc).suggestions) for n, enc in encounters.items()}
    for _ in range(rounds):
        for n, enc in encounters.items():
            for name, engine in engines.items():
                start = time.perf_counter()
                engine.check(enc)
                times.setdefault((name, n), []).append(time.perf_counter() - start)
    for name in engines:
        p50 = {n: statistics.median(times[(name, n)]) for n in encounters}
        out[name] = {f"{n} rx": {"p50_ms": round(p50[n] * 1e3, 2), "suggestions": shown[n],
                                 "ms_per_rx_beyond_1": round((p50[n] - p50[1]) / max(n - 1, 1)
                                                             * 1e3, 3)}
                     for n in encounters}
    return out


def dask_vs_processes(path: Path, backend: str, repeat: int = 3) -> dict[str, Any]:
    """2 Dask workers (1 thread each) on ``path`` against two plain processes each
    auditing ``path`` at once: encounters/s, both warm; with the workers' statistical
    profiler on (Dask's default) and off, and with 16 and 2 tasks."""
    import dask
    from distributed import Client, LocalCluster, get_task_stream

    from cdss.distributed import audit_dask

    n = sum(1 for _ in path.open(encoding="utf-8"))
    code = ("import sys, time, cdss; e = cdss.Engine(lang='en', backend=sys.argv[2]); "
            "e.audit(sys.argv[1], progress=False); t = time.perf_counter(); "
            "r = e.audit(sys.argv[1], progress=False); print(time.perf_counter() - t)")
    env = {**os.environ, "PYTHONPATH": str(Path(cdss.__file__).resolve().parents[1])}

    def two_processes() -> float:
        procs = [subprocess.Popen([sys.executable, "-c", code, str(path), backend],
                                  stdout=subprocess.PIPE, text=True, env=env)
                 for _ in range(2)]
        seconds = [float(p.communicate()[0]) for p in procs]
        return 2 * n / max(seconds)

    options = cdss.Engine(lang="en", backend=backend).options
    block = max(1, path.stat().st_size // 8 + 1)  # 8 tasks
    rates: dict[str, list[float]] = {"two plain processes": [], "dask2, profiler on": [],
                                     "dask2, profiler off": []}
    busy: dict[str, list[float]] = {"dask2, profiler on": [], "dask2, profiler off": []}
    # the client's own time after the last task ends (fetching, relabelling, merging)
    tail: dict[str, list[float]] = {"dask2, profiler on": [], "dask2, profiler off": []}
    with contextlib.ExitStack() as stack:
        clients = {}
        for profile in (True, False):  # both clusters up, used in turn (interleaved)
            with dask.config.set({"distributed.worker.profile.enabled": profile}):
                cluster = stack.enter_context(LocalCluster(
                    n_workers=2, threads_per_worker=1, processes=True))
            client = stack.enter_context(Client(cluster, set_as_default=False))
            clients[f"dask2, profiler {'on' if profile else 'off'}"] = client
            audit_dask(path, client=client, engine_options=options, block_bytes=block)
        for _ in range(repeat):
            rates["two plain processes"].append(two_processes())
            for name, client in clients.items():
                with get_task_stream(client) as stream:
                    start_epoch = time.time()  # the task stream's clock
                    start = time.perf_counter()
                    audit_dask(path, client=client, engine_options=options,
                               block_bytes=block)
                    wall = time.perf_counter() - start
                rates[name].append(n / wall)
                computed = [ss for task in stream.data for ss in task["startstops"]
                            if ss["action"] == "compute"]
                busy[name].append(sum(ss["stop"] - ss["start"] for ss in computed) / (2 * wall))
                tail[name].append(start_epoch + wall - max(ss["stop"] for ss in computed))
    baseline = statistics.median(rates["two plain processes"])
    return {name: {"per_s": round(statistics.median(v)),
                   "vs_two_processes": round(statistics.median(v) / baseline, 2),
                   "spread": [round(min(v) / baseline, 2), round(max(v) / baseline, 2)],
                   **({"worker_busy_share": round(statistics.median(busy[name]), 2),
                       "client_tail_s": round(statistics.median(tail[name]), 3)}
                      if name in busy else {})}
            for name, v in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--extra", type=int, default=60, help="interaction rows added")
    parser.add_argument("--audit-n", type=int, default=2000)
    parser.add_argument("--dask", action="store_true")
    parser.add_argument("--only", nargs="*", default=None,
                        help="check startup audit dose rx dask (default: all but dask)")
    args = parser.parse_args()
    only = set(args.only or ["check", "startup", "audit", "dose", "rx"])
    if args.dask:
        only.add("dask")
    tmp = Path(tempfile.mkdtemp(prefix="cdss-speed-"))
    results: dict[str, Any] = {"cpus": os.cpu_count(), "load_before": os.getloadavg()}
    if "check" in only:
        results["check_bundled"] = check_latency(None, args.rounds)
        results["check_grown"] = check_latency(grown_knowledge(args.extra, tmp), args.rounds)
    if "startup" in only:
        results["startup"] = startup(5)
    if "audit" in only:
        results["audit"] = audit_rates(write_jsonl(tmp / "audit.jsonl", args.audit_n), 5)
    if "dose" in only:
        results["dose_parse"] = dose_parse()
    if "rx" in only:
        results["prescriptions"] = prescriptions(args.rounds)
    if "dask" in only:
        results["dask"] = dask_vs_processes(write_jsonl(tmp / "dask.jsonl", 2 * args.audit_n),
                                            backends.AUDIT_DEFAULT)
    results["load_after"] = os.getloadavg()
    print(json.dumps(results, indent=1, ensure_ascii=False))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
