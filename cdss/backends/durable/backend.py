"""The ``durable`` backend: durable-rules finds the matches (the default backend)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cdss.backends.base import Fact, Match, canonical_order, rule_order
from cdss.backends.durable import limits
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
        #: the durable ruleset's name (a hash of its body; see ``ruleset.py``)
        self.ruleset_name = ""

    def validate(self, rules: Sequence[CompiledRule]) -> list[RuleSpecError]:
        return limits.validate(rules)

    def prepare(self, ruleset: RuleSet, key: str | None = None) -> None:
        name, body = emit_ruleset(ruleset.rules)
        self._host = DurableHost.instance()
        try:
            self._host.register(name, body)
        except Exception as exc:  # a raw durable-rules error: the pack is at fault
            raise RuleSpecError(limits.pack_folder(ruleset.rules), None, "durable-rules "
                                f"refused the rule set: {type(exc).__name__}: {exc}") from None
        self._order, self.ruleset_name = rule_order(ruleset.rules), name

    def run(self, facts: list[Fact]) -> list[Match]:
        return canonical_order(self.host.run(self.ruleset_name, facts), self._order)

    @property
    def host(self) -> DurableHost:
        """The process-wide host (for tests and the soak benchmark: live states)."""
        if self._host is None:
            raise RuntimeError("prepare() a rule set before run()")
        return self._host
