"""The build_facts shortcuts of issue #17 (session 5) change no fact.

Each is checked against the code it stands for: ``band_score`` (inputs read once, bands
inline) against the plain per-parameter scoring, a list value of a fact against the
general checks, ``DrugNaming.candidates`` (loops skipped when no name can match) against
its loops, the skin-test words normalised once per knowledge base against normalising
them afresh, and a knowledge base warmed by every sample against a cold one.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import cdss
from cdss.derive import build_facts, rx_rules, scores
from cdss.derive.facttype import FactType, field
from cdss.derive.values import Derived, Missing
from cdss.kb.labels import DrugNaming
from cdss.kb.rx_rules import SkinTestWord

SAMPLES = sorted((Path(cdss.__file__).parent / "samples").glob("*.json"))
ENGINE = cdss.Engine(backend="compiled")
KB = ENGINE.kb


def _reference_band_score(table: Any, values: dict[str, Any], path: str = "vitals"
                          ) -> Derived | Missing:
    """band_score as it was: every parameter scored by _band_score, Missing with every
    absent input."""
    absent = tuple(scores._path(p.field, path) for p in table.parameters.values()
                   if values.get(p.field) is None)
    if absent:
        return Missing(table.id, absent)
    parts = {name: scores._band_score(p, values[p.field], values)
             for name, p in table.parameters.items()}
    inputs = {p.field: values[p.field] for p in table.parameters.values()}
    return Derived(table.id, float(sum(parts.values())), f"sum of {len(parts)} parameter scores",
                   inputs, table.source.title, "", parts)


def _inputs_strategy() -> st.SearchStrategy[dict[str, Any]]:
    """Inputs of every score table: each field absent, None, or a number (whole and
    not, on and around the bands' edges), a consciousness word or a flag."""
    fields: dict[str, list[Any]] = {}
    for table in KB.scores.values():
        for p in table.parameters.values():
            for f, bands, by_value in ((p.field, p.bands, p.values),
                                       *(((p.also.field, p.also.bands, None),)
                                         if p.also is not None else ())):
                edges = [x for b in bands for x in (b.min, b.max, b.above, b.below)
                         if x is not None]
                options = fields.setdefault(f, [None])
                options += [e + d for e in edges for d in (-1, -0.5, 0, 0.5, 1)]
                if by_value:
                    options += [k for k in by_value if k not in ("true", "false")]
                    options += [True, False] if {"true", "false"} & set(by_value) else []
    return st.fixed_dictionaries({}, optional={
        f: st.one_of(st.sampled_from(opts), st.floats(-50, 400, allow_nan=False))
        if any(isinstance(o, float | int) and not isinstance(o, bool) for o in opts)
        else st.sampled_from(opts) for f, opts in fields.items()})


@settings(max_examples=600, deadline=None)
@given(values=_inputs_strategy(), path=st.sampled_from(["vitals", "followups[0]"]))
def test_band_score_equals_the_plain_scoring(values: dict[str, Any], path: str) -> None:
    for table in KB.scores.values():
        try:
            want: Any = _reference_band_score(table, values, path)
        except (KeyError, ValueError) as exc:  # a word no table knows: the same error
            want = (type(exc), str(exc))
        try:
            got: Any = scores.band_score(table, values, path)
        except (KeyError, ValueError) as exc:
            got = (type(exc), str(exc))
        assert repr(got) == repr(want)
        if isinstance(want, Derived):
            assert type(got.value) is float and got.inputs == want.inputs
            assert list(got.inputs) == list(want.inputs)


LISTS = FactType("t", True, {"items": field("list", ""), "n": field("number", "")}, "")


def test_a_list_value_is_copied_as_the_checks_copy_it() -> None:
    value = ["a", "b"]
    fact = LISTS.make("t#0", {"items": value, "n": 1})
    assert fact == {"t": "t", "id": "t#0", "items": ["a", "b"], "n": 1}
    assert fact["items"] is not value
    # a list for a field that is not a list field still fails as before
    try:
        LISTS.make("t#0", {"n": [1]})
    except ValueError as exc:
        assert "t.n is a number" in str(exc)
    else:
        raise AssertionError("a list in a number field was accepted")


def _reference_candidates(naming: DrugNaming, key: str) -> list[str]:
    """DrugNaming.candidates as it was (every loop run)."""
    forms = [key]
    for prefix in naming.form_prefixes:
        if key.startswith(prefix) and len(key) > len(prefix):
            forms.append(key[len(prefix):].strip())
    for suffix in sorted(naming.form_suffixes, key=len, reverse=True):
        for name in list(forms):
            if name.endswith(suffix) and len(name) > len(suffix):
                forms.append(name[: -len(suffix)].strip())
                break
    out = list(forms)
    for name in forms:
        for prefix in naming.salt_prefixes:
            if name.startswith(prefix) and len(name) > len(prefix):
                out.append(name[len(prefix):])
        for suffix in naming.salt_suffixes:
            if name.endswith(suffix) and len(name) > len(suffix) + 1:
                out.append(name[: -len(suffix)])
    return list(dict.fromkeys(out[1:]))


def _naming_words() -> list[str]:
    n = KB.naming
    return [*n.form_suffixes, *n.form_prefixes, *n.salt_prefixes, *n.salt_suffixes]


def test_candidates_equal_the_loops_for_every_known_name_and_its_forms() -> None:
    naming, words = KB.naming, _naming_words()
    rng = random.Random(17)
    names = list(KB.drug_names()) + [n for p in KB.products.values() for n in p.names]
    for name in names:
        for key in (name, f"{rng.choice(words)}{name}", f"{name}{rng.choice(words)}",
                    f"{rng.choice(words)}{name}{rng.choice(words)}{rng.choice(words)}"):
            assert naming.candidates(key) == _reference_candidates(naming, key), key


@settings(max_examples=500, deadline=None)
@given(parts=st.lists(st.one_of(st.sampled_from(_naming_words()), st.text(max_size=3)),
                      max_size=5))
def test_candidates_equal_the_loops(parts: list[str]) -> None:
    key = "".join(parts)
    assert KB.naming.candidates(key) == _reference_candidates(KB.naming, key)


def test_skin_words_are_the_knowledge_words_normalised() -> None:
    want = tuple((rx_rules._norm_text(w.text), w.result, w.text) for w in KB.skin_test_words)
    assert want and rx_rules._skin_words(KB) == want
    assert rx_rules._norm_text(" 皮试（ - ）\t阴性\n") == "皮试(-)阴性"
    # a knowledge base whose words are not already in normal form (the bundled ones are)
    words = (SkinTestWord(text="皮试（ － ）", result="negative"),
             SkinTestWord(text="皮试 阳性", result="positive"))
    other = dataclasses.replace(KB, skin_test_words=words)
    assert rx_rules._skin_words(other) == (("皮试(-)", "negative", "皮试（ － ）"),
                                           ("皮试阳性", "positive", "皮试 阳性"))
    assert rx_rules._skin_words(KB) == want  # each knowledge base its own


def _facts(fs: Any) -> str:
    return repr((fs.facts, fs.paths, fs.field_paths, fs.derived, fs.missing, fs.partial,
                 fs.subjects, fs.inferred, fs.notes, fs.clears,
                 [[(k, type(v)) for k, v in f.items()] for f in fs.facts]))


def test_warm_and_cold_knowledge_build_the_same_facts() -> None:
    """A knowledge base that has built every sample (its memo warm: skin-test words,
    score plans...) builds each sample's facts as a fresh engine's does."""
    encounters = [json.loads(p.read_text(encoding="utf-8")) for p in SAMPLES]
    warm = cdss.Engine(backend="compiled")
    for enc in encounters * 2:
        build_facts(warm.parse(enc), warm.kb)
    for enc in encounters:
        cold = cdss.Engine(backend="compiled")
        assert _facts(build_facts(warm.parse(enc), warm.kb)) == _facts(
            build_facts(cold.parse(enc), cold.kb))
