"""The analyte catalogue that lab values and glucose are converted with: passed in.

The models do not read knowledge. :meth:`cdss.Encounter.parse` takes the analytes (each
accepted code, contract code or LOINC, mapped to its analyte) and hands them to the
validators through pydantic's validation context; an :class:`cdss.Engine` passes its own
knowledge's. Without one, the default provider is asked: the package sets it to the
bundled catalogue (``cdss/__init__.py``); with none at all, every lab code is unknown
(kept as sent, a note) and a glucose cannot be read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pydantic import ValidationInfo


class AnalyteLike(Protocol):
    """What the models read of an analyte (``cdss.kb.schema.Analyte``)."""

    code: str
    canonical: str
    molar_mass: float | None
    bare_ok: bool
    alt_units: Mapping[str, Any]
    name: Any


Analytes = Mapping[str, AnalyteLike]
#: where the analytes come from when a parse is given none (set by the package)
_default_provider: Callable[[], Analytes] | None = None


def set_default_provider(provider: Callable[[], Analytes] | None) -> None:
    """The catalogue used by a parse that is given none (the package's bundled one)."""
    global _default_provider
    _default_provider = provider


def analytes(info: ValidationInfo | None) -> Analytes:
    """The analytes of this validation: from its context, else the default provider."""
    context = info.context if info is not None else None
    if isinstance(context, dict) and context.get("analytes") is not None:
        return context["analytes"]
    return _default_provider() if _default_provider is not None else {}
