"""The analyte catalogue (lab codes, canonical units, molar masses, plausibility).

A leaf module that depends only on files. The models do not import it: the package
makes :func:`analytes_by_code` the models' default catalogue (``cdss/__init__.py``), and
an engine passes its own knowledge's (:func:`by_code`).
"""

from __future__ import annotations

from collections.abc import Iterable
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


def by_code(analytes: Iterable[Analyte]) -> dict[str, Analyte]:
    """Every accepted code (contract code or LOINC) of ``analytes`` mapped to its analyte."""
    index: dict[str, Analyte] = {}
    for analyte in analytes:
        index[analyte.code] = analyte
        for loinc in analyte.loinc:
            index[loinc] = analyte
    return index


@cache
def analytes_by_code() -> dict[str, Analyte]:
    """The bundled catalogue by code (see :func:`by_code`)."""
    return by_code(analyte_table().analytes)


@cache
def plausibility_table(path: Path | None = None) -> PlausibilityTable:
    """Load and validate ``knowledge/plausibility.yaml``."""
    path = path or knowledge_dir() / "plausibility.yaml"
    return validate(PlausibilityTable, read_yaml(path), path)
