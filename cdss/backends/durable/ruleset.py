"""The durable-rules ruleset of a compiled rule set: every rule emitted, plus the
sentinel rule the host needs to delete states safely."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cdss.backends.durable import emit

if TYPE_CHECKING:
    from cdss.rulelang import CompiledRule

#: fact type of the sentinel fact asserted first in every state (see ``host.py``)
SENTINEL_TYPE = "__sentinel__"
#: action of the no-op rule the sentinel fact fires: deleting a state in which no
#: action ever started segfaults durable-rules (hazard 1 of the reference notes)
SENTINEL_ACTION = "__sentinel__"


def emit_ruleset(rules: Sequence[CompiledRule]) -> tuple[str, dict[str, Any]]:
    """The ruleset's name (a hash of its content: the same rules register once per
    process) and its durable-rules body, the sentinel rule first."""
    body: dict[str, Any] = {
        SENTINEL_ACTION: {"all": [{"m": {"t": SENTINEL_TYPE}}], "run": SENTINEL_ACTION}}
    for rule in rules:
        body[rule.action] = emit.emit_rule(rule.patterns, rule.action, rule.id)
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    return f"cdss_{digest}", body
