"""A JSON text is read by ``model_validate_json`` when it can be (issue #17), and that
changes no outcome: every text gives the encounter, or the InputError, that the careful
reading (``cdss.limits.load_json`` then ``model_validate``) gives."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cdss
from cdss import Encounter, InputError, synthetic
from cdss.models import encounter as encounter_module

ENGINE = cdss.default_engine()
SAMPLES = sorted((Path(cdss.__file__).parent / "samples").glob("*.json"))
CONTEXT = {"analytes": ENGINE._analytes, "words": ENGINE.kb.prescribing}


def careful(text: str | bytes) -> Encounter | str:
    """The reading before issue #17 (the fast path off): the dict of
    :func:`cdss.limits.load_json`, validated."""
    fast_path = encounter_module._read_json
    encounter_module._read_json = lambda *args: None
    try:
        return read(text)
    finally:
        encounter_module._read_json = fast_path


def read(text: str | bytes) -> Encounter | str:
    try:
        return ENGINE.parse(text)
    except InputError as exc:
        return f"InputError: {exc}"


def fast(text: str | bytes) -> Encounter | None:
    return encounter_module._read_json(Encounter, text, CONTEXT)


def same(text: str | bytes) -> None:
    assert read(text) == careful(text)


BASE = json.loads(SAMPLES[0].read_text(encoding="utf-8"))


def test_the_samples_take_the_fast_path_and_read_the_same() -> None:
    for path in SAMPLES:
        text = path.read_text(encoding="utf-8")
        assert fast(text) is not None, path.name
        assert fast(text.encode("utf-8")) == careful(text)
        same(text)


def test_synthetic_lines_with_spoilt_ones_read_the_same() -> None:
    for enc in synthetic.encounters(400, seed=3, bad_share=0.2):
        text = enc if isinstance(enc, str) else json.dumps(enc, ensure_ascii=False)
        same(text)
        same(text.encode("utf-8"))


def _with(path: tuple[Any, ...], value: Any) -> str:
    """BASE with ``value`` at ``path`` as JSON text (``value`` given as raw JSON)."""
    enc = json.loads(json.dumps(BASE))
    node = enc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = "@@VALUE@@"
    return json.dumps(enc, ensure_ascii=False).replace('"@@VALUE@@"', value)


@pytest.mark.parametrize("raw", [
    "1" * 41, "1." + "0" * 39, "1" * 40, "-" + "1" * 40, "1e" + "0" * 39,  # number length
    "NaN", "Infinity", "-Infinity", "1e400", "-0", "1E2",                    # odd numbers
    '"\\ud800"', '"\\udc00x"', '"\\uD83D\\uDE00"', '"a\\u0000b"',            # escapes
    '"a\tb"', "01", "[1,]", "tru",                                           # not JSON
    "[" * 70 + "]" * 70, "[" * 60 + "]" * 60,                                # nesting
    '"' + "9" * 60 + '"',                                                    # digits in text
])
@pytest.mark.parametrize("where", [("vitals", "sbp"), ("patient", "x_extra"), ("x_extra",),
                                   ("id",)])
def test_edge_values_read_the_same(raw: str, where: tuple[str, ...]) -> None:
    if "vitals" in where and "vitals" not in BASE:
        pytest.skip("sample without vitals")
    text = _with(where, raw)
    same(text)
    same(text.encode("utf-8"))


def test_a_long_number_never_takes_the_fast_path() -> None:
    text = _with(("x_extra",), "1" * 41)
    assert fast(text) is None
    assert "longer than the limit" in str(read(text))


@pytest.mark.parametrize("text", [
    "\ufeff" + SAMPLES[0].read_text(encoding="utf-8"),                 # BOM in a str
    (b"\xef\xbb\xbf" + SAMPLES[0].read_bytes()),                      # BOM in bytes
    SAMPLES[0].read_text(encoding="utf-8").encode("utf-16"),          # UTF-16
    b'{"id": "a\xff"}', "[]", "1", '"x"', "", " ", "{", "null",
    '{"id": "x", "time": "2026-01-01T08:00:00+08:00", "patient": {"id": "p"}} x',
    '{"id": "x", "time": "2026-01-01T08:00:00+08:00", "patient": {"id": "p\ud800"}}',
])
def test_other_texts_read_the_same(text: str | bytes) -> None:
    same(text)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**45, 10**45)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                  max_size=3), max_leaves=6)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([("vitals", "sbp"), ("vitals", "heart_rate"), ("patient", "sex"),
                        ("patient", "birth_date"), ("time",), ("visit_type",), ("extra",)]),
       _json_values, st.integers(0, 2**32))
def test_generated_values_read_the_same(where: tuple[str, ...], value: Any, seed: int) -> None:
    if "vitals" in where and "vitals" not in BASE:
        return
    raw = json.dumps(value, ensure_ascii=random.Random(seed).random() < 0.5)
    same(_with(where, raw))
