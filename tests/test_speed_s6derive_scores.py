"""The shortcuts of helper s6derive (issue #17) against the code they stand for.

* A score parameter's bands read as sorted upper bounds (``scores._cut``) give the band
  the table's own order gives (``scores._banded_plain``), for bands that tile the real
  line in any order, on, around and between their edges and at the infinities; bands
  that do not tile, and NaN, still go through the plain scan (same error).
* A flag scored by value is looked up by the flag (``scores._by_bool``), as its word.
* Fact ids made once per type (``FactType.ids``) equal the ids made per fact.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cdss
from cdss.derive import build_facts, scores
from cdss.derive.factset import FactSet
from cdss.derive.facttype import IDS_MADE, FactType, field
from cdss.derive.values import Derived
from cdss.kb.schema import Band, ScoreTable

KB = cdss.Engine(backend="compiled").kb


def _plain(bands: tuple[Band, ...], x: float) -> Any:
    """The band score as the table's order gives it (or the error)."""
    try:
        return scores._banded_plain(tuple((b.min, b.max, b.above, b.below, b.score)
                                          for b in bands), x, "f")
    except ValueError as exc:
        return str(exc)


def _fast(bands: tuple[Band, ...], x: float) -> Any:
    cut = scores._cut(bands)
    if cut is None or x != x:
        return _plain(bands, x)
    return scores._cut_score(cut, x)


@st.composite
def _tiling(draw: st.DrawFn) -> tuple[Band, ...]:
    """Bands that cover every real number once, in a random order: sorted edges, each
    closing the band below it (max / above) or the band above it (below / min); a point
    band [e, e] now and then."""
    edges = sorted(set(draw(st.lists(st.integers(-40, 40), max_size=6))))
    bands: list[Band] = []
    low: dict[str, float] = {}
    for e in edges:
        if draw(st.booleans()) and draw(st.booleans()):  # a point band [e, e]
            bands.append(Band(**low, below=e, score=draw(st.integers(0, 3))))
            bands.append(Band(min=e, max=e, score=draw(st.integers(0, 3))))
            low = {"above": e}
        elif draw(st.booleans()):
            bands.append(Band(**low, max=e, score=draw(st.integers(0, 3))))
            low = {"above": e}
        else:
            bands.append(Band(**low, below=e, score=draw(st.integers(0, 3))))
            low = {"min": e}
    bands.append(Band(**low, score=draw(st.integers(0, 3))))
    order = draw(st.permutations(bands))
    return tuple(order)


@settings(max_examples=400, deadline=None)
@given(bands=_tiling(), data=st.data())
def test_cut_gives_the_band_of_the_tables_order(bands: tuple[Band, ...], data: Any) -> None:
    assert scores._cut(bands) is not None
    edges = [x for b in bands for x in (b.min, b.max, b.above, b.below) if x is not None]
    xs = [e + d for e in edges for d in (-1, -0.5, -1e-9, 0, 1e-9, 0.5, 1)]
    xs += [math.inf, -math.inf, 0.0, data.draw(st.floats(allow_nan=False))]
    for x in xs:
        assert _fast(bands, float(x)) == _plain(bands, float(x))


def test_bands_that_do_not_tile_are_scanned_in_order() -> None:
    gap = (Band(max=10, score=0), Band(above=11, score=1))
    overlap = (Band(max=10, score=0), Band(min=10, score=1))
    for bands in (gap, overlap, ()):
        assert scores._cut(bands) is None
    assert _fast(overlap, 10.0) == 0  # the first in the table's order
    assert _fast(gap, 10.5) == _plain(gap, 10.5) == "no band of f covers 10.5"


def test_nan_is_in_no_band() -> None:
    bands = (Band(max=10, score=0), Band(above=10, score=1))
    assert _fast(bands, math.nan) == "no band of f covers nan"
    assert _fast((Band(score=2),), math.nan) == 2  # one band without bounds holds all


def _table(parameters: dict[str, Any]) -> ScoreTable:
    news2 = KB.scores["news2"]
    return news2.model_copy(update={"id": "t", "parameters": parameters})


