"""The backend-neutral intermediate representation of rule conditions.

Conditions are lowered to these nodes once (``parse.py``), checked against the fact
schema, and then evaluated with three-valued logic (``evaluate.py``), emitted for
durable-rules (``cdss.backends.durable.emit``) or compiled to Python
(``cdss.backends.python.matcher``). Each leaf names its operator
(:data:`cdss.rulelang.ops.OPERATORS`); code that treats node classes differently is a
:class:`Visitor`. Every node of a parsed rule has a stable ``id``: the path of the
clause inside the rule (``v`` is pattern ``v``'s condition, ``v/0/1`` the second
child of its first child), which evidence items point to.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, Union

from cdss.rulelang.ops import OPERATORS, Operator

Scalar = Union[str, int, float, bool]  # noqa: UP007  (used at runtime in isinstance)
R = TypeVar("R")


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


class Visitor(Generic[R]):
    """Does something per node class: ``visitor.visit(node, *args)`` calls
    ``visit_all``, ``visit_any``, ``visit_compare``, ``visit_in_list``,
    ``visit_contains``, ``visit_matches`` or ``visit_exists``. The leaf methods fall
    back to ``visit_leaf``, for visitors that treat every leaf alike through its
    operator; a visitor without a method for a node fails naming both."""

    def visit(self, node: Node, *args: Any) -> R:
        return node.accept(self, *args)

    def methods(self) -> dict[type, Callable[..., R]]:
        """This visitor's method for each node class, for hot loops:
        ``methods[type(node)](node, ...)`` is ``node.accept(self, ...)``, one look-up."""
        return {cls: getattr(self, name) for cls, name in VISIT_METHODS.items()}

    def visit_leaf(self, node: Leaf, *args: Any) -> R:
        raise NotImplementedError(f"{type(self).__name__} has no method for "
                                  f"{type(node).__name__} nodes")

    visit_all = visit_any = visit_leaf  # type: ignore[assignment]

    def visit_compare(self, node: Compare, *args: Any) -> R:
        return self.visit_leaf(node, *args)

    def visit_in_list(self, node: InList, *args: Any) -> R:
        return self.visit_leaf(node, *args)

    def visit_contains(self, node: Contains, *args: Any) -> R:
        return self.visit_leaf(node, *args)

    def visit_matches(self, node: Matches, *args: Any) -> R:
        return self.visit_leaf(node, *args)

    def visit_exists(self, node: Exists, *args: Any) -> R:
        return self.visit_leaf(node, *args)


class _Leaf:
    """What every leaf offers: its ``field``, its operator's name ``op``, the
    :class:`~cdss.rulelang.ops.Operator` itself and its ``argument``."""

    field: str
    op: str
    id: str
    operator: Operator

    def __post_init__(self) -> None:
        # NOTE: looked up once; the evaluator reads it for every clause of every fact
        object.__setattr__(self, "operator", OPERATORS[self.op])

    @property
    def argument(self) -> Any:
        """The operand as the operator's ``holds`` takes it, before ``prepare``."""
        raise NotImplementedError

    def literals(self) -> tuple[Any, ...]:
        """The literal values the clause compares its field with."""
        return ()

    def other_field(self, pattern: str) -> tuple[str, str] | None:
        """(pattern, field) of the field it compares with, if it compares with one."""
        return None

    def equalities(self) -> set[tuple[str, Any]]:
        """(field, literal) equalities every fact it is true for satisfies."""
        return set()


@dataclass(frozen=True)
class Compare(_Leaf):
    """``field <op> operand`` for the comparisons ``eq ne gt gte lt lte``."""

    op: str  # type: ignore[assignment]
    field: str
    operand: Operand
    id: str = dataclasses.field(default="", compare=False)

    @property
    def argument(self) -> Any:
        return self.operand.value if isinstance(self.operand, Value) else None

    def accept(self, visitor: Visitor[R], *args: Any) -> R:
        return visitor.visit_compare(self, *args)

    def literals(self) -> tuple[Any, ...]:
        return (self.operand.value,) if isinstance(self.operand, Value) else ()

    def other_field(self, pattern: str) -> tuple[str, str] | None:
        if isinstance(self.operand, Ref):
            return (self.operand.pattern, self.operand.field)
        if isinstance(self.operand, SameFact):
            return (pattern, self.operand.field)
        return None

    def equalities(self) -> set[tuple[str, Any]]:
        if self.op == "eq" and isinstance(self.operand, Value):
            return {(self.field, self.operand.value)}
        return set()


@dataclass(frozen=True)
class InList(_Leaf):
    field: str
    values: tuple[Scalar, ...]
    negate: bool = False
    id: str = dataclasses.field(default="", compare=False)

    @property
    def op(self) -> str:
        return "not_in" if self.negate else "in"

    @property
    def argument(self) -> Any:
        return self.values

    def accept(self, visitor: Visitor[R], *args: Any) -> R:
        return visitor.visit_in_list(self, *args)

    def literals(self) -> tuple[Any, ...]:
        return self.values


