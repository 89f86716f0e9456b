"""The ``durable`` backend: durable-rules finds the matches (the default backend)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cdss.backends.base import Fact, Match, canonical_order, rule_order
from cdss.backends.durable import emit, limits
from cdss.backends.durable.host import DurableHost
from cdss.backends.durable.ruleset import emit_ruleset
from cdss.errors import RuleSpecError

if TYPE_CHECKING:
    from cdss.rulelang import CompiledRule, RuleSet


class DurableRules:
    """A compiled rule set registered in the process's one durable-rules host."""

    name = "durable"

    def __init__(self) -> None:
        self._host: DurableHost | None = None  # made by prepare (validate needs none)
        self._order: dict[str, int] = {}
        #: the durable rulesets' names (each a hash of its body; see ``ruleset.py``):
        #: one, unless the rules exceed durable-rules' per-fact limits together
        self.ruleset_names: tuple[str, ...] = ()

    @property
    def ruleset_name(self) -> str:
        """The first ruleset's name (the only one for a set within the limits)."""
        return self.ruleset_names[0] if self.ruleset_names else ""

    def validate(self, rules: Sequence[CompiledRule]) -> list[RuleSpecError]:
        return limits.validate(rules)

    def prepare(self, ruleset: RuleSet, key: str | None = None) -> None:
        rules = ruleset.rules
        try:
            parts = emit.partition([(r.id, r.patterns) for r in rules])
        except emit.LimitProblem as exc:
            raise RuleSpecError(limits.pack_folder(rules), None, str(exc)) from None
        self._host = DurableHost.instance()
        names = []
        for part in parts:
            chosen = [rules[i] for i in part]
            name, body = emit_ruleset(chosen)
            try:
                self._host.register(name, body, fields=emit.fields_by_type(
                    [r.patterns for r in chosen]))
            except Exception as exc:  # a raw durable-rules error: the pack is at fault
                raise RuleSpecError(limits.pack_folder(rules), None, "durable-rules "
                                    f"refused the rule set: {type(exc).__name__}: {exc}"
                                    ) from None
            names.append(name)
        self._order, self.ruleset_names = rule_order(rules), tuple(names)

    def run(self, facts: list[Fact]) -> list[Match]:
        if len(self.ruleset_names) == 1:
            return canonical_order(self.host.run(self.ruleset_names[0], facts), self._order)
        found = [m for name in self.ruleset_names for m in self.host.run(name, facts)]
        return canonical_order(found, self._order)

    @property
    def host(self) -> DurableHost:
        """The process-wide host (for tests and the soak benchmark: live states)."""
        if self._host is None:
            raise RuntimeError("prepare() a rule set before run()")
        return self._host
