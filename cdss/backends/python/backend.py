"""The ``python`` backend: the compiled IR evaluated in Python (no engine state; fast)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cdss.backends.base import Fact, Match
from cdss.backends.python.matcher import PythonMatcher

if TYPE_CHECKING:
    from cdss.errors import RuleSpecError
    from cdss.rulelang import CompiledRule, RuleSet


class PythonBackend:
    """Every match found by :class:`PythonMatcher`, already in canonical order."""

    name = "python"

    def __init__(self) -> None:
        self._matcher: PythonMatcher | None = None

    def validate(self, rules: Sequence[CompiledRule]) -> list[RuleSpecError]:
        return []  # the rule language's own limits are all it has

    def prepare(self, ruleset: RuleSet, key: str | None = None) -> None:
        self._matcher = PythonMatcher(ruleset.rules)

    def run(self, facts: list[Fact]) -> list[Match]:
        if self._matcher is None:
            raise RuntimeError("prepare() a rule set before run()")
        return self._matcher.run(facts)
