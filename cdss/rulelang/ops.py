"""The operators of the rule language: ONE table that every consumer reads.

A rule writes ``{field: {<operator>: <operand>}}``. Each :class:`Operator` below says
what its YAML name is, which IR node it builds, what it means in Python (as
durable-rules compares JSON values: numbers across int and float, a bool is not a
number), its complement, and how explanations word it.
The parser, the three-valued evaluator, the durable emitter, the Python matcher, the
rule tables, the evidence and the reasoning under missing data all read it from here;
to add an operator, see docs/rule-language.md ("Adding an operator").
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cdss.rulelang import regex

Holds = Callable[[Any, Any], bool]


def is_number(value: Any) -> bool:
    """A JSON number: an int or a float, never a bool (durable-rules keeps them apart)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def equal(a: Any, b: Any) -> bool:
    """Equality as durable-rules does it on JSON facts (numbers across int/float)."""
    return (a == b and type(a) is type(b)) or (is_number(a) and is_number(b) and a == b)


def _ordered(order: Callable[[Any, Any], bool]) -> Holds:
    def holds(a: Any, b: Any) -> bool:
        return is_number(a) and is_number(b) and order(a, b)
    return holds


def _same(argument: Any) -> Any:
    return argument


def _matches(value: Any, pattern: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


@dataclass(frozen=True)
class Operator:
    """One operator of the rule language.

    ``holds(value, argument)`` is its meaning for a field that is present, where the
    argument is the clause's operand after ``prepare`` (a compiled regex for
    ``matches``); an absent field makes every operator but ``exists`` unknown.
    """

    #: the YAML key (``gte``); ``yaml`` False: reached only as a complement
    #: (``exists: false`` is ``absent``)
    name: str
    #: the IR node class that holds it (``ir.Compare``, ``ir.InList``...)
    node: str
    #: field value, prepared argument -> true
    holds: Holds
    #: the operator true exactly when this one is false, on a present field
    complement: str | None = None
    #: the argument as ``holds`` takes it (computed once per clause)
    prepare: Callable[[Any], Any] = _same
    #: its meaning on two numbers (``gte``: ``>=``) when a value that is not a number
    #: makes it false (so not ``ne``): the Python matcher's fast path
    order: Callable[[Any, Any], bool] | None = None
    #: compares by size: only number fields may use it
    ordered: bool = False
    #: in rule tables (``cdss rules doc``): ``vitals.sbp ≥ 140``, ``groups has x``
    symbol: str = ""
    #: in an evidence item's ``condition`` (English, both languages): ``≥ 140``,
    #: ``contains diabetes``
    evidence: str = ""
    #: the ``evidence`` wording in Chinese, where it is a word and not a symbol
    evidence_zh: str = ""
    #: an assumed condition in words, per language (``{label}``: the field's name,
    #: ``{value}``: the literal's, ``{symbol}``)
    said: Mapping[str, str] | None = None
    #: for a list operand: the words that join its values' ``eq`` wording (``in``)
    joins: Mapping[str, str] | None = None
    yaml: bool = True

    def __reduce__(self) -> tuple[Any, ...]:
        return (_named, (self.name,))  # by name: its functions are not picklable


_SYMBOLIC = {"zh": "{label}{symbol}{value}", "en": "{label} {symbol} {value}"}


def _comparison(name: str, symbol: str, order: Callable[[Any, Any], bool] | None,
                complement: str, holds: Holds | None = None,
                said: Mapping[str, str] = _SYMBOLIC) -> Operator:
    """eq and ne (``holds`` given) or an ordering (``holds`` made from ``order``)."""
    return Operator(name, "Compare", holds or _ordered(order),  # type: ignore[arg-type]
                    complement, order=order, ordered=holds is None,
                    symbol=symbol, evidence=symbol, said=said)


OPERATORS: dict[str, Operator] = {op.name: op for op in (
    _comparison("eq", "=", operator.eq, "ne", holds=equal,
                said={"zh": "{label}为{value}", "en": "{label} is {value}"}),
    _comparison("ne", "≠", None, "eq", holds=lambda a, b: not equal(a, b)),
    _comparison("gt", ">", operator.gt, "lte"),
    _comparison("gte", "≥", operator.ge, "lt"),
    _comparison("lt", "<", operator.lt, "gte"),
    _comparison("lte", "≤", operator.le, "gt"),
    Operator("in", "InList", lambda a, values: any(equal(a, v) for v in values), "not_in",
             symbol="in", evidence="in", evidence_zh="属于", joins={"zh": "或", "en": " or "}),
    Operator("not_in", "InList", lambda a, values: not any(equal(a, v) for v in values), "in",
             symbol="not in", evidence="not in", evidence_zh="不属于"),
    Operator("contains", "Contains", lambda a, item: item in a, "not_contains",
             symbol="has", evidence="contains", evidence_zh="含",
             said={"zh": "已诊断{value}", "en": "{value} is already diagnosed"}),
    Operator("not_contains", "Contains", lambda a, item: item not in a, "contains",
             symbol="lacks", evidence="does not contain", evidence_zh="不含",
             said={"zh": "尚未诊断{value}", "en": "{value} is not already diagnosed"}),
    Operator("matches", "Matches", _matches, prepare=regex.to_python,
             symbol="matches", evidence="matches", evidence_zh="符合"),
    # NOTE: exists reads whether the field is there, not its value: holds(present, None)
    Operator("exists", "Exists", lambda present, _: present, "absent",
             symbol="present", evidence="present", evidence_zh="已记录"),
    Operator("absent", "Exists", lambda present, _: not present, "exists",
             symbol="absent",
             evidence="absent", evidence_zh="未记录", yaml=False),
)}

#: an evidence item's ``condition`` wording in Chinese: each operator's, and "outside" of
#: an implausible value (``outside 50–300``)
EVIDENCE_ZH: dict[str, str] = {
    **{op.evidence: op.evidence_zh for op in OPERATORS.values() if op.evidence_zh},
    "outside": "超出可信范围"}
#: the words longest first ("not in" before "in"), sorted once
_EVIDENCE_WORDS = sorted(EVIDENCE_ZH, key=len, reverse=True)


def evidence_condition(condition: str, lang: str) -> str:
    """An evidence item's ``condition`` in ``lang`` (its leading operator word
    translated for Chinese; symbols such as ``≥ 140`` read the same in both)."""
    if lang != "zh":
        return condition
    for word in _EVIDENCE_WORDS:
        if condition == word or condition.startswith(word + " "):
            return EVIDENCE_ZH[word] + condition[len(word):]
    return condition


def _named(name: str) -> Operator:
    return OPERATORS[name]


#: the operators a rule may write
YAML_NAMES: tuple[str, ...] = tuple(name for name, op in OPERATORS.items() if op.yaml)


@dataclass(frozen=True)
class Combinator:
    """``all`` / ``any``: a list of conditions joined with and / or."""

    name: str
    node: str
    #: the word between its conditions in rule tables
    symbol: str


COMBINATORS: dict[str, Combinator] = {c.name: c for c in (
    Combinator("all", "All", "and"),
    Combinator("any", "Any_", "or"),
)}
