"""Lower a rule's ``when`` block to IR, checking it against the fact schema.

Grammar of a condition (YAML):

* ``{all: [cond, ...]}`` / ``{any: [cond, ...]}``
* ``{<field>: <scalar>}``: equality
* ``{<field>: {<op>: <operand>, ...}}`` with the operators of
  :data:`cdss.rulelang.ops.OPERATORS`: ``eq ne gt gte lt lte`` (operand: a scalar,
  ``{field: <other field of this fact>}`` or ``{ref: <pattern>.<field>}``),
  ``in``/``not_in`` (a list), ``contains``/``not_contains`` (list fields),
  ``matches`` (portable regex), ``exists`` (true/false)
* several keys in one mapping are joined with ``all``

Each node gets its ``id``, the path of the clause in the rule (``v/0/1``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from cdss.derive.schema import FactType, FieldSpec
from cdss.kb import KnowledgeBase
from cdss.rulelang import ir, regex
from cdss.rulelang.ops import COMBINATORS, OPERATORS, YAML_NAMES, Operator
from cdss.rulelang.spec import PatternSpec

#: values of one ``in``/``not_in`` list: each value of ``in`` is one more sibling
#: condition in durable-rules, which hangs registration past 512 on one fact type
#: (measured here: 150 other conditions + an ``in`` of 370 hung; bundled rules use
#: at most 4)
MAX_IN_VALUES = 64
#: nesting of ``all``/``any``: durable-rules refuses a condition nested 16 deep
#: (error 113, measured here; 14 was accepted) and the emitter adds up to 3 levels
MAX_CONDITION_DEPTH = 8


class ConditionProblem(ValueError):
    """A condition that does not fit the grammar or the fact schema."""


def _short(value: Any, limit: int = 80) -> str:
    """``repr`` of a value cut to ``limit`` characters (a bad pack can be huge)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _did_you_mean(name: str, options) -> str:
    hint = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean {hint[0]!r}?)" if hint else ""


@dataclass
class _Scope:
    types: dict[str, FactType]
    kb: KnowledgeBase
    bound: dict[str, FactType]  # patterns bound so far, in order
    where: str = ""


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    raise ConditionProblem(f"{value!r} is not a scalar (string, number or boolean)")


def _check_vocabulary(spec: FieldSpec, value: Any, scope: _Scope, where: str) -> None:
    if spec.vocabulary == "drug_key" and isinstance(value, str):
        if value not in scope.kb.known_keys:
            raise ConditionProblem(f"{where}: unknown drug or class {value!r} in knowledge"
                                   f"{_did_you_mean(value, scope.kb.known_keys)}")
    if spec.vocabulary == "condition_group" and isinstance(value, str):
        if value not in scope.kb.condition_groups:
            raise ConditionProblem(f"{where}: unknown condition group {value!r}"
                                   f"{_did_you_mean(value, scope.kb.condition_groups)}")


def _operand(raw: Any, fact: FactType, scope: _Scope, where: str) -> tuple[ir.Operand, str]:
    if isinstance(raw, dict):
        if set(raw) == {"field"}:
            name = raw["field"]
            if name not in fact.fields:
                raise ConditionProblem(f"{where}: unknown field {fact.name}.{name}"
                                       f"{_did_you_mean(name, fact.fields)}")
            return ir.SameFact(name), fact.fields[name].kind
        if set(raw) == {"ref"}:
            pattern, _, name = str(raw["ref"]).partition(".")
            if pattern not in scope.bound:
                raise ConditionProblem(f"{where}: ref {raw['ref']!r} names no earlier pattern "
                                       f"(bound so far: {', '.join(scope.bound) or 'none'})")
            other = scope.bound[pattern]
            if name not in other.fields:
                raise ConditionProblem(f"{where}: unknown field {other.name}.{name}"
                                       f"{_did_you_mean(name, other.fields)}")
            return ir.Ref(pattern, name), other.fields[name].kind
        raise ConditionProblem(f"{where}: an operand object must be {{field: ...}} or "
                               f"{{ref: pattern.field}}, got {raw!r}")
    return ir.Value(raw), _kind_of(raw)


def _in_list(field: str, op: Operator, raw: Any, fact: FactType, scope: _Scope,
             at: str) -> ir.Node:
    spec = fact.fields[field]
    if not isinstance(raw, list) or not raw:
        raise ConditionProblem(f"{at}: expects a non-empty list")
    if len(raw) > MAX_IN_VALUES:
        raise ConditionProblem(f"{at}: {len(raw)} values; at most {MAX_IN_VALUES} (see "
                               "docs/rule-language.md, Limits)")
    for item in raw:
        if _kind_of(item) != spec.kind:
            raise ConditionProblem(f"{at}: {item!r} is not a {spec.kind}")
        _check_vocabulary(spec, item, scope, at)
    return ir.InList(field, tuple(raw), negate=op.name != "in")


def _contains(field: str, op: Operator, raw: Any, fact: FactType, scope: _Scope,
              at: str) -> ir.Node:
    spec = fact.fields[field]
    if spec.kind != "list":
        raise ConditionProblem(f"{at}: {fact.name}.{field} is a {spec.kind}, not a list")
    _kind_of(raw)
    _check_vocabulary(spec, raw, scope, at)
    return ir.Contains(field, raw, negate=op.name != "contains")


