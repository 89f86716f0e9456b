"""What a backend is: the one seam between the engine and whatever finds rule matches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cdss.errors import RuleSpecError
    from cdss.rulelang import CompiledRule, RuleSet

#: one match: (action name of the rule, {pattern name: fact id})
Match = tuple[str, dict[str, str]]
Fact = dict[str, Any]


class Backend(Protocol):
    """Finds every match of a compiled rule set over one encounter's facts.

    The engine calls :meth:`validate` on the compiled rules (a non-empty answer stops
    the build; ``cdss rules lint`` lists it), then :meth:`prepare` once, then
    :meth:`run` per encounter, possibly from several threads.
    """

    #: the name it is registered under (``cdss.backends.names()``)
    name: str

    def validate(self, rules: Sequence[CompiledRule]) -> list[RuleSpecError]:
        """Every rule, or combination of rules, that this backend cannot run safely."""
        ...

    def prepare(self, ruleset: RuleSet, key: str | None = None) -> None:
        """Make ``ruleset`` ready to run (compile, register); called once, after a
        :meth:`validate` that found nothing. ``key``: a digest of what the rule set was
        built from (version, rules, knowledge), under which a backend may cache its
        compiled form.

        :raises cdss.RuleSpecError: if the backend refuses the rule set all the same.
        """
        ...

    def run(self, facts: list[Fact]) -> list[Match]:
        """Every match over ``facts``, in :func:`canonical_order`.

        :raises cdss.RuleEvaluationError: if matching fails (never silently).
        """
        ...


def rule_order(rules: Sequence[CompiledRule]) -> dict[str, int]:
    """Each rule's action -> its place in file order (for :func:`canonical_order`)."""
    return {rule.action: n for n, rule in enumerate(rules)}


def canonical_order(matches: Iterable[Match], order: Mapping[str, int]) -> list[Match]:
    """``matches`` by rule (``order``: :func:`rule_order`), then by the ids of the
    matched facts: the one order every backend reports, so reports do not depend on
    the backend."""
    return sorted(matches, key=lambda m: (order[m[0]], sorted(m[1].items())))
