"""The analyte catalogue (lab codes, canonical units, molar masses, plausibility).

A leaf module: the models read it at validation, so it depends only on files.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from cdss._resources import knowledge_dir
from cdss.kb._files import read_yaml, validate
from cdss.kb.schema import Analyte, AnalyteTable, PlausibilityTable


@cache
def analyte_table(path: Path | None = None) -> AnalyteTable:
    """Load and validate ``knowledge/analytes.yaml``."""
    path = path or knowledge_dir() / "analytes.yaml"
    return validate(AnalyteTable, read_yaml(path), path)


@cache
def analytes_by_code() -> dict[str, Analyte]:
    """Every accepted code (contract code or LOINC) mapped to its analyte."""
    index: dict[str, Analyte] = {}
    for analyte in analyte_table().analytes:
        index[analyte.code] = analyte
        for loinc in analyte.loinc:
            index[loinc] = analyte
    return index


@cache
def plausibility_table(path: Path | None = None) -> PlausibilityTable:
    """Load and validate ``knowledge/plausibility.yaml``."""
    path = path or knowledge_dir() / "plausibility.yaml"
    return validate(PlausibilityTable, read_yaml(path), path)
