"""Compiled code on disk, so that start-up does not pay the compile: the code objects of
:mod:`cdss._cache` (one file per key: a digest of the rules, the knowledge, the generator
and the Python version)."""

from __future__ import annotations

from types import CodeType

from cdss import _cache
from cdss._cache import CACHE_ENV, cache_dir, file_key

__all__ = ["CACHE_ENV", "cache_dir", "file_key", "load", "store"]


def load(key: str) -> CodeType | None:
    """The code stored under ``key``, or None (absent, unreadable, not code)."""
    code = _cache.load(key)
    return code if isinstance(code, CodeType) else None


def store(key: str, code: CodeType) -> None:
    """Write ``code`` under ``key`` (atomically); silently nothing if it cannot."""
    _cache.store(key, code)
