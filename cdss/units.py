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
from typing import TYPE_CHECKING, Any

from cdss import limits
from cdss._unit_table import DIMENSIONALITY, LINEAR, TARGETS
from cdss.errors import masked

if TYPE_CHECKING:
    import pint


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    """The one pint registry, built on first use (pint and numpy are imported only for
    a unit outside the table of ``cdss._unit_table``), with pint's parsed definitions
    cached on disk when possible; a read-only or missing cache folder falls back to
    parsing."""
    import pint

    try:
        ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True, cache_folder=":auto:")
    except Exception:  # any cache problem: build without the cache
        ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    ureg.define("international_unit = [bioactivity] = IU")
    ureg.define("wk = week")
    ureg.define("breath = 1")
    ureg.define("beat = 1")
    ureg.define("jin = 500 * gram")  # 市斤, the market jin in which villagers give weight
    return ureg


def __getattr__(name: str) -> Any:
    if name == "ureg":  # the registry, as the module attribute it used to be
        return registry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

#: How a canonical unit code is shown to a clinician (in both languages), where pint's
#: name is not the symbol: "degC" is "°C"; every other code is shown as it is.
SHOWN: dict[str, str] = {"degC": "°C", "degF": "°F", "1/min": "/min"}


#: units of derived fields that are words, in Chinese (every other unit is a symbol)
WORDS_ZH: dict[str, str] = {"characters": "字", "d": "天", "y": "岁", "days": "天"}


def shown(code: str, lang: str = "en") -> str:
    """The symbol a clinician reads for a unit code ("degC" -> "°C"; in Chinese,
    "characters" -> "字")."""
    code = SHOWN.get(code, code)
    return WORDS_ZH.get(code, code) if lang == "zh" else code


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
    "度": "degC",  # "38.5度": only a temperature is written in 度 in an EMR
    "毫克": "mg", "克": "g", "微克": "ug", "公斤": "kg", "千克": "kg", "斤": "jin",
    "毫升": "mL", "升": "L", "厘米": "cm", "米": "m", "毫米汞柱": "mmHg",
    "毫摩尔/升": "mmol/L", "微摩尔/升": "umol/L", "克/升": "g/L", "毫克/分升": "mg/dL",
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

#: Dosage units: counts of a product's units (a tablet, a capsule, a sachet), not pint
#: quantities. A dose in one is converted to mg only through a product's strength
#: (knowledge/products/); the words that name them are knowledge
#: (``dosage_units`` of knowledge/prescribing.yaml), these are their codes.
DOSAGE_UNITS: tuple[str, ...] = ("tablet", "capsule", "sachet", "ampoule", "pill")


def dosage_unit_dose(raw: Any, words: Any, split: tuple[float, str | None] | None = None
                     ) -> tuple[float, str] | None:
    """``(count, code)`` when ``raw`` is a number of dosage units written with one of
    ``words`` (word -> code: ``"2 片"``, ``"1 tablet"``, ``{"value": 1, "unit": "袋"}``);
    None when its unit is not a dosage-unit word (a mass, a volume...). Raises
    UnitProblem for a quantity that cannot be read at all. ``split``:
    ``split_quantity(raw)`` when the caller has it already."""
    if not words:
        return None
    value, unit = split_quantity(raw) if split is None else split
    if unit is None:
        return None
    code = words.get(unit)
    if code is None:
        code = words.get(unit.lower())
    if code is None:
        return None
    return value, code


class UnitProblem(ValueError):
    """A quantity that cannot be read or converted; the message is for humans."""


_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$",
                          re.S)

#: One unit term: letters of any script (mg, mmol, µg, 次, 单位), optionally a power
#: of 2 or 3 written as a digit (m2, mm3); or %, °C, °F, ℃.
_TERM = r"(?:[^\W\d_]+[23]?|%|°[CF]|℃)"
#: The unit grammar: terms joined by "/", "·", "⋅" or "*", optionally after "1/" or
#: "/" ("1/min", "/uL"). No other operators, exponents, brackets or numbers.
UNIT_GRAMMAR = re.compile(rf"(?:1?\s*/\s*)?{_TERM}(?:\s*[/·⋅*]\s*{_TERM})*")
_JOINERS = re.compile(r"[/·⋅*]")
#: The characters of the grammar that are not letters (superscripts such as ² are
#: word characters to ``re`` but pint reads them as exponents).
_NOT_LETTERS = frozenset("/·⋅* 123%°℃")
#: What a unit looks like, for messages.
_EXPECTED_UNIT = "a unit such as 'mg', 'mmol/L' or '10^9/L'"


