"""The faster explained suggestions, alerting and receipt (issue #17) give what the plain
code gave: a warm engine the reports of a cold one, the per-rule plans of clearing and
evidence what the tree walks give on every firing, remembered alerting what asking
each time gives, and the shared JSON encoder what ``json.dumps`` gives."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _sites import layer, site
from golden.reports import encounters

import cdss
from cdss import clearing
from cdss.clearing import _falsify, _falsify_planned, plan
from cdss.derive import build_facts
from cdss.explain import _CONDITION, _DOSE_FIELDS, Explainer, _fmt
from cdss.receipt import canonical_json, fixed_clock
from cdss.report import Suggestion
from cdss.rulelang import ir
from cdss.rulelang.evaluate import explain
from cdss.site import Alerting
from cdss.site import apply as site_apply

from _encounters import encounter

CLOCK = fixed_clock(datetime(2026, 12, 5, tzinfo=UTC))


@pytest.fixture(scope="module")
def compiled() -> cdss.Engine:
    return cdss.Engine(backend="compiled", clock=CLOCK)


@pytest.fixture(scope="module")
def inputs() -> list[tuple[str, dict[str, Any]]]:
    """Every rule case, sparse panel entry and sample (the golden reports' inputs)."""
    return list(encounters())


def _forms(report: cdss.Report) -> list[str]:
    """Every rendering of a report in both languages, receipt included."""
    out = []
    for lang in ("zh", "en"):
        shown = report.with_lang(lang)
        out += [shown.to_json(), json.dumps(shown.to_cds_hooks(), ensure_ascii=False),
                shown.to_text(), shown._repr_html_()]
    return out


def _cold(engine: cdss.Engine) -> cdss.Engine:
    """``engine`` with every cache of the explainer and the alerting emptied."""
    engine._explainer = Explainer(engine.kb, engine.ruleset.rules)
    engine.alerting = Alerting(engine.policy, engine.alerting.rules)
    return engine


def _firings(engine: cdss.Engine, inputs: list[tuple[str, dict[str, Any]]]):
    """(rule, env, facts) of every firing over ``inputs``."""
    for _, enc in inputs:
        try:
            facts = build_facts(engine.parse(enc), engine.kb)
        except cdss.InputError:
            continue
        by_id = {f["id"]: f for f in facts.facts}
        for action, bound in engine.matches(facts.facts):
            rule = engine.ruleset.by_action[action]
            yield rule, {name: by_id[i] for name, i in bound.items()}, facts


def test_a_warm_engine_gives_the_reports_of_a_cold_one(compiled: cdss.Engine,
                                                       inputs) -> None:
    """Every input in three shuffled orders through one engine, against the same input
    through an engine whose caches were emptied just before."""
    chosen = inputs[::3] + [i for i in inputs if i[0].startswith("samples/")]
    warm = cdss.Engine(backend="compiled", clock=CLOCK)
    expected = {}
    for name, enc in chosen:
        expected[name] = _forms(_cold(compiled).check(enc))
    rng = random.Random(17)
    for _ in range(3):
        order = chosen[:]
        rng.shuffle(order)
        for name, enc in order:
            assert _forms(warm.check(enc)) == expected[name], name
            assert warm.check(json.dumps(enc, ensure_ascii=False)).to_json() == \
                expected[name][0], name


def test_planned_clearing_is_the_tree_walk(compiled: cdss.Engine, inputs) -> None:
    """On every firing, and on the same firing with each numeric value made absent or
    a text (a branch of an ``any`` that cannot move then clears nothing), the plan of a
    pattern finds the alternatives :func:`cdss.clearing._falsify` finds."""
    checked = 0
    for rule, env, _ in _firings(compiled, inputs[::2]):
        for p in rule.patterns:
            planned = plan(p.condition)
            variants = [env]
            for name in ir.fields_read(p.condition) if p.condition is not None else ():
                for value in (None, "12"):
                    variants.append({**env, p.name: {**env[p.name], name: value}})
            for e in variants:
                walked = _falsify(p.condition, p.name, e)
                assert (_falsify_planned(planned, p.name, e) if planned is not None
                        else []) == walked, (rule.id, p.name)
                checked += 1
    assert checked > 1000


def test_an_any_of_no_branch_still_clears_by_nothing() -> None:
    """``any`` of no branch: one alternative of no condition, planned or walked."""
    node = ir.Any_(children=())
    assert plan(node) is not None
    assert _falsify_planned(plan(node), "v", {}) == _falsify(node, "v", {}) == [[]]


def _reference_evidence(ex: Explainer, rule, env, fs) -> list[dict[str, Any]]:
    """The evidence as session 3 built it (every clause's wording worked out per
    firing, each item copied with its clause)."""
    out: list[tuple[dict[str, Any], str]] = []
    seen: set[str] = set()
    for pattern in rule.patterns:
        fact = env[pattern.name]
        headline = ex.types[fact["t"]].headline
        if headline is not None:
            path = ex.field_path(fs, fact, headline.field)
            if path not in seen:
                seen.add(path)
                item = {"field": path, "value": fact.get(headline.field)}
                if headline.condition:
                    item["condition"] = headline.condition.format(**fact)
                if fact.get("known") is False:
                    item["did_you_mean"] = ex.kb.suggest_drugs(str(fact.get("drug")))
                out.append((item, pattern.name))
        if fact["t"] == "implausible":
            out.append(({"field": fact["field"], "value": fact.get("value"),
                         "unit": fact.get("unit", ""),
                         "condition": f"outside {_fmt(fact['low'])}–{_fmt(fact['high'])}"},
                        pattern.name))
    for name, leaf in explain(rule.patterns, env):
        fact = env[name]
        spec = ex.types[fact["t"]].fields[leaf.field]
        if not spec.source or (fact["t"] in ("rx_key", "rx_allergen")
                               and leaf.field in ("key", "drug")):
            continue
        if isinstance(leaf, ir.Exists):
            if leaf.present:
                continue
            out.append(({"field": ex.field_path(fs, fact, leaf.field), "value": None,
                         "condition": leaf.operator.evidence,
                         "missing": list(ex.missing_paths(fs, fact, leaf.field))}, leaf.id))
            continue
        path = ex.field_path(fs, fact, leaf.field)
        if path in seen:
            continue
        seen.add(path)
        item = {"field": path, "value": fact.get(spec.shows or leaf.field)}
        unit = spec.unit
        if not unit and fact["t"] == "rx" and leaf.field in _DOSE_FIELDS:
            unit = fact.get("dose_unit", "") + _DOSE_FIELDS[leaf.field]
        if unit:
            item["unit"] = unit
        item.update(leaf.accept(_CONDITION, fact, env))
        derived = fs.derived.get(path)
        if derived is None and path.startswith("derived."):
            derived = fs.derived.get(path.removeprefix("derived."))
        if derived is not None:
            item["derivation"] = derived.to_dict()
        inferred = fs.inferred.get((fact["id"], leaf.field))
        if inferred:
            item["inferred_from"] = [i["from"] for i in inferred]
        out.append((item, leaf.id))
    return [{**item, "clause": clause} for item, clause in out]


def test_evidence_with_fixed_wordings_is_the_per_firing_one(compiled: cdss.Engine,
                                                           inputs) -> None:
    """Same items, same key order (the JSON shows it), on every firing."""
    ex = compiled._explainer
    n = 0
    for rule, env, fs in _firings(compiled, inputs):
        got = ex._evidence(rule, env, fs)
        want = _reference_evidence(ex, rule, env, fs)
        assert [list(i.items()) for i in got] == [list(i.items()) for i in want], rule.id
        n += 1
    assert n > 500


def test_only_clauses_that_read_no_fact_have_a_fixed_wording(compiled: cdss.Engine) -> None:
    """A comparison with another field or pattern is worded per firing; every fixed
    wording is the visitor's, whatever the facts."""
    for rule in compiled.rules:
        statics = compiled._explainer._statics(rule)
        for p in rule.patterns:
            for leaf in ir.leaves(p.condition):
                fixed = statics.conditions.get(id(leaf))
                if (isinstance(leaf, ir.Compare) and not isinstance(leaf.operand, ir.Value)) \
                        or isinstance(leaf, ir.Exists):
                    assert fixed is None, (rule.id, leaf)
                else:
                    assert fixed == leaf.accept(_CONDITION, {"x": 1}, {}), (rule.id, leaf)


def test_from_fields_is_the_constructor(compiled: cdss.Engine) -> None:
    s = compiled.check(json.loads((Path(cdss.__file__).parent / "samples" /
                                   "enc-001.json").read_text(encoding="utf-8"))).suggestions[0]
    values = dict(vars(s))
    made = Suggestion.from_fields(dict(values))
    assert made == Suggestion(**values) and vars(made) == vars(Suggestion(**values))
    with pytest.raises(TypeError):
        Suggestion.from_fields(dict(reversed(values.items())))
    with pytest.raises(TypeError):
        Suggestion.from_fields({k: v for k, v in values.items() if k != "stop"})


def test_remembered_alerting_is_asking_each_time(tmp_path: Path, monkeypatch) -> None:
    """A site that hides the quality findings and re-levels a rule: every suggestion's
    hiding, stop and notes from :meth:`Alerting.decide` are the direct answers, also with
    room for one decision only; and the reports are the same."""
    folder = site(tmp_path, layer("county", rules={
        "min_severity": [{"category": "quality", "severity": "warning", "reason": "r"}],
        "severity": [{"rule": "dosing.interaction.warfarin_nsaid", "severity": "critical",
                      "reason": "audit"}]}))
    engine = cdss.Engine(lang="en", site=folder, clock=CLOCK)
    encs = [encounter(record={"signed_at": None}),
            *[json.loads(p.read_text(encoding="utf-8"))
              for p in sorted((Path(cdss.__file__).parent / "samples").glob("*.json"))]]
    first = [_forms(engine.check(e)) for e in encs]
    assert any('"hidden"' in f[0] for f in first)
    monkeypatch.setattr(site_apply, "MAX_DECIDED", 1)
    small = cdss.Engine(lang="en", site=folder, clock=CLOCK)
    for enc, want in zip(encs * 2, first * 2, strict=True):
        assert _forms(small.check(enc)) == want
        for s in small._findings(build_facts(small.parse(enc), small.kb), evidence=False,
                                 undecided=False)[0]:
            a = small.alerting
            assert a.decide(s.rule_id, s.category, s.kind, s.severity) == (
                a.hiding(s.rule_id, s.category, s.kind, s.severity),
                a.stop(s.rule_id, s.severity), a.notes(s.rule_id))
    assert len(small.alerting._decided) <= 1


@pytest.mark.parametrize("value", [
    {"b": [1, 2.5, True, None], "a": "血压", "c": {"z": 1, "y": "\ud800"}},
    {"t": datetime(2026, 1, 1, tzinfo=UTC), "n": 10 ** 30},
    "text", [], {}])
def test_the_shared_encoder_is_json_dumps(value: Any) -> None:
    assert canonical_json(value) == json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
        default=str).encode("utf-8", "surrogatepass")


