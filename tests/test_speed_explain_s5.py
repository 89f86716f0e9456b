"""Session 5's faster explained suggestions (issue #17) give what the plain
code gives: the inline walk of the true clauses what ``rulelang.evaluate.explain``
gives, the messages formatted in one call what each template gives, the clear texts of
both languages at once what ``clear_text`` gives per language, the inline clearing what
the tree walk gives, and remembered "did you mean" what the knowledge says."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from golden.reports import encounters

import cdss
from cdss import clearing, explain
from cdss.clearing import _falsify, band_starts, clear_text, clear_texts
from cdss.derive import build_facts
from cdss.explain import Explainer, _RuleStatics, _steps, _Template, _true_leaves
from cdss.receipt import fixed_clock
from cdss.report import _SUGGESTION_FIELDS
from cdss.rulelang import ir
from cdss.rulelang.evaluate import explain as walked_explain
from cdss.rulelang.ops import OPERATORS

CLOCK = fixed_clock(datetime(2026, 12, 5, tzinfo=UTC))


@pytest.fixture(scope="module")
def compiled() -> cdss.Engine:
    return cdss.Engine(backend="compiled", clock=CLOCK)


@pytest.fixture(scope="module")
def firings(compiled: cdss.Engine) -> list[tuple[Any, dict[str, Any], Any, Any]]:
    """(rule, env, facts, decision) of every firing and every finding made under missing
    data over every rule case, sparse panel entry and sample."""
    out = []
    for _, enc in encounters():
        try:
            facts = build_facts(compiled.parse(enc), compiled.kb)
        except cdss.InputError:
            continue
        by_id = {f["id"]: f for f in facts.facts}
        for action, bound in compiled.matches(facts.facts):
            rule = compiled.ruleset.by_action[action]
            out.append((rule, {name: by_id[i] for name, i in bound.items()}, facts, None))
        for d in compiled._reasoner.reason(facts, {}, undecided=False).decisions:
            out.append((d.rule, d.env, facts, d))
    assert any(d is not None for *_, d in out)
    return out


def _variants(rule: Any, env: dict[str, Any]) -> list[dict[str, Any]]:
    """``env``, and ``env`` with each field a pattern reads absent, None, a text, 0 or
    a large number (clauses false, unknown and true in turn)."""
    out = [env]
    for p in rule.patterns:
        for name in sorted(ir.fields_read(p.condition)) if p.condition is not None else ():
            fact = env[p.name]
            out.append({**env, p.name: {k: v for k, v in fact.items() if k != name}})
            for value in (None, "12", 0, 10 ** 6, True):
                out.append({**env, p.name: {**fact, name: value}})
    return out


def _outcome(walk: Any, *args: Any) -> Any:
    """The (pattern, leaf identity) pairs a walk finds, or the error it raises (None
    is not a value a fact holds: ``contains`` of None raises either way)."""
    try:
        return [(name, id(leaf)) for name, leaf in walk(*args)]
    except TypeError as e:
        return ("raises", str(e))


def test_the_inline_walk_finds_the_true_clauses_explain_finds(firings) -> None:
    """Same (pattern, leaf) pairs, same order, same objects, on every firing and on each
    variant where a clause turns false or unknown."""
    n = 0
    for rule, env, _, _ in firings[::2]:
        steps = tuple((p.name, _steps(p.condition)) for p in rule.patterns
                      if p.condition is not None)
        for e in _variants(rule, env):
            assert _outcome(_true_leaves, steps, e) == \
                _outcome(walked_explain, rule.patterns, e), rule.id
            n += 1
    assert n > 5000


def test_the_walk_stops_at_a_false_clause_and_goes_on_past_an_unknown_one() -> None:
    """A hand-made ``all``: an absent field is unknown (the walk goes on), a false
    clause ends the pattern's walk, ``exists`` of an absent field is false."""
    a = ir.Compare("gte", "sbp", ir.Value(140), id="a")
    b = ir.InList("drug", ("x", "y"), id="b")
    c = ir.Compare("lt", "dbp", ir.Value(90), id="c")
    d = ir.Exists("k", present=True, id="d")
    cond = ir.All((a, b, c, d))
    pattern = ir.Pattern("v", "vitals", cond)
    steps = (("v", _steps(cond)),)
    for fact in ({"sbp": 150, "drug": "x", "dbp": 80, "k": 1}, {"drug": "x", "dbp": 80},
                 {"sbp": 150, "drug": "z", "dbp": 80, "k": 1}, {"sbp": 150, "dbp": 95},
                 {"sbp": 150, "drug": "y", "dbp": 80}):
        env = {"v": fact}
        assert _true_leaves(steps, env) == walked_explain((pattern,), env), fact
    assert [leaf.id for _, leaf in _true_leaves(steps, {"v": {"drug": "x", "dbp": 95}})] \
        == ["b"]