def check_unit(unit: str) -> str:
    """``unit`` if it is in the unit grammar (or a spelling of :data:`UNIT_ALIASES`);
    raises UnitProblem otherwise, before pint ever reads it (pint evaluates
    expressions: ``mg**9**9**9`` would compute 9^(9^9))."""
    if unit in UNIT_ALIASES or unit in _READ_UNITS:
        return unit
    if len(unit) > limits.MAX_UNIT_LENGTH:
        raise UnitProblem(f"the unit is longer than the limit of {limits.MAX_UNIT_LENGTH} "
                          f"characters; expected {_EXPECTED_UNIT}")
    if not UNIT_GRAMMAR.fullmatch(unit) or not all(c.isalpha() or c in _NOT_LETTERS
                                                    for c in unit):
        raise UnitProblem(f"cannot read the unit {masked(unit)}: expected {_EXPECTED_UNIT} "
                          "(letters joined by '/' or '·'; no operators, exponents, brackets "
                          "or numbers)")
    if len(_JOINERS.findall(unit)) >= limits.MAX_UNIT_TERMS:
        raise UnitProblem(f"the unit has more than {limits.MAX_UNIT_TERMS} terms; expected "
                          f"{_EXPECTED_UNIT}")
    if len(_READ_UNITS) < _READ_UNITS_KEPT:  # bounded: units come from the input
        _READ_UNITS.add(unit)
    return unit


#: units :func:`check_unit` accepted, so that it checks a unit once (at most this many)
_READ_UNITS: set[str] = set()
_READ_UNITS_KEPT = 4096


def split_quantity(raw: Any) -> tuple[float, str | None]:
    """Read ``"5 mg"``, ``{"value": 5, "unit": "mg"}`` or a bare number.

    The number must be finite and at most :data:`limits.MAX_MAGNITUDE` in magnitude,
    the unit in the unit grammar (:func:`check_unit`).
    """
    if type(raw) is str:  # the common case first (the checks below, in their order)
        return _split_text(raw)
    if isinstance(raw, bool):
        raise UnitProblem("expected a quantity such as '5 mg', got a boolean")
    if isinstance(raw, int | float):
        return bounded(raw), None
    if isinstance(raw, dict):
        if "value" not in raw:
            raise UnitProblem("a quantity object needs a 'value'")
        value = raw["value"]
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise UnitProblem(f"quantity value must be a number, got {masked(value)}")
        if isinstance(value, str):
            if len(value) > limits.MAX_QUANTITY_LENGTH:
                raise UnitProblem(f"quantity value is longer than the limit of "
                                  f"{limits.MAX_QUANTITY_LENGTH} characters")
            try:
                value = float(value)
            except ValueError:
                raise UnitProblem(f"quantity value must be a number, got "
                                  f"{masked(value)}") from None
        unit = raw.get("unit")
        if unit is not None and not isinstance(unit, str):
            raise UnitProblem(f"quantity unit must be a string, got {masked(unit)}")
        unit = unit.strip() if unit else None
        return bounded(value), (check_unit(unit) if unit else None)
    if isinstance(raw, str):
        return _split_text(raw)
    raise UnitProblem(f"expected a quantity such as '5 mg', got {masked(raw)}")


def _split_text(raw: str) -> tuple[float, str | None]:
    """:func:`split_quantity` of a text."""
    if len(raw) > limits.MAX_QUANTITY_LENGTH:
        raise UnitProblem(f"the quantity is longer than the limit of "
                          f"{limits.MAX_QUANTITY_LENGTH} characters; expected a number "
                          "with a unit, e.g. '5 mg'")
    match = _NUMBER_UNIT.match(raw)
    if not match:
        raise UnitProblem(f"cannot read {masked(raw)} as a number with a unit: expected "
                          "e.g. '5 mg'")
    number, unit = match.groups()
    value = float(number)
    if not -_LIMIT <= value <= _LIMIT:  # NaN is never within: bounded() says why
        value = bounded(value)
    if not unit:
        return value, None
    # check_unit's first test inline: a unit already read
    return value, (unit if unit in _READ_UNITS or unit in UNIT_ALIASES else check_unit(unit))


_LIMIT = limits.MAX_MAGNITUDE


def bounded(x: float) -> float:
    """``x`` as a float if finite and within :data:`limits.MAX_MAGNITUDE`, as sent and
    in the canonical unit (an int is compared before conversion: ``10**400`` cannot be
    a float)."""
    if type(x) is float and -_LIMIT <= x <= _LIMIT:  # the common case (NaN fails it)
        return x
    if isinstance(x, float) and not math.isfinite(x):
        raise UnitProblem("quantity must be a finite number")
    if not -limits.MAX_MAGNITUDE <= x <= limits.MAX_MAGNITUDE:
        raise UnitProblem(f"quantity is larger in magnitude than the limit of "
                          f"{limits.MAX_MAGNITUDE:,.0f}")
    return float(x)