@dataclass(frozen=True)
class Contains(_Leaf):
    """A list field contains (or, negated, does not contain) a value."""

    field: str
    value: Scalar
    negate: bool = False
    id: str = dataclasses.field(default="", compare=False)

    @property
    def op(self) -> str:
        return "not_contains" if self.negate else "contains"

    @property
    def argument(self) -> Any:
        return self.value

    def accept(self, visitor: Visitor[R], *args: Any) -> R:
        return visitor.visit_contains(self, *args)

    def literals(self) -> tuple[Any, ...]:
        return (self.value,)


@dataclass(frozen=True)
class Matches(_Leaf):
    """Full match of a string field against a portable regular expression."""

    field: str
    pattern: str
    id: str = dataclasses.field(default="", compare=False)

    op = "matches"  # type: ignore[assignment]

    @property
    def argument(self) -> Any:
        return self.pattern

    def accept(self, visitor: Visitor[R], *args: Any) -> R:
        return visitor.visit_matches(self, *args)


@dataclass(frozen=True)
class Exists(_Leaf):
    field: str
    present: bool = True
    id: str = dataclasses.field(default="", compare=False)

    @property
    def op(self) -> str:
        return "exists" if self.present else "absent"

    @property
    def argument(self) -> Any:
        return None

    def accept(self, visitor: Visitor[R], *args: Any) -> R:
        return visitor.visit_exists(self, *args)


@dataclass(frozen=True)
class All:
    children: tuple[Node, ...]
    id: str = dataclasses.field(default="", compare=False)

    def accept(self, visitor: Visitor[R], *args: Any) -> R:
        return visitor.visit_all(self, *args)

    def equalities(self) -> set[tuple[str, Any]]:
        out: set[tuple[str, Any]] = set()
        for child in self.children:
            out |= child.equalities()
        return out


@dataclass(frozen=True)
class Any_:
    children: tuple[Node, ...]
    id: str = dataclasses.field(default="", compare=False)

    def accept(self, visitor: Visitor[R], *args: Any) -> R:
        return visitor.visit_any(self, *args)

    def equalities(self) -> set[tuple[str, Any]]:
        return set()  # one branch need not hold


Leaf = Union[Compare, InList, Contains, Matches, Exists]  # noqa: UP007
Node = Union[Compare, InList, Contains, Matches, Exists, All, Any_]  # noqa: UP007
#: the node classes by name, as the operator table names them
NODES: dict[str, type] = {cls.__name__: cls
                          for cls in (Compare, InList, Contains, Matches, Exists, All, Any_)}
#: the :class:`Visitor` method of each node class (what its ``accept`` calls)
VISIT_METHODS: dict[type, str] = {
    All: "visit_all", Any_: "visit_any", Compare: "visit_compare", InList: "visit_in_list",
    Contains: "visit_contains", Matches: "visit_matches", Exists: "visit_exists"}


@dataclass(frozen=True)
class Pattern:
    """Bind one fact of ``fact_type`` satisfying ``condition`` to ``name``."""

    name: str
    fact_type: str
    condition: Node | None


def with_ids(node: Node, path: str) -> Node:
    """``node`` and its descendants numbered by their path (``path``, ``path/0``...)."""
    children = getattr(node, "children", None)
    if children is None:
        return dataclasses.replace(node, id=path)
    return dataclasses.replace(node, id=path, children=tuple(
        with_ids(c, f"{path}/{i}") for i, c in enumerate(children)))


def leaves(node: Node | None):
    """Every leaf (non-combinator) node, depth first."""
    if node is None:
        return
    children = getattr(node, "children", None)
    if children is None:
        yield node
        return
    for child in children:
        yield from leaves(child)


def fields_read(node: Node | None) -> set[str]:
    """Fields of its own fact that a condition reads."""
    out: set[str] = set()
    for leaf in leaves(node):
        out.add(leaf.field)
        other = leaf.other_field("")
        if other is not None and other[0] == "":
            out.add(other[1])
    return out


def literal_equalities(node: Node | None) -> set[tuple[str, Any]]:
    """(field, literal) equalities every fact matching ``node`` must satisfy (what the
    rule set's pruning and the Python matcher's index key rules by)."""
    return set() if node is None else node.equalities()


def most_selective_first(pairs: Any) -> list[tuple[str, Any]]:
    """(field, literal) equalities ordered for indexing: a flag (``at_dose == true``,
    which most facts of a type share) after any other literal (``key == "class:nsaid"``),
    then in a fixed order."""
    return sorted(pairs, key=lambda pair: (isinstance(pair[1], bool), repr(pair)))
