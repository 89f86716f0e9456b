"""Derived facts: pure functions from models + knowledge to flat, explained facts."""

from cdss.derive.facts import Fact, FactSet, build_facts
from cdss.derive.schema import FactType, FieldSpec, fact_types
from cdss.derive.values import Derived, Missing

__all__ = ["Derived", "Fact", "FactSet", "FactType", "FieldSpec", "Missing", "build_facts",
           "fact_types"]
