"""Facts and rendered forms of a small panel match their snapshots (fast; see
tests/golden/snapshots.py). The wide net for behaviour is tests/test_golden_reports.py;
this one is cheap enough to run for every mutant in mutation testing.

One test computes and compares every form: mutation tools run only the tests that call
a mutated function, and a module fixture would credit the calls to the first test only.
"""

from __future__ import annotations

import json

from golden.snapshots import SNAPSHOTS, fingerprints

import cdss


def test_facts_and_every_rendering_match_their_snapshots() -> None:
    current = fingerprints(cdss.Engine(backend="python"))
    old = json.loads(SNAPSHOTS.read_text(encoding="utf-8"))
    assert set(current) == set(old)
    diff = [f"{n}:{k}" for n in current for k in current[n] if old[n].get(k) != current[n][k]]
    assert not diff, f"{len(diff)} snapshots differ (first: {diff[:5]}); if meant, rewrite " \
                     "with `python tests/golden/snapshots.py --write`"
