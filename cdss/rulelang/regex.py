"""Portable regular expressions: the dialect of rule files, and its Python meaning.

Rule files write patterns in a Lua-like syntax (``%.`` escapes a dot, ``%d`` is a
digit), full match, ASCII only (a CJK range crashes durable-rules at registration:
hazard 2 of the reference notes). What a backend cannot run beyond the dialect (the
size of durable's regex automaton) is that backend's own limit, checked by its
``validate`` (``cdss.backends.durable.limits``).
"""

from __future__ import annotations

import re
from functools import lru_cache

_CLASSES = {"d": r"\d", "a": "[A-Za-z]", "s": r"\s", "w": "[A-Za-z0-9]", "u": "[A-Z]",
            "l": "[a-z]"}


class RegexProblem(ValueError):
    """A pattern that is not in the portable subset."""


def check(pattern: str) -> None:
    """Raise RegexProblem unless ``pattern`` is portable."""
    if not pattern.isascii():
        raise RegexProblem("regular expressions must be ASCII (a non-ASCII range crashes "
                           "durable-rules)")
    if "\\" in pattern:
        raise RegexProblem("use %x escapes (durable-rules syntax), not backslashes")
    to_python(pattern)


@lru_cache(maxsize=256)
def to_python(pattern: str) -> re.Pattern[str]:
    """The equivalent compiled Python pattern (full match)."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "%":
            if i + 1 >= len(pattern):
                raise RegexProblem("a pattern cannot end with %")
            nxt = pattern[i + 1]
            out.append(_CLASSES.get(nxt, re.escape(nxt)))
            i += 2
            continue
        out.append(ch)
        i += 1
    try:
        return re.compile("".join(out))
    except re.error as exc:
        raise RegexProblem(f"invalid pattern: {exc}") from None
