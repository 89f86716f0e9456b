"""Hypothesis strategies for property-testing rules against valid encounters.

Every strategy here produces plain JSON-ready values (dicts, lists, strings and
numbers) in the shape of the contract's encounter JSON (section 2), so that what
they generate is exactly what an EMR would send:

.. code-block:: pycon

    >>> import cdss
    >>> from cdss.testing import strategies as cst
    >>> from hypothesis import given
    >>> @given(cst.encounters())
    ... def test_never_crashes(enc):
    ...     cdss.check(enc)

Values are physiologically broad: by default they also include implausible values
(SBP 400, temperature 20 degC), which ``cdss`` must report as ``quality/implausible``
and never crash on. Pass ``allow_implausible=False`` to stay inside the plausibility
bounds of ``knowledge/plausibility.yaml``.

Every strategy checks its arguments when it is called, not when it is drawn from,
and raises :class:`hypothesis.errors.InvalidArgument` naming ``arg=value``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from cdss.kb.analytes import analyte_table, plausibility_table
from cdss.units import linear_map

__all__ = [
    "CONDITION_CODES",
    "DIMENSIONS",
    "FREQUENCY_CODES",
    "LAB_CODES",
    "drug_names",
    "encounters",
    "labs",
    "patients",
    "prescriptions",
    "quantities",
    "records",
    "vital_signs",
]


# ---------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------

#: the bundled analyte catalogue and plausibility ranges: codes, LOINC codes, molar
#: masses and ranges are read from knowledge/, never copied here
_BUNDLED = {a.code: a for a in analyte_table().analytes}
_PLAUSIBLE = plausibility_table()


def _plausible(path: str) -> tuple[float, float]:
    """The plausible range of ``path`` (``vitals.sbp``, ``patient.weight``) in
    knowledge/plausibility.yaml."""
    bound = _PLAUSIBLE.vitals[path]
    return bound.low, bound.high


@dataclass(frozen=True)
class _Unit:
    """A unit a value may be written in: ``written = scale * canonical + offset``."""

    name: str
    scale: float
    offset: float = 0.0


def _pint_unit(name: str, canonical: str) -> _Unit:
    """``name`` with its factor and offset from the package's pint registry (the one
    the models convert with), not a copied constant."""
    scale, offset = linear_map(canonical, name)
    return _Unit(name, scale, offset)


@dataclass(frozen=True)
class _Dimension:
    canonical: str
    units: tuple[_Unit, ...]
    #: broad default range, in the canonical unit
    low: float
    high: float


#: Dimensions :func:`quantities` knows, by name; the first unit is the canonical one.
_DIMENSIONS: dict[str, _Dimension] = {
    "mass": _Dimension("mg", (_Unit("mg", 1), _Unit("g", 1e-3), _Unit("ug", 1e3)), 0.01, 10000),
    "volume": _Dimension("mL", (_Unit("mL", 1), _Unit("L", 1e-3)), 0.1, 2000),
    "activity": _Dimension("IU", (_Unit("IU", 1), _Unit("U", 1)), 1, 1000),
    # mg/dL per mmol/L: the molar mass of glucose in knowledge/analytes.yaml / 10
    "glucose": _Dimension("mmol/L", (_Unit("mmol/L", 1),
                                     _Unit("mg/dL", _BUNDLED["glucose"].molar_mass / 10)),
                          0.1, 100),
    "pressure": _Dimension("mmHg", (_Unit("mmHg", 1), _pint_unit("kPa", "mmHg")), 0, 400),
    "rate": _Dimension("/min", (_Unit("/min", 1), _Unit("1/min", 1), _Unit("bpm", 1)), 0, 350),
    "temperature": _Dimension("degC", (_Unit("degC", 1), _Unit("℃", 1),
                                       _pint_unit("degF", "degC")), 20, 50),
    "percent": _Dimension("%", (_Unit("%", 1),), 0, 100),
    "body_weight": _Dimension("kg", (_Unit("kg", 1), _Unit("g", 1000), _pint_unit("lb", "kg")),
                              0.2, 400),
    "length": _Dimension("cm", (_Unit("cm", 1), _Unit("m", 0.01), _Unit("mm", 10)), 10, 300),
    "duration": _Dimension("d", (_Unit("d", 1), _Unit("day", 1), _Unit("wk", 1 / 7)), 1, 365),
}

#: Names accepted by ``quantities(dimension=...)``.
DIMENSIONS: tuple[str, ...] = tuple(_DIMENSIONS)

#: Frequency codes of the contract (section 2), plus a few Chinese spellings.
FREQUENCY_CODES: tuple[str, ...] = (
    "qd", "bid", "tid", "qid", "q6h", "q8h", "q12h", "qn", "qw", "prn", "once",
    "QD", "b.i.d.", "每日一次", "每日2次",
)


#: ICD-10 codes drawn for conditions and diagnoses; includes malformed codes on purpose.
CONDITION_CODES: tuple[str, ...] = (
    "I10", "I11.9", "E11", "E11.9", "E10.9", "O80", "N18.3", "J18.9", "I25.1", "K21.0",
    "i10", " E11 ", "XYZ", "I1O", "",
)

# (unit, low, high) per lab code, broad enough to include implausible values.
_LAB_UNITS: dict[str, tuple[tuple[str, float, float], ...]] = {
    "creatinine": (("umol/L", 5, 2500), ("mg/dL", 0.05, 30)),
    "urea": (("mmol/L", 0.5, 80), ("mg/dL", 3, 480)),
    "potassium": (("mmol/L", 0.5, 12),),
    "sodium": (("mmol/L", 90, 190),),
    "glucose": (("mmol/L", 0.2, 80), ("mg/dL", 4, 1400)),
    "hba1c": (("%", 2, 22), ("mmol/mol", 10, 200)),
    "hemoglobin": (("g/L", 10, 260), ("g/dL", 1, 26)),
    "alt": (("U/L", 1, 3000),),
    "ast": (("U/L", 1, 3000),),
    "total_cholesterol": (("mmol/L", 0.5, 20), ("mg/dL", 20, 800)),
    "ldl_c": (("mmol/L", 0.2, 15), ("mg/dL", 8, 600)),
    "triglycerides": (("mmol/L", 0.1, 30), ("mg/dL", 10, 2600)),
    "uacr": (("mg/g", 0, 5000), ("mg/mmol", 0, 560)),
    "inr": (("", 0.5, 12),),
    "troponin": (("ng/L", 0, 50000),),
    "wbc": (("1/nL", 0.1, 100),),
    "platelets": (("1/nL", 1, 1500),),
}

#: Lab codes of the bundled analyte catalogue (knowledge/analytes.yaml) that
#: :func:`labs` has units and ranges for.
LAB_CODES: tuple[str, ...] = tuple(code for code in _BUNDLED if code in _LAB_UNITS)

#: a LOINC code of each analyte, from the bundled catalogue (labs are also sent by LOINC)
_LOINC: dict[str, str] = {code: a.loinc[0] for code, a in _BUNDLED.items() if a.loinc}

# (unit dimension, plausible range from knowledge/plausibility.yaml, broad range that
# includes implausible values on purpose)
_VITALS: dict[str, tuple[str, tuple[float, float], tuple[float, float]]] = {
    "sbp": ("pressure", _plausible("vitals.sbp"), (0, 400)),
    "dbp": ("pressure", _plausible("vitals.dbp"), (0, 300)),
    "heart_rate": ("rate", _plausible("vitals.heart_rate"), (0, 350)),
    "resp_rate": ("rate", _plausible("vitals.resp_rate"), (0, 100)),
    "temperature": ("temperature", _plausible("vitals.temperature"), (20, 50)),
    "spo2": ("percent", _plausible("vitals.spo2"), (0, 100)),
}

_ALLERGENS: tuple[str, ...] = ("青霉素", "penicillin", "阿莫西林", "磺胺", "阿司匹林",
                               "头孢类", "海鲜", "花粉")
_SYMPTOMS: tuple[str, ...] = ("胸闷", "头晕", "胸痛", "发热", "咳嗽", "呼吸困难", "chest pain",
                              "headache", "乏力", "")


# ---------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------

def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{name}={value!r} must be a bool")


def _check_number(name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgument(f"{name}={value!r} must be a finite number or None")


def _check_choices(name: str, value: Any, allowed: Iterable[str]) -> tuple[str, ...]:
    allowed = tuple(allowed)
    if value is None:
        return allowed
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidArgument(f"{name}={value!r} must be a list of strings or None")
    out = tuple(value)
    if not out:
        raise InvalidArgument(f"{name}={value!r} must not be empty")
    for item in out:
        if item not in allowed:
            raise InvalidArgument(f"{name}={value!r}: {item!r} is not one of {sorted(allowed)}")
    return out


def _check_size(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"{name}={value!r} must be a non-negative int")


# ---------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------

def _fmt(x: float) -> str:
    """A number as an EMR would write it: no trailing zeros, never ``-0``."""
    text = f"{x:.10g}"
    return "0" if text in ("-0", "0") else text


def _decimals(low: float, high: float, places: int) -> st.SearchStrategy[float]:
    scale = 10 ** places
    lo, hi = math.ceil(low * scale), math.floor(high * scale)
    if lo > hi:
        raise InvalidArgument(f"no value with {places} decimals lies in [{low}, {high}]")
    return st.integers(lo, hi).map(lambda n: n / scale if places else float(n))


def _written(value: float, unit: str, form: str) -> Any:
    if form == "dict":
        return {"value": value, "unit": unit}
    return f"{_fmt(value)} {unit}".strip()


@lru_cache(maxsize=1)
def _drug_spellings() -> dict[str, tuple[str, ...]]:
    from cdss.kb import load_knowledge

    kb = load_knowledge()
    out: dict[str, tuple[str, ...]] = {}
    for drug in kb.drugs.values():
        names = [drug.id, drug.name.zh, drug.name.en, *drug.aliases, *drug.atc]
        out[drug.id] = tuple(dict.fromkeys(names))
    return out


# ---------------------------------------------------------------------------------
# Public strategies
# ---------------------------------------------------------------------------------

def quantities(dimension: str = "mass", *, min_value: float | None = None,
               max_value: float | None = None, units: Sequence[str] | None = None,
               places: int = 2) -> st.SearchStrategy[Any]:
    """Quantities of ``dimension`` as ``"5 mg"`` strings or ``{"value", "unit"}`` dicts.

    ``min_value`` and ``max_value`` bound the value in the dimension's canonical
    unit (mg, mL, IU, mmol/L, mmHg, /min, degC, %, kg, cm, d), which is drawn with
    ``places`` decimals and then written in one of ``units`` (default: every unit
    known for the dimension, e.g. mg, g and ug for ``"mass"``; mmol/L and mg/dL for
    ``"glucose"``, converted by the molar mass in knowledge/analytes.yaml).

    Examples from this strategy shrink towards ``min_value`` written as a string in
    the canonical unit.

    .. code-block:: pycon

        >>> quantities("mass", min_value=500, max_value=500, units=["g"]).example()
        ... # doctest: +SKIP
        {'value': 0.5, 'unit': 'g'}
        >>> quantities("glucose").example()  # doctest: +SKIP
        '120.9 mg/dL'
    """
    if dimension not in _DIMENSIONS:
        raise InvalidArgument(f"dimension={dimension!r} must be one of {list(DIMENSIONS)}")
    dim = _DIMENSIONS[dimension]
    _check_number("min_value", min_value)
    _check_number("max_value", max_value)
    if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= 6:
        raise InvalidArgument(f"places={places!r} must be an int from 0 to 6")
    low = dim.low if min_value is None else min_value
    high = dim.high if max_value is None else max_value
    if low > high:
        raise InvalidArgument(f"min_value={min_value!r} must be <= max_value={max_value!r}")
    names = _check_choices("units", units, (u.name for u in dim.units))
    by_name = {u.name: u for u in dim.units}
    chosen = [by_name[n] for n in names]
    try:
        values = _decimals(low, high, places)
    except InvalidArgument:
        raise InvalidArgument(f"min_value={min_value!r} and max_value={max_value!r} hold no "
                              f"value with places={places}") from None

    def write(args: tuple[float, _Unit, str]) -> Any:
        value, unit, form = args
        written = unit.scale * value + unit.offset
        if unit.scale != 1 or unit.offset:
            written = float(_fmt(round(written, 8)))
        return _written(written, unit.name, form)

    return st.tuples(values, st.sampled_from(chosen), st.sampled_from(["str", "dict"])).map(write)


def drug_names(drugs: Iterable[str] | None = None) -> st.SearchStrategy[str]:
    """Names of known drugs in any spelling the contract accepts.

    ``drugs`` restricts the drugs to these knowledge-base ids (English INNs such as
    ``"warfarin"``). A drug is written as its INN, its Chinese generic name, one of
    its aliases or its ATC code.

    Examples from this strategy shrink towards the INN of the first drug.

    .. code-block:: pycon

        >>> drug_names(["ibuprofen"]).example()  # doctest: +SKIP
        '布洛芬'
    """
    spellings = _drug_spellings()
    ids = _check_choices("drugs", drugs, spellings)
    return st.sampled_from(ids).flatmap(lambda d: st.sampled_from(spellings[d]))


def _frequencies() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(FREQUENCY_CODES),
        st.builds(lambda n: {"times_per_day": n}, st.sampled_from([1, 2, 3, 4, 6, 0.5])),
    )


def prescriptions(drugs: Iterable[str] | None = None, *, min_dose: float = 0.1,
                  max_dose: float = 5000) -> st.SearchStrategy[dict[str, Any]]:
    """Prescription dicts of known drugs with doses in mg or g.

    ``drugs`` are knowledge-base drug ids (default: every known drug); the name is
    written in any accepted spelling (see :func:`drug_names`). The single dose is
    drawn in mg from ``[min_dose, max_dose]`` and written in mg or g; ``frequency``
    is an accepted code or ``{"times_per_day": N}``; ``route`` and ``duration`` are
    sometimes present.

    Examples from this strategy shrink towards ``{"drug": <INN of the first drug>}``
    with no dose, frequency, route or duration.

    .. code-block:: pycon

        >>> prescriptions(["warfarin"]).example()  # doctest: +SKIP
        {'drug': '华法林钠', 'dose': '3 mg', 'frequency': 'qd'}
    """
    names = drug_names(drugs)
    _check_number("min_dose", min_dose)
    _check_number("max_dose", max_dose)
    if min_dose is None or min_dose <= 0:
        raise InvalidArgument(f"min_dose={min_dose!r} must be a positive number")
    if max_dose is None or max_dose < min_dose:
        raise InvalidArgument(f"max_dose={max_dose!r} must be >= min_dose={min_dose!r}")
    return st.fixed_dictionaries(
        {"drug": names},
        optional={
            "dose": quantities("mass", min_value=min_dose, max_value=max_dose,
                               units=["mg", "g"], places=1),
            "frequency": _frequencies(),
            "route": st.sampled_from(["oral", "iv", "im", "sc"]),
            "duration": quantities("duration", min_value=1, max_value=90, places=0),
        },
    )


def vital_signs(*, allow_implausible: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """``vitals`` dicts; every field optional, numbers bare or with a unit.

    With ``allow_implausible`` (the default) values range beyond the plausibility
    bounds (SBP up to 400, SpO2 down to 0, temperature 20-50 degC, glucose up to
    100 mmol/L); otherwise they stay within them.

    Examples from this strategy shrink towards ``{}``.

    .. code-block:: pycon

        >>> vital_signs().example()  # doctest: +SKIP
        {'sbp': 152, 'temperature': '37.2 degC'}
    """
    _check_bool("allow_implausible", allow_implausible)
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for name, (dimension, plausible, broad) in _VITALS.items():
        low, high = broad if allow_implausible else plausible
        bare = _decimals(low, high, 0 if name in ("sbp", "dbp", "heart_rate") else 1)
        optional[name] = st.one_of(
            bare.map(lambda x: int(x) if x.is_integer() else x),
            quantities(dimension, min_value=low, max_value=high, places=1,
                       units=[_DIMENSIONS[dimension].units[0].name]),
        )
    glucose_range = (0.2, 80) if allow_implausible else _plausible("vitals.glucose")
    optional.update(
        consciousness=st.sampled_from(["alert", "confusion", "voice", "pain", "unresponsive"]),
        on_oxygen=st.booleans(),
        glucose=quantities("glucose", min_value=glucose_range[0], max_value=glucose_range[1],
                           places=1),
        glucose_context=st.sampled_from(["fasting", "random", "2h_postprandial"]),
    )
    return st.fixed_dictionaries({}, optional=optional)


def labs(codes: Iterable[str] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """One ``labs[]`` entry: a contract lab code (or its LOINC code) with a value.

    ``codes`` restricts the analytes (default: every code in :data:`LAB_CODES`).
    Values are written in a common unit of the analyte (creatinine in umol/L or
    mg/dL, HbA1c in % or mmol/mol, INR as a bare number) over a broad range that
    includes implausible values; ``time`` is sometimes present.

    Examples from this strategy shrink towards the first code with its lowest value.

    .. code-block:: pycon

        >>> labs(["potassium"]).example()  # doctest: +SKIP
        {'code': 'potassium', 'value': '4.2 mmol/L'}
    """
    chosen = _check_choices("codes", codes, LAB_CODES)

    def one(code: str) -> st.SearchStrategy[dict[str, Any]]:
        def value(unit: str, low: float, high: float) -> st.SearchStrategy[Any]:
            numbers = _decimals(low, high, 2)
            if not unit:
                return numbers
            return st.tuples(numbers, st.sampled_from(["str", "dict"])).map(
                lambda a: _written(a[0], unit, a[1]))

        spelled = st.sampled_from((code, _LOINC[code]) if code in _LOINC else (code,))
        return st.fixed_dictionaries(
            {"code": spelled, "value": st.one_of(*(value(*u) for u in _LAB_UNITS[code]))},
            optional={"time": st.dates(_date(2020, 1, 1), _date(2026, 12, 31)).map(str)},
        )

    return st.sampled_from(chosen).flatmap(one)


def _date(y: int, m: int, d: int):
    from datetime import date

    return date(y, m, d)


def _conditions() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"code": st.sampled_from(CONDITION_CODES)},
                                 optional={"name": st.sampled_from(["高血压", "糖尿病", ""])})


def patients(*, allow_implausible: bool = True,
             max_allergies: int = 3, max_conditions: int = 4) -> st.SearchStrategy[dict[str, Any]]:
    """``patient`` dicts: only ``id`` is always present.

    Optional parts are sex, birth date (1900-2026), pregnancy, weight and height
    (bare or with a unit), allergies (drugs, drug classes and non-drug substances),
    ``allergies_reviewed`` and ICD-10 conditions (hypertension, diabetes, pregnancy
    and malformed codes).

    Examples from this strategy shrink towards ``{"id": "p0"}``.

    .. code-block:: pycon

        >>> patients().example()  # doctest: +SKIP
        {'id': 'p3', 'sex': 'female', 'conditions': [{'code': 'I10'}]}
    """
    _check_bool("allow_implausible", allow_implausible)
    _check_size("max_allergies", max_allergies)
    _check_size("max_conditions", max_conditions)
    weight = (0.2, 400) if allow_implausible else _plausible("patient.weight")
    height = (10, 300) if allow_implausible else _plausible("patient.height")
    allergy = st.fixed_dictionaries({"substance": st.sampled_from(_ALLERGENS)},
                                    optional={"reaction": st.sampled_from(["皮疹", "rash"])})
    return st.fixed_dictionaries(
        {"id": st.integers(0, 999).map(lambda n: f"p{n}")},
        optional={
            "sex": st.sampled_from(["male", "female", "other", "unknown"]),
            "birth_date": st.dates(_date(1900, 1, 1), _date(2026, 12, 31)).map(str),
            "pregnant": st.booleans(),
            "weight": st.one_of(
                _decimals(*weight, 1),
                quantities("body_weight", min_value=weight[0], max_value=weight[1],
                           units=["kg"], places=1)),
            "height": st.one_of(
                _decimals(*height, 0),
                quantities("length", min_value=height[0], max_value=height[1],
                           units=["cm", "m"], places=0)),
            "allergies": st.lists(allergy, max_size=max_allergies),
            "allergies_reviewed": st.booleans(),
            "conditions": st.lists(_conditions(), max_size=max_conditions),
        },
    )


def records() -> st.SearchStrategy[dict[str, Any]]:
    """``record`` dicts (the written 病历); every section optional, possibly empty.

    Examples from this strategy shrink towards ``{}``.

    .. code-block:: pycon

        >>> records().example()  # doctest: +SKIP
        {'chief_complaint': '头晕3天', 'diagnoses': [{'code': 'I10'}]}
    """
    text = st.sampled_from(["", "头晕3天", "否认药物过敏史", "青霉素过敏", "无特殊",
                            "BP 150/95 mmHg 心肺无异常"])
    return st.fixed_dictionaries({}, optional={
        "chief_complaint": text, "present_illness": text, "past_history": text,
        "allergy_history": text, "physical_exam": text, "auxiliary_exams": text,
        "treatment_plan": text,
        "diagnoses": st.lists(_conditions(), max_size=3),
        "physician": st.sampled_from(["张医生", "", "Dr Li"]),
        "signed_at": st.sampled_from(["2026-11-20T09:50:00+08:00", "2026-11-20T08:00:00+08:00",
                                      "2026-11-22T09:50:00+08:00"]),
    })


def encounters(*, allow_implausible: bool = True, max_prescriptions: int = 4,
               max_labs: int = 4) -> st.SearchStrategy[dict[str, Any]]:
    """Valid encounter dicts (contract section 2) that ``cdss.Encounter.parse`` accepts.

    Only ``id``, ``time`` and ``patient.id`` are always present; vitals, labs,
    symptoms, record, prescriptions and follow-up history are each optional. The
    visit time is in 2026 (sometimes without a time zone).

    Examples from this strategy shrink towards
    ``{"id": "e0", "time": "2026-01-01T00:00:00+08:00", "patient": {"id": "p0"}}``.

    .. code-block:: pycon

        >>> import cdss
        >>> enc = encounters().example()
        >>> cdss.Encounter.parse(enc).id.startswith("e")
        True
    """
    _check_bool("allow_implausible", allow_implausible)
    _check_size("max_prescriptions", max_prescriptions)
    _check_size("max_labs", max_labs)
    times = st.tuples(
        st.dates(_date(2026, 1, 1), _date(2026, 12, 31)),
        st.integers(0, 23), st.integers(0, 59), st.sampled_from(["+08:00", "Z", ""]),
    ).map(lambda a: f"{a[0]}T{a[1]:02d}:{a[2]:02d}:00{a[3]}")
    followup = st.fixed_dictionaries(
        {"date": st.dates(_date(2025, 1, 1), _date(2026, 12, 31)).map(str)},
        optional={"condition": st.sampled_from(["I10", "E11"]),
                  "sbp": st.integers(90, 200), "dbp": st.integers(50, 120),
                  "glucose": quantities("glucose", min_value=2, max_value=25, places=1)},
    )
    return st.fixed_dictionaries(
        {"id": st.integers(0, 999).map(lambda n: f"e{n}"), "time": times,
         "patient": patients(allow_implausible=allow_implausible)},
        optional={
            "visit_type": st.sampled_from(["first", "return"]),
            "vitals": vital_signs(allow_implausible=allow_implausible),
            "labs": st.lists(labs(), max_size=max_labs),
            "symptoms": st.lists(st.sampled_from(_SYMPTOMS), max_size=3),
            "record": records(),
            "prescriptions": st.lists(prescriptions(), max_size=max_prescriptions),
            "history": st.fixed_dictionaries(
                {}, optional={"followups": st.lists(followup, max_size=3)}),
        },
    )


assert sorted(__all__) == sorted(
    name for name, value in list(globals().items())
    if not name.startswith("_") and (
        (callable(value) and getattr(value, "__module__", None) == __name__
         and not isinstance(value, type))
        or name.isupper())
), "__all__ must list exactly the public names"
