"""The ``derived`` fact: values computed from the encounter, each with its derivation."""

from __future__ import annotations

import math
from functools import cache
from typing import Any

from cdss.derive import body, joins, renal, scores
from cdss.derive.factset import Context
from cdss.derive.facttype import FactType, FieldSpec
from cdss.derive.facttype import field as f
from cdss.derive.values import Derived, Missing

#: the derived fields besides one per score table of the knowledge
_FIELDS: dict[str, FieldSpec] = {
    "bmi": f("number", "bmi", "kg/m²"),
    "egfr": f("number", "egfr", "mL/min/1.73m²"),
    "egfr_rounded": f("number", "egfr", "mL/min/1.73m²",
                      description="eGFR rounded to an integer, as labs report it "
                                  "(KDIGO categories use integers)"),
    "crcl": f("number", "crcl", "mL/min"),
    "news2": f("number", "news2", description="complete NEWS2 (all 7 parameters)"),
    "news2_lower_bound": f("number", "news2", description=(
        "sum of the parameters measured: NEWS2 itself when complete, else the "
        "least it can be")),
    "news2_params_missing": f("number", "news2"),
    "news2_max_param": f("number", "news2",
                         description="highest single-parameter score measured"),
    "qsofa": f("number", "qsofa"),
    "qsofa_lower_bound": f("number", "qsofa", description=(
        "sum of the qSOFA parameters measured: qSOFA itself when complete, else the "
        "least it can be")),
    "crb65": f("number", "crb65", description="CURB-65 without urea"),
    "curb65": f("number", "curb65", description="CRB-65 plus urea"),
}


@cache
def derived_type(scores: tuple[str, ...]) -> FactType:
    """The ``derived`` fact of a knowledge base whose score tables are ``scores``:
    one field per table (knowledge/scores/*.yaml; the bundled ones keep their
    descriptions above), then the others."""
    return FactType("derived", False, {
        **{name: f("number", name, description=f"the {name} score table") for name in scores},
        **_FIELDS}, "values computed from the encounter (each keeps its derivation)")


def build(ctx: Context) -> None:
    """The derived fact; each value's derivation kept in ``fs.derived``, each value that
    cannot be computed in ``fs.missing`` with the inputs it lacks."""
    values: dict[str, Any] = {}
    parts: dict[str, dict[str, int]] = {}
    missing = ctx.fs.missing
    for name, result in _computed(ctx, parts).items():
        if isinstance(result, Missing):
            # an input withheld as implausible is named as such (the paths as they are
            # when none is: most often)
            paths = result.missing
            missing[f"derived.{name}"] = paths if missing.keys().isdisjoint(paths) else tuple(
                m for path in paths for m in missing.get(path, (path,)))
            continue
        ctx.fs.derived[name] = result
        values[name] = result.value
    _egfr_rounded(ctx, values)
    _news2_bounds(ctx, values, parts)
    _qsofa_bound(ctx, values, parts)
    kb = ctx.kb
    ctx.fs.add(joins.per_object(kb, "derived_type", "", (tuple(kb.scores),),
                                lambda: derived_type(tuple(kb.scores))), "derived", values)


def _computed(ctx: Context, parts: dict[str, dict[str, int]]
              ) -> dict[str, Derived | Missing]:
    """BMI, kidney function and every score table of the knowledge, from the plausible
    values: a table's parameters name their inputs (a vital sign, ``age``,
    ``labs.<code>``). ``parts`` gets the parameter scores of each complete table
    (each parameter banded once: the lower bounds below reuse them)."""
    kb, labs, age, sex = ctx.kb, ctx.lab_values, ctx.age, ctx.enc.patient.sex
    formulas = kb.formulas
    derived: dict[str, Derived | Missing] = {
        "bmi": body.bmi(ctx.weight, ctx.height, formulas["bmi"].source.title),
        "egfr": renal.egfr_ckd_epi_2021(labs.get("creatinine"), age, sex,
                                        formulas["ckd_epi_2021"]),
        "crcl": renal.crcl_cockcroft_gault(labs.get("creatinine"), age, ctx.weight, sex,
                                           formulas["cockcroft_gault"]),
    }
    inputs = {**ctx.vitals, "age": age, **{f"labs.{k}": v for k, v in labs.items()}}
    for name, table in kb.scores.items():
        derived[name] = result = scores.band_score(table, inputs)
        if isinstance(result, Derived):
            parts[name] = result.parts
    return derived


def _egfr_rounded(ctx: Context, values: dict[str, Any]) -> None:
    """eGFR as an integer, half up from the unrounded value, as a laboratory reports it
    (Python's round() would send 44.5 to 44 and round 44.54 twice)."""
    if "egfr" in values:
        unrounded = ctx.fs.derived["egfr"].parts["unrounded"]
        values["egfr_rounded"] = float(math.floor(unrounded + 0.5))
    else:
        ctx.fs.missing["derived.egfr_rounded"] = ctx.fs.missing["derived.egfr"]


def _news2_bounds(ctx: Context, values: dict[str, Any], parts: dict[str, dict[str, int]]
                  ) -> None:
    """The least NEWS2 can be from the parameters measured, how many are missing, and
    the highest single-parameter score."""
    partial = _lower_bound(ctx, "news2", parts)
    if partial:
        values.update(news2_lower_bound=float(sum(partial.values())),
                      news2_params_missing=len(ctx.kb.scores["news2"].parameters)
                      - len(partial),
                      news2_max_param=max(partial.values()))
    for name in ("news2_lower_bound", "news2_params_missing", "news2_max_param"):
        if name not in values:
            ctx.fs.missing[f"derived.{name}"] = ctx.fs.missing["derived.news2"]


def _qsofa_bound(ctx: Context, values: dict[str, Any], parts: dict[str, dict[str, int]]
                 ) -> None:
    """qSOFA from the parameters measured: 2 points already measured make it high risk
    whatever the missing one is (RR 24 and SBP 96 with consciousness not recorded)."""
    measured = _lower_bound(ctx, "qsofa", parts)
    if measured:
        values["qsofa_lower_bound"] = float(sum(measured.values()))
    else:
        ctx.fs.missing["derived.qsofa_lower_bound"] = ctx.fs.missing.get("derived.qsofa",
                                                                          ("vitals",))


def _lower_bound(ctx: Context, score: str, computed: dict[str, dict[str, int]]
                 ) -> dict[str, int]:
    """The scores of a band score's parameters that were measured (their sum is the least
    the score can be); when some are missing, the sum is kept as a derived value
    ``<score>_lower_bound`` with how it was computed. ``computed``: the parameter scores
    of the complete tables (:func:`_computed`), reused when the table reads only vitals
    (NEWS2 is banded once per encounter)."""
    table, vitals = ctx.kb.scores[score], ctx.vitals
    if score in computed and scores.reads_only_vitals(table):
        parts = computed[score]
    else:
        parts = scores.partial_band_score(table, vitals)
    n_missing = len(table.parameters) - len(parts)
    if parts and n_missing:
        ctx.fs.derived[f"{score}_lower_bound"] = Derived(
            f"{score}_lower_bound", float(sum(parts.values())),
            f"sum of the {len(parts)} parameter scores measured ({n_missing} missing)",
            {k: vitals.get(table.parameters[k].field) for k in parts},
            table.source.title, "", parts)
    return parts
