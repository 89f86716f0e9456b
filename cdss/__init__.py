"""cdss: explainable clinical decision support for primary care.

>>> import cdss
>>> report = cdss.check({"id": "e1", "time": "2026-11-20T09:30:00+08:00",
...                      "patient": {"id": "p1"}})
>>> report.suggestions
[]
"""

from __future__ import annotations

import threading

from cdss._version import __version__
from cdss.audit import AuditResult
from cdss.engine import EncounterInput, Engine
from cdss.errors import (
    CdssError,
    FieldProblem,
    InputError,
    KnowledgeError,
    RuleEvaluationError,
    RuleSpecError,
    SiteError,
)
from cdss.kb.analytes import analytes_by_code
from cdss.kb.prescribing import bundled_words
from cdss.lookup import LookupResult, Monograph
from cdss.models import Encounter
from cdss.models.catalogue import set_default_provider
from cdss.report import NotEvaluated, Report, Suggestion

# the catalogue and prescription words an Encounter.parse without an engine reads with
# (the models read no knowledge themselves: cdss.models.catalogue)
set_default_provider(analytes_by_code, bundled_words)

__all__ = [
    "AuditResult",
    "CdssError",
    "Encounter",
    "Engine",
    "FieldProblem",
    "InputError",
    "KnowledgeError",
    "LookupResult",
    "Monograph",
    "NotEvaluated",
    "Report",
    "RuleEvaluationError",
    "RuleSpecError",
    "SiteError",
    "Suggestion",
    "__version__",
    "check",
    "default_engine",
    "lookup",
]

_default: Engine | None = None
_default_lock = threading.Lock()


def default_engine() -> Engine:
    """The engine behind :func:`check`, built on first use with the bundled rules."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Engine()
        return _default


def lookup(query: str, *, lang: str | None = None) -> LookupResult:
    """Knowledge look-up with the default engine (see :meth:`Engine.lookup`)."""
    return default_engine().lookup(query, lang=lang)


def check(encounter: EncounterInput, *, lang: str | None = None) -> Report:
    """Check one encounter with the default engine (see :meth:`Engine.check`)."""
    return default_engine().check(encounter, lang=lang)