def linear_map(unit: str, canonical: str, molar_mass: float | None = None) -> tuple[float, float]:
    """``(a, b)`` such that ``canonical_value = a * value + b``; raises UnitProblem.

    Read from the table of ``cdss._unit_table`` (made with pint from the units the
    contract accepts: the same numbers), else worked out with pint; either way cached,
    failures included (a dose in IU tries mass and volume first)."""
    found = _linear_map(unit, canonical, molar_mass)
    if isinstance(found, str):
        raise UnitProblem(found)
    return found


@lru_cache(maxsize=2048)
def _linear_map(unit: str, canonical: str, molar_mass: float | None
                ) -> tuple[float, float] | str:
    """:func:`linear_map`'s answer, or the message of its UnitProblem."""
    try:
        name = UNIT_ALIASES.get(check_unit(unit), unit)
    except UnitProblem as exc:
        return str(exc)
    found = LINEAR.get((name, canonical, molar_mass))
    if found is not None:
        return found
    if (canonical, molar_mass) in TARGETS and name in DIMENSIONALITY:
        # the table holds every conversion between its units and targets: pint refused it
        return (f"cannot convert from '{unit}' ({DIMENSIONALITY[name]}) "
                f"to '{canonical}' ({DIMENSIONALITY[canonical]})")
    try:
        return pint_linear_map(unit, canonical, molar_mass)
    except UnitProblem as exc:
        return str(exc)


linear_map.cache_clear = _linear_map.cache_clear  # type: ignore[attr-defined]


def pint_linear_map(unit: str, canonical: str, molar_mass: float | None = None
                    ) -> tuple[float, float]:
    """:func:`linear_map` worked out by pint (uncached)."""
    return pint_conversion(UNIT_ALIASES.get(check_unit(unit), unit), canonical, molar_mass,
                           unit)


def pint_conversion(name: str, canonical: str, molar_mass: float | None = None,
                    unit: str | None = None) -> tuple[float, float]:
    """``(a, b)`` from pint for the pint unit ``name`` (written ``unit`` in messages):
    what the table of ``cdss._unit_table`` is made with."""
    import pint

    ureg = registry()
    unit = name if unit is None else unit
    try:
        source = ureg.Unit(name)
    except Exception as exc:  # pint's parser raises many kinds; the text passed the grammar
        raise UnitProblem(f"unknown unit {masked(unit)}") from exc
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
    except Exception as exc:  # a unit pint parses but cannot use (an odd definition)
        raise UnitProblem(f"unknown unit {masked(unit)}") from exc
    if not (math.isfinite(a) and math.isfinite(b)) or a == 0:
        raise UnitProblem(f"cannot use the unit {masked(unit)}")
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
        raise UnitProblem(f"needs a unit: expected {dimension.describe()}, a number followed "
                          f"by '{dimension.canonical}'")
    found = _linear_map(unit, dimension.canonical, molar_mass)  # = linear_map, inline
    if isinstance(found, str):
        raise UnitProblem(f"{found}; expected {dimension.describe()}")
    a, b = found
    return bounded(a * value + b)


def first_matching(raw: Any, dimensions: tuple[Dimension, ...],
                   split: tuple[float, str | None] | None = None) -> tuple[float, Dimension]:
    """Convert into the first of several accepted dimensions (a dose: mg, mL or IU).
    ``split``: ``split_quantity(raw)`` when the caller has it already."""
    value, unit = split_quantity(raw) if split is None else split
    if unit is None:
        names = ", ".join(d.describe() for d in dimensions)
        raise UnitProblem(f"needs a unit: expected {names}")
    for dim in dimensions:
        try:
            a, b = linear_map(unit, dim.canonical)
        except UnitProblem:
            continue
        return bounded(a * value + b), dim
    names = " or ".join(d.describe() for d in dimensions)
    name = UNIT_ALIASES.get(unit, unit)
    dimensionality = DIMENSIONALITY.get(name)
    if dimensionality is None:  # not in the table: pint says what it is
        try:
            linear_map(unit, "dimensionless")
        except UnitProblem as exc:
            if "unknown unit" in str(exc) or "cannot use" in str(exc):
                raise UnitProblem(f"unknown unit {masked(unit)}; expected {names}") from None
        ureg = registry()
        dimensionality = str(ureg.Quantity(1, ureg.Unit(name)).dimensionality)
    raise UnitProblem(f"cannot use '{unit}' ({dimensionality}) here; expected {names}")