def test_messages_formatted_in_one_call_are_each_template(firings) -> None:
    """Every firing's six messages equal each template rendered alone, and a value
    holding the separator falls back to one call per message."""
    seen = set()
    for rule, env, _, _ in firings:
        statics = _RuleStatics.of(rule)
        want = {lang: {part: t.render(env) for part, t in parts.items()}
                for lang, parts in statics.templates.items()}
        assert statics.texts(env) == want, rule.id
        seen.add(statics.joined is not None and bool(statics.slots))
        for pattern, name in statics.slots:
            odd = {**env, pattern: {**env[pattern], name: "a\x00{0}}b"}}
            assert statics.texts(odd) == {
                lang: {part: t.render(odd) for part, t in parts.items()}
                for lang, parts in statics.templates.items()}, rule.id
    assert True in seen


def test_a_template_with_braces_renders_them() -> None:
    for text in ("{v.sbp} mmHg {{literal}} }", "no slot {x", "\x00{v.sbp}"):
        t = _Template.parse(text)
        env = {"v": {"sbp": 150.0}}
        pieces = {"zh": {"title": t, "message": t, "recommendation": t},
                  "en": {"title": t, "message": t, "recommendation": t}}
        index = {("v", "sbp"): 0}
        formats = {lang: {part: "".join(
            lit.replace("{", "{{").replace("}", "}}")
            + ("" if slot is None else f"{{{index[slot]}}}") for lit, slot in tpl.pieces)
            for part, tpl in parts.items()} for lang, parts in pieces.items()}
        joined = explain._joined(formats)
        assert (joined is None) == ("\x00" in text)
        if joined is not None:
            values = ["150"]
            assert joined.format(*values).split("\x00") == [t.render(env)] * 6


def test_clear_texts_are_clear_text_per_language(compiled: cdss.Engine, firings) -> None:
    ex = compiled._explainer
    n = 0
    for rule, env, fs, _ in firings:
        clears, labels = ex.clear_when(rule, env, fs)
        if not clears:
            continue
        zh, en = clear_texts(clears, labels)
        for lang, text in (("zh", zh), ("en", en)):
            assert text == clear_text(clears, lambda p, lang=lang, labels=labels:
                                      labels[p][lang], lang)
        n += 1
    assert n > 100
    alt = ({"all": [{"field": "f", "op": "<", "value": 5, "unit": "", "now": 7.5},
                    {"field": "g", "op": "≤", "value": 1.5, "unit": "mmol/L", "now": 3}]},
           {"all": [{"field": "g", "op": "≤", "value": 2, "unit": "degC", "now": None},
                    {"field": "f", "op": ">", "value": 30, "unit": "d", "now": 12}]})
    labels = {"f": {"zh": "甲", "en": "F"}, "g": {"zh": "乙", "en": "G"}}
    assert clear_texts(alt, labels) == tuple(
        clear_text(alt, lambda p, lang=lang: labels[p][lang], lang) for lang in ("zh", "en"))


def _reference_clear_when(rule, env, starts, path_of, unit_of, changeable):
    """Session 4's clear_when over the tree walk :func:`clearing._falsify`."""
    types = {p.name: p.fact_type for p in rule.patterns}
    out: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    rank = clearing._RANK[rule.spec.severity]
    for p in rule.patterns:
        for alternative in _falsify(p.condition, p.name, env):
            if any(not changeable(types[c[0]], c[1]) or not unit_of(env[c[0]], c[1])
                   for c in alternative):
                continue
            if any(starts.get((types[c[0]], c[1], c[2], c[3]), -1) > rank
                   for c in alternative):
                continue
            conditions = [{"field": path_of(env[pattern], field),
                           "op": OPERATORS[op].symbol,
                           "value": int(boundary) if boundary.is_integer() else boundary,
                           "unit": unit_of(env[pattern], field),
                           "now": env[pattern].get(field)}
                          for pattern, field, op, boundary in alternative]
            key = tuple((c["field"], c["op"], c["value"]) for c in conditions)
            if key not in seen:
                seen.add(key)
                out.append({"all": conditions})
    return tuple(out[:clearing.MAX_ALTERNATIVES])


def _returned(f: Any, *args: Any) -> Any:
    """What ``f`` returns, or the TypeError it raises (a dose unit made None)."""
    try:
        return f(*args)
    except TypeError as e:
        return ("raises", str(e))