def _matches(field: str, op: Operator, raw: Any, fact: FactType, scope: _Scope,
             at: str) -> ir.Node:
    if fact.fields[field].kind != "string" or not isinstance(raw, str):
        raise ConditionProblem(f"{at}: matches needs a string field and a pattern")
    try:
        regex.check(raw)
    except regex.RegexProblem as exc:
        raise ConditionProblem(f"{at}: {exc}") from None
    return ir.Matches(field, raw)


def _exists(field: str, op: Operator, raw: Any, fact: FactType, scope: _Scope,
            at: str) -> ir.Node:
    if not isinstance(raw, bool):
        raise ConditionProblem(f"{at}: exists takes true or false")
    return ir.Exists(field, raw)


def _compare(field: str, op: Operator, raw: Any, fact: FactType, scope: _Scope,
             at: str) -> ir.Node:
    spec = fact.fields[field]
    operand, kind = _operand(raw, fact, scope, at)
    if spec.kind == "list":
        raise ConditionProblem(f"{at}: {fact.name}.{field} is a list; use contains")
    if kind != spec.kind:
        raise ConditionProblem(f"{at}: compares {fact.name}.{field} ({spec.kind}) with a {kind}")
    if op.ordered and spec.kind != "number":
        raise ConditionProblem(f"{at}: {op.name} needs numbers, {fact.name}.{field} is a "
                               f"{spec.kind}")
    if isinstance(operand, ir.Value):
        _check_vocabulary(spec, operand.value, scope, at)
    return ir.Compare(op.name, field, operand)


#: how a clause is built and checked, per IR node class of the operator table
_BUILDERS = {"Compare": _compare, "InList": _in_list, "Contains": _contains,
             "Matches": _matches, "Exists": _exists}


def _leaf(field: str, op: str, raw: Any, fact: FactType, scope: _Scope, where: str) -> ir.Node:
    operator = OPERATORS[op]
    return _BUILDERS[operator.node](field, operator, raw, fact, scope, f"{where}.{field}.{op}")


def parse_condition(raw: Any, fact: FactType, scope: _Scope, where: str,
                    depth: int = 0) -> ir.Node:
    """Lower one condition mapping."""
    if not isinstance(raw, dict) or not raw:
        raise ConditionProblem(f"{where}: a condition must be a non-empty mapping, got "
                               f"{_short(raw)}")
    if depth > MAX_CONDITION_DEPTH:
        raise ConditionProblem(f"{where}: all/any nested deeper than {MAX_CONDITION_DEPTH} "
                               "levels (see docs/rule-language.md, Limits)")
    nodes: list[ir.Node] = []
    for key, value in raw.items():
        if key in COMBINATORS:
            if not isinstance(value, list) or not value:
                raise ConditionProblem(f"{where}.{key}: expects a non-empty list")
            children = tuple(parse_condition(c, fact, scope, f"{where}.{key}[{i}]", depth + 1)
                             for i, c in enumerate(value))
            nodes.append(ir.NODES[COMBINATORS[key].node](children))
            continue
        if key not in fact.fields:
            raise ConditionProblem(f"{where}: unknown field {fact.name}.{key}"
                                   f"{_did_you_mean(key, fact.fields)}")
        if isinstance(value, dict) and not (set(value) <= {"field"} or set(value) <= {"ref"}):
            for op, operand in value.items():
                if op not in YAML_NAMES:
                    raise ConditionProblem(f"{where}.{key}: unsupported operator {op!r}"
                                           f"{_did_you_mean(op, YAML_NAMES)}")
                nodes.append(_leaf(key, op, operand, fact, scope, where))
        else:
            nodes.append(_leaf(key, "eq", value, fact, scope, where))
    return nodes[0] if len(nodes) == 1 else ir.All(tuple(nodes))


def _with_implied(raw: Any, fact: FactType) -> Any:
    """A pattern's condition with what its fact type implies of the fields it does not
    name (``FieldSpec.implied``), as if written last: a rule over ``rx_key`` matches a
    dose-dependent class only at its dose unless it says otherwise of ``at_dose``."""
    if raw is not None and not isinstance(raw, dict):
        return raw  # not a condition: parse_condition says why
    implied = {name: spec.implied for name, spec in fact.fields.items()
               if spec.implied is not None and not _names(raw, name)}
    return {**(raw or {}), **implied} if implied else raw


def _names(raw: Any, name: str) -> bool:
    """Whether a condition mapping names a field anywhere, inside all/any too."""
    if isinstance(raw, dict):
        return name in raw or any(_names(v, name) for k, v in raw.items() if k in COMBINATORS)
    if isinstance(raw, list):
        return any(_names(item, name) for item in raw)
    return False


def parse_when(when: dict[str, PatternSpec], types: dict[str, FactType],
               kb: KnowledgeBase) -> tuple[ir.Pattern, ...]:
    """Lower every pattern of a rule, in order (a ref may only look back)."""
    scope = _Scope(types, kb, {})
    patterns = []
    for name, pattern in when.items():
        if not name.isidentifier() or name.startswith("_") or name in ("t", "id", "sid"):
            raise ConditionProblem(f"when.{name}: pattern names must be plain identifiers")
        fact = types.get(pattern.fact)
        if fact is None:
            raise ConditionProblem(f"when.{name}.fact: unknown fact type {pattern.fact!r}"
                                   f"{_did_you_mean(pattern.fact, types)}")
        raw = _with_implied(pattern.if_, fact)
        condition = (None if raw is None else ir.with_ids(
            parse_condition(raw, fact, scope, f"when.{name}.if"), name))
        patterns.append(ir.Pattern(name, fact.name, condition))
        scope.bound[name] = fact
    return tuple(patterns)
