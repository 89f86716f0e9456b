"""Latency of ``engine.check`` on the bundled samples, against a hand-written baseline.

Run: ``python benchmarks/bench_check.py [--reps 200]``. Everything is measured in
the same run, so the ratios hold on any machine; absolute times depend on it.

* start-up: a fresh interpreter doing ``import cdss; cdss.Engine()`` (median of 5)
* check: p50/p99 of ``engine.check`` per encounter, split into its stages
* baseline: the same facts through hand-written Python if-statements implementing
  the same slice of rules (thresholds copied from rules/ for this benchmark only)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cdss
from cdss.derive import build_facts
from cdss.models import Encounter

SAMPLES = Path(cdss.__file__).parent / "samples"


def startup_seconds(runs: int = 5) -> float:
    code = ("import time; t = time.perf_counter(); import cdss; cdss.Engine(); "
            "print(time.perf_counter() - t)")
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True).stdout) for _ in range(runs)]
    return statistics.median(times)


def baseline(facts: list[dict[str, Any]], interactions: set[tuple[str, str]]) -> list[str]:
    """Hand-written equivalent of the bundled slice, on the same facts."""
    by: dict[str, list[dict[str, Any]]] = {}
    for f in facts:
        by.setdefault(f["t"], []).append(f)
    p, v, d, r = by["patient"][0], by["vitals"][0], by["derived"][0], by["record"][0]
    out = []
    age = p.get("age_years")
    sbp, dbp = v.get("sbp"), v.get("dbp")
    groups = p.get("problem_groups")
    if age is not None and age >= 18:
        if sbp is not None and dbp is not None and groups is not None \
                and "hypertension" not in groups:
            if (sbp >= 140 or dbp >= 90) and sbp < 160 and dbp < 100:
                out.append("grade1")
            if (sbp >= 160 or dbp >= 100) and sbp < 180 and dbp < 110:
                out.append("grade2")
        if (sbp is not None and sbp >= 180) or (dbp is not None and dbp >= 110):
            out.append("referral")
    lb = d.get("news2_lower_bound")
    if age is not None and age >= 16 and lb is not None:
        if lb >= 7:
            out.append("news2_high")
        elif lb >= 5:
            out.append("news2_medium")
        elif d.get("news2_max_param") == 3:
            out.append("news2_red")
    g = v.get("glucose")
    if g is not None:
        if g < 3.0:
            out.append("hypo2")
        elif g <= 3.9 and groups and "diabetes" in groups:
            out.append("hypo1")
    for rx in by.get("rx", []):
        if not rx["known"]:
            out.append("unknown_drug")
        if "max_daily" in rx and "daily_dose" in rx and rx["daily_dose"] > rx["max_daily"]:
            out.append("max_daily")
        if "max_single" in rx and "dose" in rx and rx["dose"] > rx["max_single"]:
            out.append("max_single")
    keys = by.get("rx_key", [])
    for a in keys:
        for b in keys:
            if a["rx"] != b["rx"] and (a["key"], b["key"]) in interactions:
                out.append("interaction")
    for a in by.get("allergy_key", []):
        out += ["allergy" for k in keys if k["key"] == a["key"]]
    cc = r.get("chief_complaint_chars")
    if cc == 0:
        out.append("missing_cc")
    if cc is not None and cc > 20:
        out.append("long_cc")
    for c in by.get("condition", []):
        if c["code_valid"] is False:
            out.append("icd_form")
        if p.get("sex") == "male" and "pregnancy" in c["groups"]:
            out.append("male_pregnancy")
    out += ["implausible"] * len(by.get("implausible", []))
    return out


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()

    t = time.perf_counter()
    engine = cdss.Engine()
    build = time.perf_counter() - t
    encounters = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(SAMPLES.glob("*.json"))]
    interactions = {(row.a, row.b) for row in engine.kb.interactions}
    for enc in encounters:  # warm caches
        engine.check(enc)

    check_ms, parse_ms, derive_ms, rules_ms, base_ms, base_total_ms = [], [], [], [], [], []
    for _ in range(args.reps):
        for enc in encounters:
            t0 = time.perf_counter()
            engine.check(enc)
            t1 = time.perf_counter()
            model = Encounter.parse(enc)
            t2 = time.perf_counter()
            facts = build_facts(model, engine.kb)
            t3 = time.perf_counter()
            engine._backend.run(engine.ruleset.relevant(facts.facts))
            t4 = time.perf_counter()
            baseline(facts.facts, interactions)
            t5 = time.perf_counter()
            check_ms.append(1000 * (t1 - t0))
            parse_ms.append(1000 * (t2 - t1))
            derive_ms.append(1000 * (t3 - t2))
            rules_ms.append(1000 * (t4 - t3))
            base_ms.append(1000 * (t5 - t4))
            base_total_ms.append(1000 * (t5 - t4 + t3 - t1))

    startup = startup_seconds()
    figures = {
        "encounters": len(encounters), "reps": args.reps, "rules": len(engine.rules),
        "startup_s_fresh_interpreter": round(startup, 3),
        "engine_build_s_in_process": round(build, 3),
        "check_p50_ms": round(percentile(check_ms, 0.5), 3),
        "check_p99_ms": round(percentile(check_ms, 0.99), 3),
        "stage_p50_ms": {"parse": round(percentile(parse_ms, 0.5), 3),
                         "derive": round(percentile(derive_ms, 0.5), 3),
                         "durable_rules": round(percentile(rules_ms, 0.5), 3),
                         "explain_and_not_evaluated": round(
                             percentile(check_ms, 0.5) - percentile(parse_ms, 0.5)
                             - percentile(derive_ms, 0.5) - percentile(rules_ms, 0.5), 3)},
        "baseline_rules_p50_ms": round(percentile(base_ms, 0.5), 4),
        "ratio_durable_to_baseline_rules": round(
            statistics.median(rules_ms) / statistics.median(base_ms), 1),
        "ratio_check_to_baseline_pipeline": round(
            statistics.median(check_ms) / statistics.median(base_total_ms), 2),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:36} {value}")
        print(f"\ntargets: p50 < 1 ms -> {'met' if figures['check_p50_ms'] < 1 else 'NOT met'};"
              f" start-up < 1.5 s -> {'met' if startup < 1.5 else 'NOT met'}")
    return figures


if __name__ == "__main__":
    main()
