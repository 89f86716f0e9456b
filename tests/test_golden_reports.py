"""The reports of every case, panel entry and sample match the committed fingerprints.

A restructuring must leave the contract's reports byte-identical (issue #13); a change
meant to alter reports rewrites ``tests/golden/reports.json`` (see tests/golden/reports.py)
in the same commit, and says which reports changed and why.
"""

from __future__ import annotations

import json

import pytest
from golden.reports import MANIFEST, changed, compute

from cdss import backends


@pytest.mark.parametrize("backend", backends.names())
def test_reports_match_the_golden_fingerprints(backend: str) -> None:
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    diff = changed(compute(backend), manifest)
    assert not diff, (f"{len(diff)} reports differ from tests/golden/reports.json on the "
                      f"{backend} backend (first: {diff[:10]}); if meant, rewrite it with "
                      "`python tests/golden/reports.py --write`")
