"""The caches of the findings path (issue #17) never change a report.

``Reasoner._splits`` keeps a finding's case split (which assignments are completed, the
missing fields, the values tried) per rule, fact ids, missing fields and partly known
lists, never per value; ``Reasoner._candidates`` keeps the candidate rules per
fact-presence signature; the explainer keeps per rule what makes it about this patient
and per path whether it can be asked for. A warm engine must give every encounter the
report a cold one gives it, in any order; encounters sharing a presence signature with
other values must get their own decisions.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given
from test_missing_data import _SETTINGS, sparse_visits

import cdss
from cdss import reasoning
from cdss.derive import build_facts
from cdss.explain import _RuleStatics
from cdss.receipt import fixed_clock
from cdss.rulelang.bounds import unknown_assignments
from cdss.rulelang.evaluate import missing_fields

CLOCK = fixed_clock(datetime(2026, 12, 1, tzinfo=UTC))
ENGINE = cdss.Engine(lang="en", backend="compiled", clock=CLOCK)
#: the reference: caches emptied before each check, no shortcut in the case split
REFERENCE = cdss.Engine(lang="en", backend="compiled", clock=CLOCK)
SAMPLES = sorted((Path(cdss.__file__).parent / "samples").glob("*.json"))


def visit(**parts: Any) -> dict[str, Any]:
    """A sparse van visit: a woman of 45 and only what ``parts`` add."""
    patient = {"id": "p", "sex": "female", "birth_date": "1981-06-01",
               **parts.pop("patient", {})}
    return {"id": "v", "time": "2026-11-20T09:30:00+08:00", "patient": patient, **parts}


def sparse() -> list[dict[str, Any]]:
    """Encounters sharing presence signatures with other values (haemoglobin with the
    pregnancy status missing; glucose without its timing; BP without a problem list),
    and others that differ from them in what is present."""
    out = [visit(labs=[{"code": "hemoglobin", "value": f"{v} g/L"}]) for v in (62, 95, 105, 130)]
    out += [visit(patient={"pregnant": False}, labs=[{"code": "hemoglobin", "value": "95 g/L"}])]
    out += [visit(vitals={"glucose": f"{v} mmol/L"}) for v in (5.0, 6.5, 7.4, 12.0)]
    out += [visit(vitals={"glucose": "7.4 mmol/L", "glucose_context": "fasting"})]
    out += [visit(vitals={"sbp": s, "dbp": d}) for s, d in ((150, 85), (165, 95), (185, 115))]
    out += [visit(vitals={"sbp": 165, "dbp": 95}, problems=[])]
    return out


def encounters() -> list[dict[str, Any]]:
    return sparse() + [json.loads(p.read_text(encoding="utf-8")) for p in SAMPLES]


def cold(engine: cdss.Engine) -> cdss.Engine:
    """Empty every cache of the findings path."""
    engine._reasoner._splits.clear()
    engine._reasoner._candidates.clear()
    engine._explainer._about.clear()
    engine._explainer._askable_paths.clear()
    return engine


def report(engine: cdss.Engine, enc: dict[str, Any]) -> str:
    return json.dumps(engine.check(enc).to_dict(), ensure_ascii=False, sort_keys=True)


def test_warm_engine_gives_every_encounter_the_cold_report_in_any_order() -> None:
    encs = encounters()
    expected = [report(cold(ENGINE), enc) for enc in encs]
    for seed in range(3):
        order = list(range(len(encs)))
        random.Random(seed).shuffle(order)
        for i in order:
            assert report(ENGINE, encs[i]) == expected[i], encs[i]
    # the audit's path (findings without not_evaluated) shares the caches
    for enc, text in zip(encs, expected, strict=True):
        rules = [s["rule_id"] for s in json.loads(text)["suggestions"]]
        assert [s.rule_id for s in ENGINE.findings(enc, evidence=False)] == rules


def test_same_presence_other_values_other_decisions() -> None:
    ENGINE.check(visit(labs=[{"code": "hemoglobin", "value": "62 g/L"}]))
    splits = len(ENGINE._reasoner._splits)
    made = {}
    for value in (62, 95, 105):
        found = [s for s in ENGINE.check(visit(labs=[{"code": "hemoglobin",
                                                      "value": f"{value} g/L"}])).suggestions
                 if s.rule_id.startswith("diagnosis.anaemia.")]
        made[value] = [(s.certainty, s.severity) for s in found]
    assert made == {62: [("regardless", "critical")], 95: [("regardless", "warning")],
                    105: [("regardless", "info")]}
    # the split was worked out once for the three values (keyed without them)
    assert len(ENGINE._reasoner._splits) == splits


def test_split_cache_is_bounded_and_stays_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reasoning, "MAX_SIGNATURES", 2)
    engine = cdss.Engine(lang="en", backend="compiled", clock=CLOCK)
    encs = sparse()
    expected = [report(cold(engine), enc) for enc in encs]
    for enc, text in zip(encs, expected, strict=True):
        assert report(engine, enc) == text
        assert len(engine._reasoner._splits) <= 2
        assert len(engine._reasoner._candidates) <= 2


def test_missing_fields_as_the_kleene_trace_finds_them() -> None:
    reasoner = ENGINE._reasoner
    seen = 0
    for enc in encounters():
        fs = build_facts(ENGINE.parse(enc), ENGINE.kb)
        by_type: dict[str, list[dict[str, Any]]] = {}
        for fact in fs.facts:
            by_type.setdefault(fact["t"], []).append(fact)
        for rule in ENGINE.rules:
            for env in unknown_assignments(reasoner._bounded[rule.action], by_type):
                got = reasoning._missing_fields(reasoner._may_miss[rule.action], env)
                assert got == frozenset(missing_fields(rule.patterns, env)), rule.id
                seen += 1
    assert seen > 100


@pytest.mark.parametrize("value", [None, 1.5, 2.0, 7, True, ["a", "b"], "x {y} }{", "{0}"])
def test_precompiled_texts_render_as_the_templates(value: Any) -> None:
    for rule in ENGINE.rules:
        statics = _RuleStatics.of(rule)
        env = {p.name: {"t": p.fact_type, "id": p.name} for p in rule.patterns}
        for pattern, name in statics.slots:
            if value is not None:
                env[pattern][name] = value
        assert statics.texts(env) == {
            lang: {part: t.render(env) for part, t in parts.items()}
            for lang, parts in statics.templates.items()}, rule.id


def test_alerted_copy_is_dataclasses_replace() -> None:
    import dataclasses

    for enc in encounters()[:8]:
        for s in ENGINE.findings(enc):
            site = ({"level": "site", "change": "stop"},)
            new = s.alerted("hard", {"reason": "r"}, site)
            assert new == dataclasses.replace(s, stop="hard", repeat={"reason": "r"}, site=site)
            assert new is not s and (s.stop, s.site) != ("hard", site)


@_SETTINGS
@given(sparse_visits())
def test_warm_engine_reasons_as_a_cold_one_without_shortcuts(enc: dict[str, Any]) -> None:
    """Generated sparse visits: the warm engine (caches filled by every earlier
    example, the blocked-context shortcut of ``_decide`` on) against a cold engine whose
    case splits try every context value."""
    got = report(ENGINE, enc)
    with mock.patch.object(reasoning, "_all_false", lambda *args: False):
        assert got == report(cold(REFERENCE), enc)
