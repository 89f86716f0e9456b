"""What would clear a suggestion: the boundaries its rule's own conditions set.

A rule fires when every pattern's condition holds. It stops firing when one of them
fails, so each way to make a numeric comparison false is a way to clear it: ``daily_dose
> max_daily`` clears at ``daily_dose <= max_daily``. Under an ``any`` (``sbp >= a or dbp
>= b``) every branch must fail together: ``sbp < a`` and ``dbp < b``. The boundaries are
computed from the rule (the operator's complement and the clause's operand), never
written by hand.

Left out, because they are not what a clinician changes or would make it worse:

* fields of the patient (age, sex...), identity and join fields, and counts (a field
  without a unit: the number of diagnoses);
* a boundary where a more severe rule starts (grade 2 hypertension "clears" upwards only
  by becoming an urgent referral);
* comparisons that are not numeric (a drug's class, a diagnosis) and missing values.

Each alternative is one dict ``{"all": [condition, ...]}``; a condition is ``{field, op,
value, unit, now}`` (input path, the operator that must hold, the boundary, its unit, the
value now).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import product
from typing import Any

from cdss import units
from cdss.rulelang import CompiledRule, ir
from cdss.rulelang.ops import OPERATORS, is_number

#: the comparisons a boundary can be computed for
_ORDERED = frozenset({"gt", "gte", "lt", "lte"})
#: alternatives kept per suggestion (an ``any`` of many branches multiplies them)
MAX_ALTERNATIVES = 6

Condition = tuple[str, str, str, float]  # (pattern, field, op that clears, boundary)
Env = dict[str, dict[str, Any]]


def _threshold(leaf: ir.Compare, fact: dict[str, Any], env: Env) -> Any:
    operand = leaf.operand
    if isinstance(operand, ir.Value):
        return operand.value
    if isinstance(operand, ir.SameFact):
        return fact.get(operand.field)
    return env.get(operand.pattern, {}).get(operand.field)


def _falsify(node: ir.Node | None, pattern: str, env: Env) -> list[list[Condition]]:
    """Ways to make ``node`` false, each a list of conditions that must all hold
    (empty: it cannot be made false by a numeric boundary)."""
    if node is None:
        return []
    if isinstance(node, ir.All):
        out: list[list[Condition]] = []
        for child in node.children:
            out += _falsify(child, pattern, env)
        return out
    if isinstance(node, ir.Any_):
        per_child = [_falsify(child, pattern, env) for child in node.children]
        if not all(per_child):
            return []
        return [[c for part in combo for c in part] for combo in product(*per_child)][
            :MAX_ALTERNATIVES]
    if isinstance(node, ir.Compare) and node.op in _ORDERED:
        fact = env.get(pattern, {})
        value, threshold = fact.get(node.field), _threshold(node, fact, env)
        complement = OPERATORS[node.op].complement
        if is_number(value) and is_number(threshold) and complement:
            return [[(pattern, node.field, complement, float(threshold))]]
    return []


#: :func:`_falsify` of a condition with what does not depend on the facts worked out
#: once: ``("cmp", field, complement, operand)``, ``("all", plans)``, ``("any", plans)``;
#: None where it finds nothing whatever the facts
Plan = tuple[Any, ...] | None


def plan(node: ir.Node | None) -> Plan:
    """The plan of ``node`` (see :data:`Plan`): a leaf other than an ordered comparison
    with a complement, and an ``any`` with such a branch, make nothing false."""
    if node is None:
        return None
    if isinstance(node, ir.All):
        children = [c for c in (plan(child) for child in node.children) if c is not None]
        return ("all", tuple(children)) if children else None
    if isinstance(node, ir.Any_):
        children = [plan(child) for child in node.children]
        if any(c is None for c in children):
            return None  # (an ``any`` of no branch: one alternative of no condition)
        return ("any", tuple(children))
    if isinstance(node, ir.Compare) and node.op in _ORDERED:
        complement = OPERATORS[node.op].complement
        if complement:
            return ("cmp", node.field, complement, node.operand)
    return None


def _boundary(p: tuple[Any, ...], pattern: str, fact: dict[str, Any], env: Env
              ) -> Condition | None:
    """The condition that falsifies a planned comparison ``("cmp", field, complement,
    operand)`` of ``fact`` (bound to ``pattern``), or None when the field or the
    threshold is not a number."""
    _, field, complement, operand = p
    value = fact.get(field)
    if isinstance(operand, ir.Value):
        threshold = operand.value
    elif isinstance(operand, ir.SameFact):
        threshold = fact.get(operand.field)
    else:
        threshold = env.get(operand.pattern, {}).get(operand.field)
    if is_number(value) and is_number(threshold):
        return (pattern, field, complement, float(threshold))
    return None


def _falsify_planned(p: tuple[Any, ...], pattern: str, env: Env) -> list[list[Condition]]:
    """:func:`_falsify` of the node ``p`` is the plan of (not None)."""
    kind = p[0]
    if kind == "cmp":
        found = _boundary(p, pattern, env.get(pattern, {}), env)
        return [] if found is None else [[found]]
    if kind == "all":
        out: list[list[Condition]] = []
        fact = env.get(pattern, {})
        for child in p[1]:
            if child[0] != "cmp":
                out += _falsify_planned(child, pattern, env)
            elif (found := _boundary(child, pattern, fact, env)) is not None:
                out.append([found])
        return out
    per_child = [_falsify_planned(child, pattern, env) for child in p[1]]
    if not all(per_child):
        return []
    return [[c for part in combo for c in part] for combo in product(*per_child)][
        :MAX_ALTERNATIVES]


def plans(rule: CompiledRule) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """(pattern name, plan) of each pattern of ``rule`` whose condition a boundary can
    make false (for :func:`clear_when`); empty: nothing can clear a firing of it."""
    out = []
    for p in rule.patterns:
        found = plan(p.condition)
        if found is not None:
            out.append((p.name, found))
    return tuple(out)


#: (fact type, field, operator, boundary) -> the highest severity rank of a rule that has
#: that comparison: where a band of some finding starts
Starts = dict[tuple[str, str, str, float], int]
_RANK = {"info": 0, "warning": 1, "critical": 2}


def band_starts(rules: tuple[CompiledRule, ...], group: str | None) -> Starts:
    """Where the numeric comparisons of a group's rules and of ungrouped rules start,
    with the rule's severity rank (rules of another group are another finding, often
    for other patients: the pregnancy BP bands)."""
    out: Starts = {}
    for rule in rules:
        if rule.spec.group not in (None, group):
            continue
        for p in rule.patterns:
            for leaf in ir.leaves(p.condition):
                if isinstance(leaf, ir.Compare) and leaf.op in _ORDERED \
                        and isinstance(leaf.operand, ir.Value) and is_number(leaf.operand.value):
                    key = (p.fact_type, leaf.field, leaf.op, float(leaf.operand.value))
                    out[key] = max(out.get(key, -1), _RANK[rule.spec.severity])
    return out


def clear_when(rule: CompiledRule, env: Env, starts: Starts,
               path_of: Callable[[dict[str, Any], str], str],
               unit_of: Callable[[dict[str, Any], str], str],
               changeable: Callable[[str, str], bool],
               planned: tuple[tuple[str, tuple[Any, ...]], ...] | None = None,
               types: dict[str, str] | None = None) -> tuple[dict[str, Any], ...]:
    """The alternatives that would clear this firing of ``rule`` (see the module doc);
    ``starts``: :func:`band_starts` of every rule.

    ``path_of(fact, field)``: the input path of a fact's field; ``unit_of``: its unit;
    ``changeable(fact_type, field)``: whether a clinician's action or the patient's
    course can change it (not an identity, join or patient field); ``planned``:
    :func:`plans` of ``rule``, if already made; ``types``: each pattern's fact type.
    """
    if planned is None:
        planned = plans(rule)
    if not planned:
        return ()
    if types is None:
        types = {p.name: p.fact_type for p in rule.patterns}
    out: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    rank = _RANK[rule.spec.severity]
    for name, p in planned:
        _offer(_falsify_planned(p, name, env), env, types, starts, rank, path_of, unit_of,
               changeable, seen, out)
    return tuple(out[:MAX_ALTERNATIVES])


def _offer(alternatives: list[list[Condition]], env: Env, types: dict[str, str],
           starts: Starts, rank: int, path_of: Callable[[dict[str, Any], str], str],
           unit_of: Callable[[dict[str, Any], str], str],
           changeable: Callable[[str, str], bool], seen: set[tuple],
           out: list[dict[str, Any]]) -> None:
    """Add to ``out`` each alternative worth offering, once (``seen``): every condition
    on a measured quantity a clinician can change, none that clears only by turning
    into a more severe finding (a band of rank above ``rank`` starting there)."""
    for alternative in alternatives:
        skip = False
        for c in alternative:
            if not changeable(types[c[0]], c[1]) or not unit_of(env[c[0]], c[1]):
                skip = True  # an identity or a count, not a measured quantity
                break
        if skip:
            continue
        for c in alternative:
            if starts.get((types[c[0]], c[1], c[2], c[3]), -1) > rank:
                skip = True  # it clears only by turning into a more severe finding
                break
        if skip:
            continue
        conditions = []
        for pattern, field, op, boundary in alternative:
            fact = env[pattern]
            conditions.append({
                "field": path_of(fact, field), "op": OPERATORS[op].symbol,
                "value": int(boundary) if boundary.is_integer() else boundary,
                "unit": unit_of(fact, field), "now": fact.get(field)})
        key = tuple([(c["field"], c["op"], c["value"]) for c in conditions])
        if key not in seen:
            seen.add(key)
            out.append({"all": conditions})


#: what a pattern's comparison field reads of the fact types, for :func:`steps`:
#: ``(changeable, unit, dose suffix)`` (see :func:`steps`), or None if unknown
About = Callable[[str, str], tuple[bool, str, str | None] | None]


def steps(rule: CompiledRule, planned: tuple[tuple[str, tuple[Any, ...]], ...],
          starts: Starts, about: About) -> tuple[tuple[Any, ...], ...]:
    """:func:`clear_when`'s walk of ``planned`` with what does not depend on the facts
    worked out once: each comparison of a pattern with a number (alone, or a child of
    its top-level ``all``, whose alternatives are its children's in order) becomes
    ``("cmp", pattern, field, fact type, complement, boundary, symbol, value shown,
    unit, dose suffix)``, left out when it never clears (a field that is not
    changeable, or a boundary where a more severe band starts: both read only the
    pattern's fact type); anything else stays ``("plan", pattern, plan)``.

    ``about(fact_type, field)``: whether the field is changeable, its unit, and for a
    field whose unit is the fact's ``dose_unit`` plus a suffix, that suffix (else
    None); None: not known, the comparison is walked as planned.
    """
    types = {p.name: p.fact_type for p in rule.patterns}
    rank = _RANK[rule.spec.severity]
    out: list[tuple[Any, ...]] = []
    for name, p in planned:
        for child in p[1] if p[0] == "all" else (p,):
            if child[0] == "cmp" and isinstance(child[3], ir.Value):
                _, field, complement, operand = child
                if not is_number(operand.value):
                    continue  # no boundary, whatever the facts
                t = types[name]
                known = about(t, field)
                if known is not None:
                    changeable, unit, dose = known
                    boundary = float(operand.value)
                    if not changeable or starts.get((t, field, complement, boundary),
                                                    -1) > rank:
                        continue
                    out.append(("cmp", name, field, t, complement, boundary,
                                OPERATORS[complement].symbol,
                                int(boundary) if boundary.is_integer() else boundary,
                                unit, dose))
                    continue
            out.append(("plan", name, child))
    return tuple(out)


def clear_when_stepped(rule: CompiledRule, env: Env, planned: tuple[tuple[Any, ...], ...],
                       starts: Starts, path_of: Callable[[dict[str, Any], str], str],
                       unit_of: Callable[[dict[str, Any], str], str],
                       changeable: Callable[[str, str], bool], types: dict[str, str]
                       ) -> tuple[dict[str, Any], ...]:
    """:func:`clear_when` over the :func:`steps` of ``rule`` (made with the same
    ``starts``, and an ``about`` that says what ``changeable`` and ``unit_of`` say)."""
    out: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    rank = _RANK[rule.spec.severity]
    for step in planned:
        if step[0] == "cmp":
            _, name, field, t, _, _, symbol, shown, unit, dose = step
            fact = env.get(name)
            if fact is None:
                continue
            value = fact.get(field)
            if not is_number(value):
                continue
            if fact["t"] != t:
                unit = unit_of(fact, field)
            elif dose is not None:
                unit = fact.get("dose_unit", "") + dose
            if not unit:
                continue  # a count, not a measured quantity
            path = path_of(fact, field)
            key: tuple = ((path, symbol, shown),)
            if key not in seen:
                seen.add(key)
                out.append({"all": [{"field": path, "op": symbol, "value": shown,
                                     "unit": unit, "now": value}]})
            continue
        _offer(_falsify_planned(step[2], step[1], env), env, types, starts, rank, path_of,
               unit_of, changeable, seen, out)
    return tuple(out[:MAX_ALTERNATIVES])


def clear_text(alternatives: tuple[dict[str, Any], ...], label: Callable[[str], str],
               lang: str) -> str:
    """The alternatives in words: ``daily dose ≤ 2000 mg/d (now 6000)``."""
    def one(c: dict[str, Any]) -> str:
        unit = f" {units.shown(c['unit'], lang)}" if c["unit"] else ""
        now = c["now"]
        now_text = f"{now:g}" if isinstance(now, float) else str(now)
        return (f"{label(c['field'])} {c['op']} {c['value']}{unit}"
                + (f"（现为 {now_text}）" if lang == "zh" else f" (now {now_text})"))
    joiner, alt = (" 且 ", " 或 ") if lang == "zh" else (" and ", "; or ")
    return alt.join(joiner.join(one(c) for c in a["all"]) for a in alternatives)


def clear_texts(alternatives: tuple[dict[str, Any], ...], labels: dict[str, dict[str, str]]
                ) -> tuple[str, str]:
    """:func:`clear_text` in Chinese and in English at once (``labels``: input path ->
    its name per language), each part that both share worked out once."""
    zh_alts = []
    en_alts = []
    symbols, words_zh = units.SHOWN, units.WORDS_ZH
    for a in alternatives:
        zh_parts = []
        en_parts = []
        for c in a["all"]:
            unit = c["unit"]
            now = c["now"]
            now_text = f"{now:g}" if isinstance(now, float) else str(now)
            label = labels[c["field"]]
            bound = f" {c['op']} {c['value']}"
            if unit:  # units.shown in each language
                en_unit = symbols.get(unit, unit)
                zh_parts.append(f"{label['zh']}{bound} {words_zh.get(en_unit, en_unit)}"
                                f"（现为 {now_text}）")
                en_parts.append(f"{label['en']}{bound} {en_unit} (now {now_text})")
            else:
                zh_parts.append(f"{label['zh']}{bound}（现为 {now_text}）")
                en_parts.append(f"{label['en']}{bound} (now {now_text})")
        zh_alts.append(" 且 ".join(zh_parts))
        en_alts.append(" and ".join(en_parts))
    return " 或 ".join(zh_alts), "; or ".join(en_alts)
