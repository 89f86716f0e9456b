"""What the models read of the knowledge, passed in: the analyte catalogue (lab values
and glucose are converted with it) and the words of prescriptions (frequencies, routes).

The models do not read knowledge. :meth:`cdss.Encounter.parse` takes both and hands them
to the validators through pydantic's validation context; an :class:`cdss.Engine` passes
its own knowledge's. Without them, the default providers are asked: the package sets
them to the bundled knowledge (``cdss/__init__.py``); with none at all, every lab code
is unknown (kept as sent, a note), a glucose cannot be read, and no frequency word is
known (``{"times_per_day": N}`` still is).
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


class WordsLike(Protocol):
    """What the models read of the prescribing words (``cdss.kb.schema.PrescribingWords``)."""

    frequencies: Mapping[str, float | None]
    routes: Mapping[str, str]


Analytes = Mapping[str, AnalyteLike]
#: where the analytes and words come from when a parse is given none (set by the package)
_default_provider: Callable[[], Analytes] | None = None
_default_words: Callable[[], WordsLike] | None = None


def set_default_provider(provider: Callable[[], Analytes] | None,
                         words: Callable[[], WordsLike] | None = None) -> None:
    """The catalogue and words used by a parse that is given none (the package's)."""
    global _default_provider, _default_words
    _default_provider, _default_words = provider, words


def words(info: ValidationInfo | None) -> WordsLike | None:
    """The prescribing words of this validation: from its context, else the default."""
    context = info.context if info is not None else None
    if isinstance(context, dict) and context.get("words") is not None:
        return context["words"]
    return _default_words() if _default_words is not None else None


def analytes(info: ValidationInfo | None) -> Analytes:
    """The analytes of this validation: from its context, else the default provider."""
    context = info.context if info is not None else None
    if isinstance(context, dict) and context.get("analytes") is not None:
        return context["analytes"]
    return _default_provider() if _default_provider is not None else {}