def test_clearing_plans_name_only_clearable_patterns(compiled: cdss.Engine) -> None:
    """A rule with no ordered comparison has no plan; one with a plan has one."""
    for rule in compiled.rules:
        has_ordered = any(isinstance(leaf, ir.Compare) and leaf.op in clearing._ORDERED
                          for p in rule.patterns for leaf in ir.leaves(p.condition))
        if not has_ordered:
            assert clearing.plans(rule) == ()


def test_remembered_labels_are_the_worked_out_ones(compiled: cdss.Engine, inputs,
                                                   monkeypatch) -> None:
    """Every path a report names: the remembered label is the one worked out afresh, a
    new dict each time (a caller changing one changes no later report); bounded."""
    ex = Explainer(compiled.kb, compiled.ruleset.rules)
    paths = {"labs.potassium", "prescriptions[3].dose", "vitals.sbp (fasting)", "nowhere"}
    for _, enc in inputs[::4]:
        try:
            report = compiled.check(enc)
        except cdss.InputError:
            continue
        paths |= {m.field for m in report.missing_data}
        paths |= {n for e in report.not_evaluated for n in e.missing}
        paths |= {a["field"] for s in report.suggestions for a in s.assumptions}
    monkeypatch.setattr("cdss.explain._MAX_PATHS", 7)
    for path in sorted(paths) * 2:
        got = ex.label(path)
        assert got == ex._label(path), path
        got["zh"] = "changed"
        assert ex.label(path) == ex._label(path) != got
    assert len(ex._labels) <= 7 and len(paths) > 20
