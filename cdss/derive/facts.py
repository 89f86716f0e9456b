"""Build the flat facts the rules read, from a parsed encounter and the knowledge.

Every fact is a dict with a type ``t``, an ``id`` and only the fields that are
known: an absent value is left out, never filled with a "normal" default. Values
outside their plausibility bounds are withheld and become ``implausible`` facts.
Each fact type has its builder beside its declaration; :data:`BUILDERS` runs them in
order, each reading what the earlier ones left in the :class:`Context`.
"""

from __future__ import annotations

from collections.abc import Callable

from cdss.derive import (
    computed,
    followup,
    measures,
    patient,
    prescriptions,
    rx_rules,
    visit,
)
from cdss.derive.factset import Context, FactSet
from cdss.derive.facttype import FACT_DECIMALS, FACT_NUMBER_LIMIT, Fact, fact_value
from cdss.derive.patient import consistent
from cdss.derive.prescriptions import KNOWLEDGE_RX_FIELDS, PAIRED_PER_KEY
from cdss.kb import KnowledgeBase
from cdss.models import Encounter

__all__ = ["BUILDERS", "FACT_DECIMALS", "FACT_NUMBER_LIMIT", "KNOWLEDGE_RX_FIELDS",
           "PAIRED_PER_KEY", "Context", "Fact", "FactSet", "build_facts", "consistent",
           "fact_value"]

#: the fact builders, in the order their facts are made (a later one reads what an
#: earlier one worked out: the age, the plausible vitals and labs, the problem groups)
BUILDERS: tuple[Callable[[Context], None], ...] = (
    patient.build,                      # patient (and implausible weight or height)
    measures.build_vitals,              # vitals
    measures.build_labs,                # labs
    computed.build,                     # derived
    visit.build_record,                 # record
    visit.build_encounter,              # encounter
    followup.build,                     # followup
    visit.build_symptoms,               # symptom
    visit.build_conditions,             # condition
    prescriptions.build_prescriptions,  # rx, rx_key, rx_renal, rx_hepatic
    prescriptions.build_allergies,      # allergy_key, rx_allergen
    rx_rules.build,                     # rx_slips, slip, rx_skin_test, rx_tier
)


def build_facts(enc: Encounter, kb: KnowledgeBase) -> FactSet:
    """All facts of ``enc``; pure (the encounter is not modified)."""
    ctx = Context(enc, kb)
    for build in BUILDERS:
        build(ctx)
    return ctx.fs
