"""Helpers for testing rules and integrations against ``cdss`` (see :mod:`.strategies`)."""

from cdss.testing.strategies import (
    CONDITION_CODES,
    DIMENSIONS,
    FREQUENCY_CODES,
    LAB_CODES,
    drug_names,
    encounters,
    labs,
    patients,
    prescriptions,
    quantities,
    records,
    vital_signs,
)

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
