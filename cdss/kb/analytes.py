"""The bundled analyte and plausibility tables, read on their own (without the rest of
the knowledge) for the fact catalogue's defaults and synthetic data. An engine reads
its own knowledge's tables (:attr:`cdss.kb.KnowledgeBase.analyte_index`)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from cdss._resources import knowledge_dir
from cdss.kb._files import read_yaml, validate
from cdss.kb.schema import AnalyteTable, PlausibilityTable


@cache
def analyte_table(path: Path | None = None) -> AnalyteTable:
    """Load and validate ``knowledge/analytes.yaml``."""
    path = path or knowledge_dir() / "analytes.yaml"
    return validate(AnalyteTable, read_yaml(path), path)


@cache
def plausibility_table(path: Path | None = None) -> PlausibilityTable:
    """Load and validate ``knowledge/plausibility.yaml``."""
    path = path or knowledge_dir() / "plausibility.yaml"
    return validate(PlausibilityTable, read_yaml(path), path)
