"""The Beers and children's daily limits of the knowledge are in mg: a dose written in
dosage units of unknown strength ("1 片") is not compared with them (before session 4,
"地高辛 1 片" in an 86-year-old read as 1 > 0.125 and raised the Beers dose card)."""

from __future__ import annotations

import pytest

from _encounters import encounter, rx

OLD = {"patient": {"birth_date": "1940-01-01"}}
BEERS = "dosing.geriatric.dose_above_beers_limit"


def _ids(report) -> set[str]:
    return {s.rule_id for s in report.suggestions}


@pytest.mark.parametrize(("dose", "fires"), [
    ("0.25 mg", True),    # above Beers 0.125 mg/day
    ("0.125 mg", False),  # at the limit: near miss
    ("1 片", False),       # strength unknown: not compared with a limit in mg
])
def test_beers_daily_limit_reads_mg_only(engine, dose, fires) -> None:
    report = engine.check(encounter(OLD, prescriptions=[rx("地高辛", dose, "qd")]))
    assert (BEERS in _ids(report)) is fires


def test_a_tablet_dose_of_unknown_strength_is_named_as_unchecked(engine) -> None:
    report = engine.check(encounter(OLD, prescriptions=[rx("地高辛", "1 片", "qd")]))
    assert "quality.missing.dose_strength" in _ids(report)
