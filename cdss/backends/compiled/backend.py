"""The ``compiled`` backend: the rule set as one generated Python module (the audit's
default: same reports as durable-rules, a fraction of the time)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from types import CodeType
from typing import TYPE_CHECKING, Any

from cdss.backends.base import Fact, Match
from cdss.backends.compiled import cache
from cdss.backends.compiled.codegen import module_source

if TYPE_CHECKING:
    from cdss.errors import RuleSpecError
    from cdss.rulelang import CompiledRule, RuleSet

#: a digest of the code generator itself: changing it makes every cached module stale
_GENERATOR = hashlib.sha256(b"".join(
    (Path(__file__).parent / name).read_bytes() for name in ("codegen.py", "backend.py"))
).hexdigest()


class CompiledBackend:
    """Matches found by the module generated for the rule set (``codegen.py``); its
    code is cached on disk by the rule set's key when the engine gives one."""

    name = "compiled"

    def __init__(self) -> None:
        self._run: Callable[[list[Fact]], list[Match]] | None = None
        #: where the code came from: "cache" or "compiled" (for tests and benchmarks)
        self.origin = ""

    def validate(self, rules: Sequence[CompiledRule]) -> list[RuleSpecError]:
        return []  # the rule language's own limits are all it has

    def prepare(self, ruleset: RuleSet, key: str | None = None) -> None:
        actions = tuple(rule.action for rule in ruleset.rules)
        name = (cache.file_key(key, _GENERATOR, ",".join(actions)) if key is not None
                else None)
        code = cache.load(name) if name is not None else None
        namespace = _load(code, actions) if code is not None else None
        self.origin = "cache"
        if namespace is None:
            code = _compile(ruleset.rules)
            namespace = _load(code, actions)
            self.origin = "compiled"
            if namespace is None:
                raise RuntimeError("the generated module does not name the rules it was "
                                   "generated from")  # a bug of codegen.py, never data
            if name is not None:
                cache.store(name, code)
        self._run = namespace["run"]

    def run(self, facts: list[Fact]) -> list[Match]:
        if self._run is None:
            raise RuntimeError("prepare() a rule set before run()")
        return self._run(facts)


def _load(code: CodeType, actions: tuple[str, ...]) -> dict[str, Any] | None:
    """The namespace of the module ``code``, if it was generated for ``actions``."""
    namespace: dict[str, Any] = {"__name__": "cdss.backends.compiled.generated"}
    try:
        exec(code, namespace)  # our own generated code: every literal is repr'd
    except Exception:  # a stale or damaged cache entry: compile again
        return None
    return namespace if namespace.get("ACTIONS") == actions else None


def _compile(rules: Sequence[CompiledRule]) -> CodeType:
    return compile(module_source(rules), "<cdss compiled rules>", "exec")
