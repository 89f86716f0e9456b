"""Backends: where rule matches are found, behind one protocol (:class:`Backend`).

Backends are registered by name and imported only when one is created, so a process
that uses the ``python`` backend never imports durable-rules (an unmaintained C
extension that does not build on every platform: Python 3.13, gcc 14).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cdss.backends.base import Backend, Match, canonical_order, rule_order

if TYPE_CHECKING:
    from cdss.errors import RuleSpecError
    from cdss.rulelang import CompiledRule

#: name -> "module:class" of every registered backend
_REGISTRY: dict[str, str] = {
    "durable": "cdss.backends.durable.backend:DurableRules",
    "python": "cdss.backends.python.backend:PythonBackend",
    "compiled": "cdss.backends.compiled.backend:CompiledBackend",
}

__all__ = ["AUDIT_DEFAULT", "DEFAULT", "Backend", "Match", "canonical_order", "create", "names",
           "register", "rule_order", "validate_all"]

#: the backend of ``cdss.Engine()`` and ``cdss check``: the engine the rules are written
#: for, and the reference the other backends are tested against
DEFAULT = "durable"
#: the backend of ``cdss audit``: the same reports (differential tests), much faster
AUDIT_DEFAULT = "compiled"


def names() -> tuple[str, ...]:
    """Every registered backend name."""
    return tuple(_REGISTRY)


def register(name: str, target: str) -> None:
    """Register a backend class by ``"module:class"`` (imported on first use)."""
    if ":" not in target:
        raise ValueError(f"a backend is registered as 'module:class', got {target!r}")
    _REGISTRY[name] = target


def create(name: str) -> Backend:
    """A new backend of the named kind (imports its module on first use).

    :raises ValueError: if no backend of that name is registered.
    """
    target = _REGISTRY.get(name)
    if target is None:
        raise ValueError(f"backend must be one of {names()}, got {name!r}")
    module, _, cls = target.partition(":")
    backend: Backend = getattr(importlib.import_module(module), cls)()
    return backend


def validate_all(rules: Sequence[CompiledRule]) -> list[RuleSpecError]:
    """What any registered backend cannot run of ``rules`` (``cdss rules lint``: a pack
    must run on every backend)."""
    return [problem for name in names() for problem in create(name).validate(rules)]
