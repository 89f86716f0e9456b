"""The backend-neutral intermediate representation of rule conditions.

Conditions are lowered to these nodes once, checked against the fact schema, and
then emitted for durable-rules (``compile.py``) or evaluated in Python with
three-valued logic (``evaluate.py``). The node class name is its op.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

Scalar = Union[str, int, float, bool]  # noqa: UP007  (used at runtime in isinstance)


@dataclass(frozen=True)
class Value:
    """A literal operand."""

    value: Any


@dataclass(frozen=True)
class SameFact:
    """Another field of the same fact (``{field: max_daily}``)."""

    field: str


@dataclass(frozen=True)
class Ref:
    """A field of a fact bound by an earlier pattern (``{ref: rx.index}``)."""

    pattern: str
    field: str


Operand = Union[Value, SameFact, Ref]  # noqa: UP007

COMPARISONS = ("eq", "ne", "gt", "gte", "lt", "lte")


@dataclass(frozen=True)
class Compare:
    op: str
    field: str
    operand: Operand


@dataclass(frozen=True)
class InList:
    field: str
    values: tuple[Scalar, ...]
    negate: bool = False


@dataclass(frozen=True)
class Contains:
    """A list field contains (or, negated, does not contain) a value."""

    field: str
    value: Scalar
    negate: bool = False


@dataclass(frozen=True)
class Matches:
    """Full match of a string field against a portable regular expression."""

    field: str
    pattern: str


@dataclass(frozen=True)
class Exists:
    field: str
    present: bool = True


@dataclass(frozen=True)
class All:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Any_:
    children: tuple[Node, ...]


Node = Union[Compare, InList, Contains, Matches, Exists, All, Any_]  # noqa: UP007


@dataclass(frozen=True)
class Pattern:
    """Bind one fact of ``fact_type`` satisfying ``condition`` to ``name``."""

    name: str
    fact_type: str
    condition: Node | None


def leaves(node: Node | None):
    """Every leaf (non-combinator) node, depth first."""
    if node is None:
        return
    if isinstance(node, All | Any_):
        for child in node.children:
            yield from leaves(child)
    else:
        yield node


def fields_read(node: Node | None) -> set[str]:
    """Fields of its own fact that a condition reads."""
    out: set[str] = set()
    for leaf in leaves(node):
        out.add(leaf.field)
        if isinstance(leaf, Compare) and isinstance(leaf.operand, SameFact):
            out.add(leaf.operand.field)
    return out
