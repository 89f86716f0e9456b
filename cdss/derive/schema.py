"""The facts rules can read: types, fields, and where each field comes from.

This is the contract between ``derive`` (which builds facts) and the rule compiler
(which refuses a rule that reads a field not declared here). Each fact type is declared
beside its builder (:mod:`cdss.derive.patient`, :mod:`~cdss.derive.measures`, ...) and
every fact is made through its declaration (:meth:`FactType.make`), so the two cannot
drift; this module lists them. Numbers in facts have one normal form
(:func:`normal_number`: :data:`NUMBER_DECIMALS` decimals, never an exponent form).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from cdss.derive.computed import DERIVED
from cdss.derive.facttype import (
    NUMBER_DECIMALS,
    NUMBER_LIMIT,
    FactType,
    FieldSpec,
    Headline,
    Kind,
    normal_number,
)
from cdss.derive.followup import FOLLOWUP
from cdss.derive.measures import VITALS, labs_type
from cdss.derive.patient import PATIENT
from cdss.derive.plausible import IMPLAUSIBLE
from cdss.derive.prescriptions import (
    ALLERGY_KEY,
    RX,
    RX_ALLERGEN,
    RX_HEPATIC,
    RX_KEY,
    RX_RENAL,
)
from cdss.derive.visit import CONDITION, ENCOUNTER, RECORD, SYMPTOM
from cdss.kb.schema import Analyte

__all__ = ["NUMBER_DECIMALS", "NUMBER_LIMIT", "FactType", "FieldSpec", "Headline", "Kind",
           "fact_types", "normal_number"]


def fact_types(analytes: Mapping[str, Analyte] | None = None) -> dict[str, FactType]:
    """Every fact type and its fields; the ``labs`` fields are the analytes of
    ``analytes`` (a knowledge base's), by default of the bundled knowledge."""
    if analytes is None:
        return _bundled()
    return _types(labs_type(analytes))


@cache
def _bundled() -> dict[str, FactType]:
    from cdss.kb.analytes import analyte_table

    return _types(labs_type({a.code: a for a in analyte_table().analytes}))


def _types(labs: FactType) -> dict[str, FactType]:
    types = (PATIENT, VITALS, labs, DERIVED, RECORD, ENCOUNTER, RX, RX_RENAL, RX_HEPATIC,
             RX_KEY, RX_ALLERGEN, ALLERGY_KEY, CONDITION, FOLLOWUP, SYMPTOM, IMPLAUSIBLE)
    return {t.name: t for t in types}