def test_inline_clearing_is_the_tree_walk(compiled: cdss.Engine, firings) -> None:
    """clear_when with the plans (comparisons inline), and over the steps worked out
    once per rule (or with nothing worked out), equals the session-4 code over the tree
    walk, on every firing and on variants with values absent, texts, 0, big."""
    ex = compiled._explainer
    n = 0
    dosed = set()  # rules with a comparison of a dose whose unit is the fact's
    for rule in compiled.rules:
        statics = ex._statics(rule)
        if any(s[0] == "cmp" and s[-1] is not None for s in clearing.steps(
                rule, statics.clears, ex._band_starts(rule.spec.group), ex._clearing_about)):
            dosed.add(rule.id)
    chosen = firings[::3] + [f for f in firings if f[0].id in dosed]
    assert len(chosen) > len(firings[::3])
    for rule, env, fs, _ in chosen:
        starts = band_starts(compiled.rules, rule.spec.group)

        def path_of(fact: dict[str, Any], name: str, fs=fs) -> str:
            return ex.field_path(fs, fact, name)

        statics = ex._statics(rule)
        stepped = clearing.steps(rule, statics.clears, starts, ex._clearing_about)
        walked = clearing.steps(rule, statics.clears, starts, lambda t, f: None)
        assert all(s[0] == "plan" for s in walked)
        for e in _variants(rule, env):
            want = _returned(_reference_clear_when, rule, e, starts, path_of, ex._unit,
                             ex._changeable)
            got = _returned(clearing.clear_when, rule, e, starts, path_of, ex._unit,
                            ex._changeable, statics.clears, statics.types)
            assert got == want, rule.id
            for planned in (stepped, walked):
                assert _returned(clearing.clear_when_stepped, rule, e, planned, starts,
                                 path_of, ex._unit, ex._changeable, statics.types) == want
            n += 1
    assert n > 2000


def test_did_you_mean_is_remembered_exactly_and_bounded(compiled: cdss.Engine,
                                                        monkeypatch) -> None:
    ex = Explainer(compiled.kb, compiled.rules)
    monkeypatch.setattr(explain, "_MAX_PATHS", 2)
    for name in ("aspirinn", "metforminn", "aspirinn", "amlodipin", "zzz", "aspirinn"):
        got = ex._suggest_drugs(name)
        assert got == compiled.kb.suggest_drugs(name)
        got.append("changed")  # a new list each call
        assert ex._suggest_drugs(name) == compiled.kb.suggest_drugs(name)
        assert len(ex._did_you_mean) <= 2


def test_a_warm_explainer_gives_what_a_cold_one_gives(compiled: cdss.Engine, firings) -> None:
    """Every suggestion (every field, texts and evidence key order included) from one
    explainer used throughout equals one from a new explainer per firing."""
    warm = Explainer(compiled.kb, compiled.rules)
    for rule, env, fs, decision in firings[::2] * 2:
        for evidence in (True, False):
            got = warm.suggestion(rule, env, fs, evidence=evidence, decision=decision)
            cold = Explainer(compiled.kb, compiled.rules).suggestion(
                rule, env, fs, evidence=evidence, decision=decision)
            assert got == cold, rule.id
            assert tuple(vars(got)) == _SUGGESTION_FIELDS  # written out in field order
            assert [list(e.items()) for e in got.evidence] == \
                [list(e.items()) for e in cold.evidence]
            assert [list(t.items()) for t in got.texts.values()] == \
                [list(t.items()) for t in cold.texts.values()]


def test_steps_cover_only_literal_clauses_of_the_own_fact() -> None:
    """A comparison with another field or pattern, and an ``any``, are walked by the
    evaluator (``node``); a literal comparison, ``in``, ``contains``, ``matches`` and
    ``exists`` inline."""
    leaves = [ir.Compare("gt", "a", ir.Value(1)), ir.Compare("gt", "a", ir.SameFact("b")),
              ir.Compare("gt", "a", ir.Ref("p", "b")), ir.InList("a", (1,)),
              ir.Contains("a", "x"), ir.Matches("a", "x%d"), ir.Exists("a"),
              ir.Any_((ir.Compare("gt", "a", ir.Value(1)),))]
    kinds = [s[0] for s in _steps(ir.All(tuple(leaves)))]
    assert kinds == ["leaf", "node", "node", "leaf", "leaf", "leaf", "exists", "node"]
    assert [s[0] for s in _steps(leaves[0])] == ["leaf"]
