"""Soak of ``engine.check`` (issue #12): good encounters, bad inputs and interrupts.

Run: ``python benchmarks/bench_soak.py [--n 100000] [--interrupt-every 7]``.

Mixes the bundled samples (good), inputs that must raise ``InputError`` (bad) and
checks interrupted by a ``SIGALRM`` handler that raises ``KeyboardInterrupt`` at a
random point of the check. Reports RSS at intervals, how each kind of check ended,
and the durable-rules states left behind (must be zero: asked both of the backend's
bookkeeping and of durable-rules itself). Exits 1 if anything was leaked, swallowed
or mis-classified.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import signal
import sys
import time
from pathlib import Path

import cdss
from cdss.errors import InputError

SAMPLES = Path(cdss.__file__).parent / "samples"
#: inputs every version of the contract refuses with InputError
BAD = [
    "{not json",
    {"id": "b1", "time": "2026-11-20T09:00:00"},                       # no patient
    {"id": "b2", "time": "not a time", "patient": {"id": "p"}},
    {"id": "b3", "time": "2026-11-20T09:00:00", "patient": {"id": "p"},
     "prescriptions": [{"drug": "metformin", "dose": "many", "frequency": "bid"}]},
    {"id": "b4", "time": "2026-11-20T09:00:00", "patient": {"id": "p", "sex": "robot"}},
]


def rss_mb() -> float:
    """Current resident set size (Linux /proc; peak RSS elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="checks (default 20,000)")
    parser.add_argument("--interrupt-every", type=int, default=7,
                        help="about one check in N is interrupted (default 7)")
    parser.add_argument("--bad-every", type=int, default=5,
                        help="about one check in N gets a bad input (default 5)")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    good = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(SAMPLES.glob("*.json"))]
    engine = cdss.Engine()
    backend = engine._backend.host
    t0 = time.perf_counter()
    for enc in good * 5:
        engine.check(enc)
    mean = (time.perf_counter() - t0) / (5 * len(good))

    fired = 0

    def alarm(signum: int, frame: object) -> None:
        nonlocal fired
        fired += 1
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, alarm)
    unraisable = 0  # interrupts CPython could not raise (it prints "Exception ignored")

    def hook(info: sys.UnraisableHookArgs) -> None:
        nonlocal unraisable
        unraisable += info.exc_type is KeyboardInterrupt
        sys.__unraisablehook__(info)

    sys.unraisablehook = hook
    ended = {"ok": 0, "input_error": 0, "interrupted": 0, "other": 0}
    misclassified = 0
    step = max(args.n // 10, 1)
    print(f"cdss {cdss.__version__}: {args.n:,} checks, mean good check {1000 * mean:.2f} ms, "
          f"one in {args.bad_every} bad, one in {args.interrupt_every} interrupted")
    print(f"{'checks':>9} {'RSS MB':>8} {'live states':>12} {'s':>7}")
    start = time.perf_counter()
    print(f"{0:>9,} {rss_mb():>8.1f} {backend.live_states():>12} {0:>7.1f}")
    for i in range(1, args.n + 1):
        bad = rng.randrange(args.bad_every) == 0
        enc = rng.choice(BAD) if bad else rng.choice(good)
        delay = (rng.uniform(1e-6, 1.2 * mean)
                 if rng.randrange(args.interrupt_every) == 0 else 0.0)
        try:
            try:
                if delay:
                    signal.setitimer(signal.ITIMER_REAL, delay)
                engine.check(enc)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            ended["ok"] += 1
            misclassified += bad
        except KeyboardInterrupt:
            ended["interrupted"] += 1
        except InputError:
            ended["input_error"] += 1
            misclassified += not bad
        except Exception as exc:
            ended["other"] += 1
            print(f"  check {i}: {type(exc).__name__}: {exc}"[:200])
        if i % step == 0:
            print(f"{i:>9,} {rss_mb():>8.1f} {backend.live_states():>12} "
                  f"{time.perf_counter() - start:>7.1f}")
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    live = backend.live_states()
    # the state kept, clean, for the next check is not a leak
    in_engine = backend.states_in_engine(engine._backend.ruleset_name) - backend.kept_states()
    print(f"ended: {ended}; interrupts fired {fired}, surfaced as KeyboardInterrupt "
          f"{ended['interrupted']}, lost in CPython's unraisable hook {unraisable}")
    print(f"states: created {backend.created:,}, deleted {backend.deleted:,}, live {live}, "
          f"kept for the next check {backend.kept_states()}, "
          f"left in durable-rules besides it {in_engine}")
    failed = (live or in_engine or ended["other"] or misclassified
              or fired != ended["interrupted"] + unraisable)
    print("FAIL" if failed else "OK: no leaked state, every interrupt surfaced")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
