"""Portable regular expressions: the subset both durable-rules and Python agree on.

Rule files write patterns in durable-rules' Lua-like syntax (``%.`` escapes a
dot, ``%d`` is a digit). Only ASCII is allowed: a CJK range crashes
durable-rules at registration (hazard 2 of the reference notes).
"""

from __future__ import annotations

import re
from functools import lru_cache

#: durable-rules supports regex repetition intervals up to {0,100}
MAX_REPETITION = 100
#: characters in one pattern: durable-rules refuses 8,000 (error 503) and builds its
#: automaton at registration, so long patterns cost start-up time
MAX_LENGTH = 200
#: repetition operators (``* + ? {m,n}``) in one pattern: durable-rules builds a DFA
#: whose size grows exponentially with them (``a.*`` x 12: 61 ms to register, x 16:
#: error 504; ``.*`` x 127: segfault; measured here)
MAX_REPEATS = 6
#: nesting of ``( )`` groups: 127 nested groups segfault durable-rules (measured here)
MAX_GROUP_DEPTH = 4

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
    if len(pattern) > MAX_LENGTH:
        raise RegexProblem(f"{len(pattern)} characters; at most {MAX_LENGTH} (see "
                           "docs/rule-language.md, Limits)")
    repeats, _depth, deepest = _shape(pattern)
    if repeats > MAX_REPEATS:
        raise RegexProblem(f"{repeats} repetition operators (* + ? {{m,n}}); at most "
                           f"{MAX_REPEATS} (durable-rules' automaton grows exponentially "
                           "with them)")
    if deepest > MAX_GROUP_DEPTH:
        raise RegexProblem(f"groups nested {deepest} deep; at most {MAX_GROUP_DEPTH}")
    for m in re.finditer(r"\{(\d*),?(\d*)\}", pattern):
        hi = m.group(2) or m.group(1)
        if hi and int(hi) > MAX_REPETITION:
            raise RegexProblem("repetition bounds above {0,100} are not supported")
    to_python(pattern)


def _shape(pattern: str) -> tuple[int, int, int]:
    """(repetition operators, final group depth, deepest group nesting), skipping
    ``%x`` escapes and the inside of ``[...]`` classes."""
    repeats = depth = deepest = 0
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "%":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]":  # "[]...]": a literal ] first
                i += 1
        elif ch in "*+?{":
            repeats += 1
        elif ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
        i += 1
    return repeats, depth, deepest


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
