"""A fact type can imply a condition on a field a pattern does not name
(``FieldSpec.implied``): every rule over ``rx_key`` or ``rx_renal`` reads a
dose-dependent class only at its dose (``at_dose: true``) without writing it, so a
county centre's own rule cannot forget it (issue #15's convention, made the compiler's)."""

from __future__ import annotations

import pytest

from cdss.derive.schema import fact_types
from cdss.kb import load_knowledge
from cdss.rulelang.parse import parse_when
from cdss.rulelang.spec import PatternSpec

KB = load_knowledge()
TYPES = fact_types(KB)


def _lowered(**patterns: dict) -> str:
    when = {name: PatternSpec.model_validate(raw) for name, raw in patterns.items()}
    return repr(parse_when(when, TYPES, KB))


@pytest.mark.parametrize("fact", ["rx_key", "rx_renal"])
def test_every_dose_class_fact_type_implies_at_dose(fact: str) -> None:
    assert TYPES[fact].fields["at_dose"].implied is True


def test_a_pattern_without_at_dose_reads_as_if_it_said_true() -> None:
    unsaid = _lowered(a={"fact": "rx_key", "if": {"key": "class:nsaid"}})
    said = _lowered(a={"fact": "rx_key", "if": {"key": "class:nsaid", "at_dose": True}})
    assert unsaid == said
    assert "at_dose" in unsaid


def test_a_pattern_without_a_condition_gets_the_implied_one() -> None:
    assert _lowered(a={"fact": "rx_key"}) == _lowered(a={"fact": "rx_key",
                                                          "if": {"at_dose": True}})


@pytest.mark.parametrize("own", [
    {"key": "class:nsaid", "at_dose": False},
    {"key": "class:nsaid", "at_dose": {"exists": False}},
    {"any": [{"at_dose": True}, {"at_dose": False}]},
])
def test_a_pattern_that_names_at_dose_keeps_its_own_condition(own: dict) -> None:
    lowered = _lowered(a={"fact": "rx_key", "if": own})
    assert lowered.count("'at_dose'") == repr(own).count("'at_dose'")


def test_other_fact_types_imply_nothing() -> None:
    assert _lowered(p={"fact": "patient", "if": {"age_years": {"gte": 65}}}).count(
        "at_dose") == 0
    assert not any(spec.implied is not None for name, t in TYPES.items()
                   if name not in ("rx_key", "rx_renal") for spec in t.fields.values())
