"""The facts rules can read: types, fields, and where each field comes from.

This is the contract between ``derive`` (which builds facts) and the rule compiler
(which refuses a rule that reads a field not declared here).
"""

from __future__ import annotations

from functools import cache

from cdss.derive.computed import derived_type
from cdss.derive.facttype import (
    FACT_DECIMALS,
    FACT_NUMBER_LIMIT,
    FactType,
    FieldSpec,
    Headline,
    Kind,
    fact_value,
)
from cdss.derive.followup import FOLLOWUP
from cdss.derive.measures import VITALS, LabUnits, lab_units, labs_type
from cdss.derive.patient import PATIENT
from cdss.derive.plausible import IMPLAUSIBLE
from cdss.derive.prescriptions import (
    ALLERGY_KEY,
    RX,
    RX_ALLERGEN,
    RX_HEPATIC,
    RX_KEY,
    RX_RENAL,
    RX_TOTAL,
)
from cdss.derive.rx_rules import RX_SKIN_TEST, RX_SLIPS, RX_TIER, SLIP
from cdss.derive.visit import CONDITION, ENCOUNTER, RECORD, SYMPTOM
from cdss.kb import KnowledgeBase

__all__ = ["FACT_DECIMALS", "FACT_NUMBER_LIMIT", "FactType", "FieldSpec", "Headline", "Kind",
           "LabUnits", "fact_types", "fact_value", "lab_units"]


def fact_types(kb: KnowledgeBase) -> dict[str, FactType]:
    """Every fact type and its fields for the knowledge ``kb`` (its analytes are the
    ``labs`` fact's fields, its score tables ``derived`` ones); built once per set of
    analytes and score tables."""
    return _fact_types(lab_units(kb), tuple(kb.scores))


@cache
def _fact_types(labs: LabUnits, scores: tuple[str, ...]) -> dict[str, FactType]:
    types = (PATIENT, VITALS, labs_type(labs), derived_type(scores), RECORD, ENCOUNTER, RX,
             RX_RENAL, RX_HEPATIC, RX_KEY, RX_ALLERGEN, ALLERGY_KEY, CONDITION, FOLLOWUP,
             SYMPTOM, IMPLAUSIBLE, RX_SLIPS, SLIP, RX_SKIN_TEST, RX_TIER, RX_TOTAL)
    return {t.name: t for t in types}
