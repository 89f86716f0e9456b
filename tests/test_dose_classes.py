"""A dose-dependent class (aspirin as an NSAID above 325 mg/day, above 100 mg/day with
ticagrelor) holds only when the dose puts the drug in it: with the daily dose unknown,
the rules reading the class are undecided (``not_evaluated``), not fired as if the dose
were high (session 4; before, every sparse low-dose aspirin raised NSAID cards)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdss.derive.prescriptions import MgDose

from _encounters import encounter, rx, with_rx

TICAGRELOR = rx("替格瑞洛", "90 mg", "bid")
ENALAPRIL = rx("依那普利", "10 mg", "qd")


def _ids(report) -> set[str]:
    return {s.rule_id for s in report.suggestions}


def _undecided(report) -> dict[str, tuple[str, ...]]:
    return {n.rule_id: tuple(n.missing) for n in report.not_evaluated}


@pytest.mark.parametrize(("aspirin", "fires"), [
    (rx("阿司匹林", "300 mg", "qd"), True),  # above 100 mg/day
    (rx("阿司匹林", "50 mg", "tid"), True),  # 150 mg/day
    (rx("阿司匹林", "200 mg", "prn"), True),  # one dose above 100 mg settles it
    (rx("阿司匹林", "100 mg", "qd"), False),  # the labelled 75-100 mg/day: near miss
])
def test_ticagrelor_with_aspirin_above_100_mg(engine, aspirin, fires) -> None:
    report = engine.check(with_rx(TICAGRELOR, aspirin))
    assert ("dosing.interaction.ticagrelor_aspirin_above_100" in _ids(report)) is fires


def test_ticagrelor_with_aspirin_of_unknown_daily_dose_is_undecided(engine) -> None:
    aspirin = {"drug": "阿司匹林肠溶片", "dose": "100 mg", "route": "oral", "duration": "7 d"}
    report = engine.check(with_rx(TICAGRELOR, aspirin))
    rule = "dosing.interaction.ticagrelor_aspirin_above_100"
    assert rule not in _ids(report)
    assert _undecided(report)[rule] == ("prescriptions[1].frequency",)


def test_a_tablet_of_unknown_strength_is_no_nsaid_until_its_dose_is_known(engine) -> None:
    aspirin = rx("阿司匹林肠溶片", "1 片", "qd")
    report = engine.check(with_rx(ENALAPRIL, aspirin))
    assert "dosing.interaction.acei_nsaid" not in _ids(report)
    assert "dosing.interaction.acei_nsaid" in _undecided(report)
    assert "quality.missing.dose_strength" in _ids(report)  # what to write is asked


@pytest.mark.parametrize(("dose", "frequency", "fires"), [
    ("500 mg", "tid", True),  # 1,500 mg/day: analgesic aspirin is an NSAID
    ("500 mg", "prn", True),  # a single dose above 325 mg settles it
    ("100 mg", "qd", False),  # low-dose aspirin: near miss
])
def test_aspirin_as_an_nsaid_with_an_ace_inhibitor(engine, dose, frequency, fires) -> None:
    report = engine.check(with_rx(ENALAPRIL, rx("阿司匹林", dose, frequency)))
    assert ("dosing.interaction.acei_nsaid" in _ids(report)) is fires


def test_aspirin_kidney_rule_waits_for_the_dose(engine) -> None:
    old = {"patient": {"birth_date": "1950-03-01"}, "labs": []}  # at risk, no creatinine
    rule = "dosing.renal.crcl_unknown_at_risk"
    high = engine.check(encounter(old, prescriptions=[rx("阿司匹林", "500 mg", "tid")]))
    assert rule in _ids(high)
    sparse = engine.check(encounter(old, prescriptions=[rx("阿司匹林肠溶片", "1 片", "qd")]))
    assert rule not in _ids(sparse)
    low = engine.check(encounter(old, prescriptions=[rx("阿司匹林", "100 mg", "qd")]))
    assert rule not in _ids(low) and rule not in _undecided(low)


@given(st.one_of(st.none(), st.floats(0, 5000)), st.one_of(st.none(), st.floats(0, 5000)),
       st.floats(1, 1000))
def test_mg_dose_above_is_three_valued(single, daily, threshold) -> None:
    held = MgDose(single, daily).above(threshold)
    if daily is not None:
        assert held is (daily > threshold)
    elif single is not None and single > threshold:
        assert held is True
    else:
        assert held is None


def test_rx_key_rules_are_indexed_by_their_key_not_by_the_shared_flag(engine) -> None:
    """Every rx_key pattern also says ``at_dose: true``: the matchers and the pruning
    must still file and look facts up by ``key`` (the flag is shared by all of them)."""
    from cdss.backends.compiled.codegen import index_key
    from cdss.rulelang import ir
    from cdss.rulelang.load import _pruning

    patterns = [p for r in engine.rules for p in r.patterns if p.fact_type == "rx_key"
                and any(f == "key" for f, _ in ir.literal_equalities(p.condition))]
    assert patterns and all(index_key(p)[1] == "key" for p in patterns)
    # never pruned by the flag: facts with at_dose missing must reach the reasoning
    assert _pruning(list(engine.rules)).get("rx_key", ("key",))[0] != "at_dose"
