"""Where the bundled rules/, knowledge/ and samples live.

In an installed wheel they sit under ``cdss/data/``; in a source checkout (or an
editable install) they are the top-level ``rules/`` and ``knowledge/`` folders.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_root() -> Path:
    """The folder holding ``rules/`` and ``knowledge/``."""
    bundled = _PACKAGE / "data"
    if (bundled / "rules").is_dir() and (bundled / "knowledge").is_dir():
        return bundled
    checkout = _PACKAGE.parent
    if (checkout / "rules").is_dir() and (checkout / "knowledge").is_dir():
        return checkout
    raise FileNotFoundError(
        f"cdss cannot find its rules/ and knowledge/ folders (looked in {bundled} and {checkout})"
    )


def rules_dir() -> Path:
    """The bundled rule files."""
    return data_root() / "rules"


def knowledge_dir() -> Path:
    """The bundled knowledge tables."""
    return data_root() / "knowledge"


def samples_dir() -> Path:
    """The bundled sample encounters used by ``cdss demo``."""
    return _PACKAGE / "samples"
