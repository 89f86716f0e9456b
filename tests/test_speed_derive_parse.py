"""The parse shortcuts of issue #17 (session 5) give what the full path gives.

A bare number of a quantity field skips :func:`cdss.units.to_canonical`, a text skips
the type checks of :func:`cdss.units.split_quantity`, :func:`cdss.units.bounded` takes a
float within the limit as it is, and ``to_canonical`` reads the cached linear map
directly: each must answer (value, type, or error message) as the code it stands for.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdss import limits, units
from cdss.models import _base

LIMIT = limits.MAX_MAGNITUDE


def _outcome(fn: Any, *args: Any, **kw: Any) -> tuple[str, Any]:
    """What ``fn`` answers: its value with its type, or its error with its message."""
    try:
        value = fn(*args, **kw)
    except Exception as exc:  # compared, not swallowed
        return ("error", (type(exc).__name__, str(exc)))
    if isinstance(value, float) and math.isnan(value):
        return ("nan", None)
    return ("value", (type(value).__name__, repr(value)))


def _reference_split(raw: Any) -> tuple[float, str | None]:
    """split_quantity as it was before the shortcuts (the text branch)."""
    if isinstance(raw, bool):
        raise units.UnitProblem("expected a quantity such as '5 mg', got a boolean")
    if isinstance(raw, str):
        if len(raw) > limits.MAX_QUANTITY_LENGTH:
            raise units.UnitProblem(f"the quantity is longer than the limit of "
                                    f"{limits.MAX_QUANTITY_LENGTH} characters; expected a "
                                    "number with a unit, e.g. '5 mg'")
        match = units._NUMBER_UNIT.match(raw)
        if not match:
            raise units.UnitProblem(f"cannot read {units.masked(raw)} as a number with a "
                                    "unit: expected e.g. '5 mg'")
        unit = match.group(2)
        return _reference_bounded(float(match.group(1))), (units.check_unit(unit) if unit
                                                            else None)
    return units.split_quantity(raw)


def _reference_bounded(x: Any) -> float:
    if isinstance(x, float) and not math.isfinite(x):
        raise units.UnitProblem("quantity must be a finite number")
    if not -LIMIT <= x <= LIMIT:
        raise units.UnitProblem(f"quantity is larger in magnitude than the limit of "
                                f"{LIMIT:,.0f}")
    return float(x)


class _Float(float):
    """A float subclass: takes the full path."""


_EDGES = [0, 1, -1, 0.0, -0.0, 1.5, LIMIT, -LIMIT, LIMIT + 1, -LIMIT - 1, LIMIT * 1.0000001,
          10**400, -(10**400), float("nan"), float("inf"), float("-inf"), True, False,
          _Float(3.5), _Float("nan"), 2**53 + 1, 1e-300, 5e-324]
_NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(),
                     st.integers(min_value=-2 * int(LIMIT), max_value=2 * int(LIMIT)),
                     st.floats(min_value=-2 * LIMIT, max_value=2 * LIMIT),
                     st.sampled_from(_EDGES), st.booleans())
_TEXTS = st.one_of(
    st.text(max_size=12),
    st.builds(lambda n, sp, u: f"{n}{sp}{u}",
              st.one_of(st.floats(allow_nan=False).map(repr), st.integers().map(str),
                        st.sampled_from(["1e999", "-1e999", "1e9", "1000000001", ".5",
                                         "+3.", "1E3", "nan", "0x10"])),
              st.sampled_from(["", " ", "  ", "\t"]),
              st.sampled_from(["", "mg", "mmHg", "kg", "斤", "℃", "/min", "mg**9", "g/L",
                               "  mg ", "毫克", "x", "1/min", "bpm", "°F", "mg/dL"])))

_DIMENSIONS = [units.PRESSURE, units.RATE, units.TEMPERATURE, units.BODY_WEIGHT,
               units.DURATION, units.MASS]


@settings(max_examples=400, deadline=None)
@given(raw=st.one_of(_NUMBERS, _TEXTS, st.none()), bare_ok=st.booleans(),
       dim=st.sampled_from(_DIMENSIONS))
def test_quantity_field_shortcut_answers_as_to_canonical(raw: Any, bare_ok: bool,
                                                         dim: units.Dimension) -> None:
    """A quantity field's validator answers as to_canonical for every input."""
    parse = _base._quantity(dim, bare_ok=bare_ok).func
    want = ("value", ("NoneType", "None")) if raw is None else _outcome(
        units.to_canonical, raw, dim, bare_ok=bare_ok)
    assert _outcome(parse, raw) == want


@settings(max_examples=400, deadline=None)
@given(raw=st.one_of(_NUMBERS, _TEXTS, st.dictionaries(st.sampled_from(["value", "unit"]),
                                                       st.one_of(_NUMBERS, _TEXTS))))
def test_split_quantity_answers_as_before(raw: Any) -> None:
    assert _outcome(units.split_quantity, raw) == _outcome(_reference_split, raw)


@settings(max_examples=400, deadline=None)
@given(x=_NUMBERS)
def test_bounded_answers_as_before(x: Any) -> None:
    assert _outcome(units.bounded, x) == _outcome(_reference_bounded, x)


@pytest.mark.parametrize("raw", ["5 kg", "5 mg", "5 mg**9", "5 parsec", "5 m2",
                                 {"value": 5, "unit": "mmHg"}, "5", 5])
@pytest.mark.parametrize("dim", _DIMENSIONS)
def test_to_canonical_errors_name_the_expected_dimension(raw: Any,
                                                         dim: units.Dimension) -> None:
    """The inline linear-map look-up raises what linear_map raised, with the dimension."""
    got = _outcome(units.to_canonical, raw, dim)
    split = _outcome(units.split_quantity, raw)
    if split[0] == "error":  # read before any conversion: the same error
        assert got == split
        return
    value, unit = units.split_quantity(raw)
    if unit is None:
        return
    try:
        a, b = units.linear_map(unit, dim.canonical)
    except units.UnitProblem as exc:
        assert got == ("error", ("UnitProblem", f"{exc}; expected {dim.describe()}"))
    else:
        assert got == _outcome(units.bounded, a * value + b)