def test_band_score_of_a_shuffled_table_and_flags() -> None:
    """Bands out of order, a second field (also), a flag scored by its word, and a table
    that names only one of the flag's words."""
    news2 = KB.scores["news2"]
    rng = random.Random(7)
    shuffled = {}
    for name, p in news2.parameters.items():
        bands = list(p.bands)
        rng.shuffle(bands)
        shuffled[name] = p.model_copy(update={"bands": tuple(bands)})
    table = _table(shuffled)
    for on_oxygen in (True, False):
        for rr in (7.5, 8.0, 8.5, 11.0, 12.0, 20.0, 21.0, 24.0, 25.0, 40.0):
            values = {"resp_rate": rr, "spo2": 95.0, "on_oxygen": on_oxygen, "sbp": 100.0,
                      "heart_rate": 91.0, "consciousness": "alert", "temperature": 39.05}
            got = scores.band_score(table, values)
            want = {name: scores._band_score(p, values[p.field], values)
                    for name, p in news2.parameters.items()}
            assert isinstance(got, Derived) and got.parts == want
            assert got.value == float(sum(want.values()))
    one_word = dict(news2.parameters)
    one_word["on_oxygen"] = one_word["on_oxygen"].model_copy(update={"values": {"true": 2}})
    assert scores._by_bool({"true": 2}) is None
    values = {"resp_rate": 12.0, "spo2": 97.0, "on_oxygen": False, "sbp": 120.0,
              "heart_rate": 70.0, "consciousness": "alert", "temperature": 37.0}
    with pytest.raises(KeyError, match="false"):
        scores.band_score(_table(one_word), values)
    # a number 1 is not the flag True (1 == True): scored by its word "1"
    with pytest.raises(KeyError, match="'1'"):
        scores.band_score(news2, {**values, "on_oxygen": 1})


def test_also_field_of_curb65() -> None:
    curb65 = KB.scores["curb65"]
    for sbp, dbp in ((120.0, 80.0), (120.0, 60.0), (120.0, 61.0), (89.0, 80.0), (90.0, 90.0)):
        values = {"consciousness": "alert", "labs.urea": 5.0, "resp_rate": 16.0,
                  "sbp": sbp, "dbp": dbp, "age": 50}
        got = scores.band_score(curb65, values)
        p = curb65.parameters["blood_pressure"]
        assert isinstance(got, Derived)
        assert got.parts["blood_pressure"] == scores._band_score(p, sbp, values)


def test_fact_ids_made_once_equal_the_ids_made_per_fact() -> None:
    t = FactType("many_things", True, {"n": field("number", "")}, "")
    assert len(t.ids) == IDS_MADE
    fs = FactSet()
    for n in range(IDS_MADE + 5):
        fact = fs.add(t, "x", {"n": n})
        assert fact["id"] == t.fact_id(n) == f"many_things#{n}"
        assert fs.paths[f"many_things#{n}"] == "x"
    other = FactType("other", True, {}, "")
    assert fs.add(other, "y", {})["id"] == "other#0"


def _facts(fs: Any) -> str:
    return repr((fs.facts, fs.paths, fs.field_paths, fs.derived, fs.missing, fs.partial,
                 fs.subjects, fs.inferred, fs.notes, fs.clears,
                 [[(k, type(v)) for k, v in f.items()] for f in fs.facts]))


def _checked_add_made(self: FactSet, t: FactType, path: str, *made: dict[str, Any]) -> Any:
    """add_made as the checked path makes the same fact: add of the first part (every
    value checked), then the others joined after checking them too."""
    return self.add(t, path, {k: v for part in made for k, v in part.items()})


def test_add_made_facts_equal_the_checked_facts_for_every_drug_and_product(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every drug and product of the knowledge, prescribed by name with a dose in mg and
    without one, to a patient allergic to it (rx_key, rx_renal, rx_hepatic and
    rx_allergen facts): the facts made without checking each value again equal those
    made with every value checked."""
    engine = cdss.Engine(backend="compiled")
    names = [d.name.zh for d in engine.kb.drugs.values()]
    names += [p.name.zh for p in engine.kb.products.values()]
    encounters = []
    for k in range(0, len(names), 3):
        chunk = names[k:k + 3]
        encounters.append(engine.parse({
            "id": f"e{k}", "time": "2026-01-01T09:00:00+08:00",
            "patient": {"id": "p", "sex": "female", "birth_date": "1950-01-01",
                        "allergies": [{"substance": chunk[0]}]},
            "prescriptions": [{"drug": chunk[0], "dose": "500 mg", "frequency": "tid"},
                              *({"drug": n} for n in chunk[1:])]}))
    fast = [_facts(build_facts(enc, engine.kb)) for enc in encounters]
    monkeypatch.setattr(FactSet, "add_made", _checked_add_made)
    checked = [_facts(build_facts(enc, engine.kb)) for enc in encounters]
    assert fast == checked
    made = sum(f.count("'t': 'rx_key'") + f.count("'t': 'rx_renal'")
               + f.count("'t': 'rx_hepatic'") + f.count("'t': 'rx_allergen'") for f in fast)
    assert made > len(names)  # the shortcut was taken


def test_add_made_joins_its_parts_in_order() -> None:
    t = FactType("made", True, {"rx": field("number", ""), "a": field("string", ""),
                                "b": field("bool", "")}, "")
    fs = FactSet()
    fact = fs.add_made(t, "p", {"rx": 1}, {"a": "x"}, {"b": True})
    assert list(fact.items()) == [("t", "made"), ("id", "made#0"), ("rx", 1), ("a", "x"),
                                  ("b", True)]
    assert fs.facts == [fact] and fs.paths == {"made#0": "p"}
