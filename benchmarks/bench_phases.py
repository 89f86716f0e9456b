"""Where the time of one ``check`` (or ``findings``) goes, stage by stage (issue #17).

Run: ``python benchmarks/bench_phases.py [--backend compiled] [--rounds 25]
[--findings]``. Each stage of the engine is wrapped by a timer (about 0.2 µs per call
added); the bundled samples are checked ``--rounds`` times (the first 3 are warm-up) and
the mean µs per encounter of each stage is printed, with the mean and median of the
whole call. ``--findings`` times ``engine.findings(evidence=False)``, the audit's path.
Absolute figures depend on the machine; compare runs made one after the other.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cdss
from cdss import engine as engine_module

SAMPLES = Path(cdss.__file__).parent / "samples"


def _wrap(owner: Any, name: str, label: str, spent: collections.Counter[str]) -> None:
    inner: Callable[..., Any] = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[label] += time.perf_counter() - start
    setattr(owner, name, timed)


def phases(backend: str, rounds: int, findings: bool) -> dict[str, float]:
    """Mean µs per encounter of each stage, and of the whole call."""
    engine = cdss.Engine(backend=backend)
    spent: collections.Counter[str] = collections.Counter()
    for owner, name, label in [
            (engine, "parse", "parse"), (engine_module, "build_facts", "build_facts"),
            (engine, "matches", "matching"), (engine._explainer, "suggestion", "suggestions"),
            (engine._reasoner, "undecided", "undecided assignments"),
            (engine._reasoner, "_decide", "case splits"),
            (engine_module, "deduplicate", "deduplicate"), (engine, "_alert", "alerting"),
            (engine._explainer, "not_evaluated", "not_evaluated"),
            (engine._explainer, "missing_data", "missing_data"),
            (engine_module, "receipt", "receipt")]:
        _wrap(owner, name, label, spent)
    encounters = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(SAMPLES.glob("*.json"))]
    total: list[float] = []
    per: dict[str, float] = collections.defaultdict(float)
    for i in range(rounds + 3):
        for enc in encounters:
            spent.clear()
            start = time.perf_counter()
            if findings:
                engine.findings(enc, evidence=False)
            else:
                engine.check(enc)
            elapsed = time.perf_counter() - start
            if i >= 3:
                total.append(elapsed)
                for label, seconds in spent.items():
                    per[label] += seconds
    n = len(total)
    out = {label: round(seconds / n * 1e6, 1) for label, seconds in per.items()}
    out["(rest)"] = round((sum(total) - sum(per.values())) / n * 1e6, 1)
    out["whole: mean"] = round(sum(total) / n * 1e6, 1)
    out["whole: median"] = round(statistics.median(total) * 1e6, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="compiled")
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--findings", action="store_true")
    args = parser.parse_args()
    print(json.dumps(phases(args.backend, args.rounds, args.findings), indent=1))


if __name__ == "__main__":
    main()
