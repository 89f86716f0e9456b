"""Facts and rendered forms of a small panel match their snapshots (fast; see
tests/golden/snapshots.py). The wide net for behaviour is tests/test_golden_reports.py;
this one is cheap enough to run for every mutant in mutation testing."""

from __future__ import annotations

import json

import pytest
from golden.snapshots import SNAPSHOTS, fingerprints

import cdss


@pytest.fixture(scope="module")
def current() -> dict[str, dict[str, str]]:
    return fingerprints(cdss.Engine(backend="python"))


@pytest.mark.parametrize("form", ["facts", "json", "cards", "text", "html"])
def test_snapshots(current, form) -> None:
    old = json.loads(SNAPSHOTS.read_text(encoding="utf-8"))
    assert set(current) == set(old)
    diff = [f"{n}:{k}" for n in current for k in current[n]
            if k.split(".")[0] == form and old[n].get(k) != current[n][k]]
    assert not diff, f"{len(diff)} {form} snapshots differ (first: {diff[:5]}); if meant, " \
                     "rewrite with `python tests/golden/snapshots.py --write`"
