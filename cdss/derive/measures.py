"""The ``vitals`` and ``labs`` facts: this visit's measurements, canonical units."""

from __future__ import annotations

from functools import cache
from typing import Any

from cdss.derive import labs
from cdss.derive.factset import Context
from cdss.derive.facttype import FACT_DECIMALS, FactType, round_to
from cdss.derive.facttype import field as f
from cdss.derive.plausible import implausible, plausible
from cdss.kb import KnowledgeBase

VITALS = FactType("vitals", False, {
    "sbp": f("number", "sbp", "mmHg"),
    "dbp": f("number", "dbp", "mmHg"),
    "heart_rate": f("number", "heart_rate", "/min"),
    "resp_rate": f("number", "resp_rate", "/min"),
    "temperature": f("number", "temperature", "°C"),
    "spo2": f("number", "spo2", "%"),
    "consciousness": f("string", "consciousness"),
    "on_oxygen": f("bool", "on_oxygen"),
    "glucose": f("number", "glucose", "mmol/L"),
    "glucose_context": f("string", "glucose_context", context=True),
}, "vital signs of this visit (implausible values withheld)")

#: vitals in their canonical units (the plausibility table's unit when it has none)
_MEASURED = (("sbp", "mmHg"), ("dbp", "mmHg"), ("heart_rate", "/min"), ("resp_rate", "/min"),
             ("temperature", "degC"), ("spo2", "%"), ("glucose", "mmol/L"))

#: the same with each vital's input path
_MEASURED_PATHS = tuple((name, unit, f"vitals.{name}") for name, unit in _MEASURED)

#: (code, canonical unit) of each analyte of a knowledge base: the ``labs`` fact's fields
LabUnits = tuple[tuple[str, str], ...]


def lab_units(kb: KnowledgeBase) -> LabUnits:
    """The analytes of ``kb`` as the ``labs`` fact's fields."""
    return tuple((a.code, a.canonical) for a in kb.analytes.values())


#: knowledge base (by id, kept so that the id stays its own) -> its ``labs`` fact type
_LABS_TYPES: dict[int, tuple[KnowledgeBase, FactType]] = {}


def _labs_type_of(kb: KnowledgeBase) -> FactType:
    """:func:`labs_type` of ``kb``, worked out once per knowledge base (not per encounter)."""
    found = _LABS_TYPES.get(id(kb))
    if found is not None and found[0] is kb:
        return found[1]
    made = labs_type(lab_units(kb))
    if len(_LABS_TYPES) >= 64:
        _LABS_TYPES.clear()
    _LABS_TYPES[id(kb)] = (kb, made)
    return made


@cache
def labs_type(labs: LabUnits) -> FactType:
    """The ``labs`` fact of a knowledge base: one number field per analyte (its own
    knowledge's: a site's own analyte can be read by its rules)."""
    return FactType("labs", False, {code: f("number", code, unit) for code, unit in labs},
                    "latest value of each lab, canonical units (implausible values withheld)")


def build_vitals(ctx: Context) -> None:
    """The vitals fact (one, empty without vitals); sets ``ctx.vitals``, ``vitals_fact``."""
    v = ctx.enc.vitals
    vitals: dict[str, Any] = {}
    if v is not None:
        bounds = ctx.kb.plausibility.vitals
        for name, unit, path in _MEASURED_PATHS:
            raw = getattr(v, name)
            if raw is None:
                vitals[name] = None
                continue
            # round_to(raw, 2) inline: a whole float is its own rounding
            value = raw if type(raw) is float and raw.is_integer() else round(raw, 2)
            bound = bounds.get(path)
            # within bounds (or without): kept, as plausible() keeps it; else withheld there
            vitals[name] = (value if bound is None or bound.low <= value <= bound.high
                            else plausible(ctx, path, value, unit))
        vitals.update(consciousness=v.consciousness, on_oxygen=v.on_oxygen,
                      glucose_context=v.glucose_context)
    ctx.vitals = vitals
    ctx.vitals_fact = ctx.fs.add(VITALS, "vitals", vitals)


def build_labs(ctx: Context) -> None:
    """The labs fact: the latest plausible result of each analyte, converted with the
    engine's knowledge (:mod:`cdss.derive.labs`); sets ``ctx.lab_values``. A laboratory
    glucose stands in for a visit without a point-of-care one."""
    fs, lab_values = ctx.fs, ctx.lab_values
    labs_fact_id = "labs#0"
    if not ctx.enc.labs:  # no results: an empty labs fact (as below, without the search)
        fs.add(_labs_type_of(ctx.kb), "labs", lab_values)
        return
    usable, unusable = labs.usable_labs(ctx.enc.labs, ctx.kb, fs)
    for code, result in labs.latest(usable, ctx.enc.time).items():
        # compared with its bounds in the fact's own number form
        i, bound = result.index, result.analyte.plausible
        value = round_to(result.value, FACT_DECIMALS)
        if bound is not None and not bound.low <= value <= bound.high:
            implausible(ctx, f"labs[{i}].value", value, bound.low, bound.high,
                        result.analyte.canonical, result.analyte.name)
            fs.missing[f"labs.{code}"] = (f"labs[{i}].value (implausible)",)
            continue
        lab_values[code] = value
        fs.field_paths[(labs_fact_id, code)] = f"labs[{i}].value"
    for code, path in unusable.items():
        if code not in lab_values:
            fs.missing.setdefault(f"labs.{code}", (path,))
    fs.add(_labs_type_of(ctx.kb), "labs", lab_values)
    if "glucose" in lab_values and "glucose" not in ctx.vitals_fact:
        # a laboratory glucose, when the visit has no point-of-care one: the glucose
        # rules read the visit's glucose (its timing stays as recorded, or unknown)
        ctx.vitals_fact["glucose"] = lab_values["glucose"]
        fs.field_paths[(ctx.vitals_fact["id"], "glucose")] = fs.field_paths[(labs_fact_id,
                                                                              "glucose")]
