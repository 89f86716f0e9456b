"""One shared pint registry and the conversions every model uses.

Quantities are converted once, at validation, into canonical units, so nothing
downstream touches pint. Each (unit, target) conversion is reduced to a linear
map ``a * x + b`` and cached, so repeated units cost a dictionary lookup.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pint


def _registry() -> pint.UnitRegistry:
    """The registry, with pint's parsed definitions cached on disk when possible
    (start-up -0.2 s); a read-only or missing cache folder falls back to parsing."""
    try:
        return pint.UnitRegistry(autoconvert_offset_to_baseunit=True, cache_folder=":auto:")
    except Exception:  # any cache problem: build without the cache
        return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


ureg = _registry()
ureg.define("international_unit = [bioactivity] = IU")
ureg.define("wk = week")
ureg.define("breath = 1")
ureg.define("beat = 1")

#: Spellings seen in Chinese EMRs and on devices, mapped to pint's names.
UNIT_ALIASES: dict[str, str] = {
    "U": "IU",
    "u": "IU",
    "units": "IU",
    "unit": "IU",
    "单位": "IU",
    "/min": "1/min",
    "bpm": "1/min",
    "次/分": "1/min",
    "次/min": "1/min",
    "℃": "degC",
    "°C": "degC",
    "°F": "degF",
    "天": "day",
    "日": "day",
    "周": "week",
    "月": "month",
    "10^9/L": "1/nL", "×10^9/L": "1/nL", "x10^9/L": "1/nL", "10*9/L": "1/nL", "G/L": "1/nL",
    "10^12/L": "1/pL", "×10^12/L": "1/pL", "10*12/L": "1/pL",
    "/uL": "1/uL", "/µL": "1/uL", "/mm3": "1/mm**3",
    "IU/L": "U/L",
}


@dataclass(frozen=True)
class Dimension:
    """What a field must measure: a pint dimensionality and its canonical unit."""

    name: str
    canonical: str
    #: Alternative dimensionality accepted when a molar mass is known
    #: (mass concentration for an analyte stored as substance concentration).
    by_molar_mass: bool = False

    def describe(self) -> str:
        return f"{self.name} ({self.canonical})"


MASS = Dimension("a mass", "mg")
VOLUME = Dimension("a volume", "mL")
ACTIVITY = Dimension("an amount in international units", "IU")
BODY_WEIGHT = Dimension("a body weight", "kg")
LENGTH = Dimension("a length", "cm")
PRESSURE = Dimension("a pressure", "mmHg")
RATE = Dimension("a rate per minute", "1/min")
TEMPERATURE = Dimension("a temperature", "degC")
PERCENT = Dimension("a percentage", "percent")
DURATION = Dimension("a duration", "day")


class UnitProblem(ValueError):
    """A quantity that cannot be read or converted; the message is for humans."""


_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


def split_quantity(raw: Any) -> tuple[float, str | None]:
    """Read ``"5 mg"``, ``{"value": 5, "unit": "mg"}`` or a bare number."""
    if isinstance(raw, bool):
        raise UnitProblem(f"expected a quantity, got the boolean {raw!r}")
    if isinstance(raw, int | float):
        return _finite(float(raw)), None
    if isinstance(raw, dict):
        if "value" not in raw:
            raise UnitProblem("a quantity object needs a 'value'")
        value = raw["value"]
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise UnitProblem(f"quantity value must be a number, got {value!r}")
        try:
            number = float(value)
        except ValueError as exc:
            raise UnitProblem(f"quantity value must be a number, got {value!r}") from exc
        unit = raw.get("unit")
        if unit is not None and not isinstance(unit, str):
            raise UnitProblem(f"quantity unit must be a string, got {unit!r}")
        return _finite(number), (unit.strip() or None) if unit else None
    if isinstance(raw, str):
        match = _NUMBER_UNIT.match(raw)
        if not match:
            raise UnitProblem(f"cannot read {raw!r} as a number with a unit (e.g. '5 mg')")
        return _finite(float(match.group(1))), match.group(2) or None
    raise UnitProblem(f"expected a quantity such as '5 mg', got {type(raw).__name__}")


def _finite(x: float) -> float:
    if not math.isfinite(x):
        raise UnitProblem(f"quantity must be a finite number, got {x}")
    return x


@lru_cache(maxsize=512)
def linear_map(unit: str, canonical: str, molar_mass: float | None = None) -> tuple[float, float]:
    """``(a, b)`` such that ``canonical_value = a * value + b``; raises UnitProblem."""
    name = UNIT_ALIASES.get(unit, unit)
    try:
        source = ureg.Unit(name)
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, ValueError,
            AttributeError, TypeError, AssertionError) as exc:
        raise UnitProblem(f"unknown unit {unit!r}") from exc
    target = ureg.Unit(canonical)

    def convert(x: float) -> float:
        q = ureg.Quantity(x, source)
        if q.dimensionality == target.dimensionality:
            return float(q.to(target).magnitude)
        if molar_mass is not None:
            # mass concentration -> substance concentration: (g/L) / (g/mol) = mol/L
            grams_per_litre = q.to("g/L").magnitude
            return float(ureg.Quantity(grams_per_litre / molar_mass, "mol/L").to(target).magnitude)
        raise pint.errors.DimensionalityError(source, target, q.dimensionality,
                                              target.dimensionality)

    try:
        b = convert(0.0)
        a = convert(1.0) - b
    except pint.errors.DimensionalityError as exc:
        raise UnitProblem(
            f"cannot convert from '{unit}' ({ureg.Quantity(1, source).dimensionality}) "
            f"to '{canonical}' ({ureg.Quantity(1, target).dimensionality})"
        ) from exc
    return a, b


def to_canonical(
    raw: Any,
    dimension: Dimension,
    *,
    bare_ok: bool = False,
    molar_mass: float | None = None,
) -> float:
    """Convert a raw quantity into ``dimension.canonical``.

    :param bare_ok: a bare number is taken to be in the canonical unit.
    :param molar_mass: g/mol, to accept a mass concentration for a substance one.
    """
    value, unit = split_quantity(raw)
    if unit is None:
        if bare_ok:
            return value
        raise UnitProblem(f"needs a unit: expected {dimension.describe()}, e.g. '{value:g} "
                          f"{dimension.canonical}'")
    try:
        a, b = linear_map(unit, dimension.canonical, molar_mass)
    except UnitProblem as exc:
        raise UnitProblem(f"{exc}; expected {dimension.describe()}") from None
    return a * value + b


def first_matching(raw: Any, dimensions: tuple[Dimension, ...]) -> tuple[float, Dimension]:
    """Convert into the first of several accepted dimensions (a dose: mg, mL or IU)."""
    value, unit = split_quantity(raw)
    if unit is None:
        names = ", ".join(d.describe() for d in dimensions)
        raise UnitProblem(f"needs a unit: expected {names}")
    for dim in dimensions:
        try:
            a, b = linear_map(unit, dim.canonical)
        except UnitProblem:
            continue
        return a * value + b, dim
    names = " or ".join(d.describe() for d in dimensions)
    try:
        linear_map(unit, "dimensionless")
    except UnitProblem as exc:
        if "unknown unit" in str(exc):
            raise UnitProblem(f"unknown unit {unit!r}; expected {names}") from None
    dimensionality = ureg.Quantity(1, ureg.Unit(UNIT_ALIASES.get(unit, unit))).dimensionality
    raise UnitProblem(f"cannot use '{unit}' ({dimensionality}) here; expected {names}")
