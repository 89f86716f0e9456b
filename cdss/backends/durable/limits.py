"""durable-rules' own limits on a compiled rule set: what it would crash, hang or
silently misbehave on (reference notes, "Hazards"), found before any patient is seen.

The per-condition limits (patterns per rule, alternatives, identical, sibling and
simultaneous conditions, exponent floats) are checked by emitting (``emit.py``); the
limits of durable's regex automaton are checked here on the portable patterns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from cdss.backends.durable import emit
from cdss.errors import RuleSpecError
from cdss.rulelang import ir

if TYPE_CHECKING:
    from cdss.rulelang import CompiledRule

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


def validate(rules: Sequence[CompiledRule]) -> list[RuleSpecError]:
    """Every rule durable-rules could not run safely, then the rule set as a whole (a
    set past durable-rules' per-fact limits is not a problem: the backend splits it
    into rulesets within them; only a rule past them on its own is)."""
    problems: list[RuleSpecError] = []
    fit: list[CompiledRule] = []
    for rule in rules:
        try:
            for p in rule.patterns:
                for leaf in ir.leaves(p.condition):
                    if isinstance(leaf, ir.Matches):
                        where = f"when.{p.name}: {p.fact_type}.{leaf.field} matches"
                        check_regex(leaf.pattern, where)
            emit.emit_rule(rule.patterns, rule.action, f"{rule.file} rule '{rule.id}'")
        except emit.LimitProblem as exc:
            problems.append(RuleSpecError(rule.file, rule.id, str(exc)))
            continue
        fit.append(rule)
    if fit:
        try:  # a set past the per-fact limits is split into several rulesets
            emit.partition([(r.id, r.patterns) for r in fit])
        except emit.LimitProblem as exc:
            problems.append(RuleSpecError(pack_folder(fit), None, str(exc)))
    return problems


def pack_folder(rules: Sequence[CompiledRule]) -> str:
    """The rules folder of a pack, as its rules name their files (``rules/<category>/
    <name>.yaml``): where a problem of the whole pack is reported."""
    return PurePosixPath(rules[0].file).parts[0] if rules else "rules"


def check_regex(pattern: str, where: str) -> None:
    """Raise LimitProblem if ``pattern`` (portable syntax, already checked by
    ``cdss.rulelang.regex``) is past the limits of durable's regex automaton."""
    if len(pattern) > MAX_LENGTH:
        raise emit.LimitProblem(f"{where}: {len(pattern)} characters; at most {MAX_LENGTH} "
                                "(see docs/rule-language.md, Limits)")
    repeats, deepest = _shape(pattern)
    if repeats > MAX_REPEATS:
        raise emit.LimitProblem(f"{where}: {repeats} repetition operators (* + ? {{m,n}}); "
                                f"at most {MAX_REPEATS} (durable-rules' automaton grows "
                                "exponentially with them)")
    if deepest > MAX_GROUP_DEPTH:
        raise emit.LimitProblem(f"{where}: groups nested {deepest} deep; at most "
                                f"{MAX_GROUP_DEPTH}")
    for m in re.finditer(r"\{(\d*),?(\d*)\}", pattern):
        hi = m.group(2) or m.group(1)
        if hi and int(hi) > MAX_REPETITION:
            raise emit.LimitProblem(f"{where}: repetition bounds above {{0,{MAX_REPETITION}}} "
                                    "are not supported")


def _shape(pattern: str) -> tuple[int, int]:
    """(repetition operators, deepest group nesting), skipping ``%x`` escapes and the
    inside of ``[...]`` classes."""
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
    return repeats, deepest
