"""What the facts of an encounter join from the knowledge, worked out once per knowledge
base (issue #17), not once per encounter.

A table lives in :attr:`KnowledgeBase.memo <cdss.kb.base.KnowledgeBase.memo>`, so it
goes with the knowledge it was read from. Its keys are knowledge ids (a drug's, a
product's) and vocabulary codes, never an input's free text; an entry of a drug keeps the
drug it was made from and is used only for that very object (a drug of another
knowledge base with the same id is worked out afresh). Every table is bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from cdss.kb import KnowledgeBase

T = TypeVar("T")

#: entries a table keeps at most (a knowledge base has a few hundred drugs); past this
#: many the table is emptied and filled again
KEPT = 4096


def table(kb: KnowledgeBase, name: str) -> dict[Any, Any]:
    """The memo table ``name`` of ``kb``."""
    memo = kb.memo
    found = memo.get(name)
    if found is None:
        found = memo[name] = {}
    return found


def per_object(kb: KnowledgeBase, name: str, key: Hashable, objs: tuple[object, ...],
               make: Callable[[], T]) -> T:
    """``make()`` for the knowledge objects ``objs`` (a drug, a product) known as ``key``,
    worked out once: a later call with the same key reuses it when its objects are the
    same ones (or equal: the answer reads only their values)."""
    try:
        found = kb.memo[name][key]
    except KeyError:
        pass
    else:
        if found[0] == objs:
            return found[1]  # type: ignore[no-any-return]
    memo = table(kb, name)
    value = make()
    if len(memo) >= KEPT:
        memo.clear()
    memo[key] = (objs, value)
    return value
