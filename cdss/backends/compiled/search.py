"""The missing-data search of :mod:`cdss.reasoning` as one generated Python module.

For each rule the module defines two functions:

``u<n>(T)``
    every assignment of distinct facts (``T``: fact type -> facts) that no pattern makes
    false and some pattern leaves unknown, in the order of
    :func:`cdss.rulelang.bounds.unknown_assignments`. Each pattern's two bounds
    (:mod:`cdss.rulelang.bounds`: missing read as false, missing read as true) are
    inlined as Python expressions in the loops of the join, evaluated in the order the
    closures evaluate them (the upper bound first; the lower one only while every
    earlier pattern is known).
``l<n>(E)``, ``h<n>(E)``
    whether every pattern's lower (upper) bound holds for the assignment ``E``, the
    patterns taken in order as ``reasoning._shown_hit`` (``_all_false``) takes them.
``m<n>(E)``
    the (fact id, field) pairs whose absence Kleene evaluation finds for the assignment
    ``E`` (``reasoning._missing_fields``, ``evaluate.missing_fields``): each pattern some
    of whose read fields are absent is evaluated three-valued, one function per
    ``all``/``any`` node, with the evaluator's short cuts (an ``all`` stops at its first
    false child, an ``any`` at its first true one), so the same fields are found.
``t<n>``
    per pattern with a condition (by name), a function ``(fact, E)`` saying whether the
    evaluator's trace of that pattern lists a true clause other than an existence test
    (``explain.Explainer._worth_asking``: a measured value that already meets one of
    the rule's clauses); the same short cuts, stopping at the first such clause.

A rule the generator cannot write (a literal that is no JSON scalar, more than
:data:`MAX_PATTERNS` patterns) gets ``None`` and is searched by the interpreted
closures; a module that does not compile leaves every rule to them. Literals are
written with ``repr``, so no rule text is ever code. The compiled code is cached on
disk (``cache.py``) under a digest of the generator and of the rules it is made from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from types import CodeType
from typing import TYPE_CHECKING, Any

from cdss.backends.compiled import cache
from cdss.backends.compiled.codegen import Connectives, literal
from cdss.rulelang import ir

if TYPE_CHECKING:
    from cdss.rulelang import CompiledRule

Fact = dict[str, Any]
Env = dict[str, Fact]
#: ``u<n>``: fact type -> facts, to the unknown assignments
Unknown = Callable[[dict[str, list[Fact]]], list[Env]]
#: ``m<n>``: an assignment, to the (fact id, field) pairs its evaluation finds missing
Missing = Callable[[Env], frozenset[tuple[str, str]]]
#: ``l<n>`` / ``h<n>``: whether every pattern's lower / upper bound holds (truthy)
Holds = Callable[[Env], Any]
#: ``t<n>``: pattern name -> whether its evaluation meets a true clause other than an
#: existence test, for the fact bound to it and the assignment
Met = dict[str, Callable[[Fact, Env], bool]]
#: what :func:`load` gives per rule
Search = tuple[Unknown, Missing, Holds, Holds, Met]

#: a digest of the generator (this file and the literals of ``codegen.py``): changing it
#: makes every cached search stale
_GENERATOR = hashlib.sha256(b"".join(
    (Path(__file__).parent / name).read_bytes() for name in ("search.py", "codegen.py"))
).hexdigest()
#: most patterns of a rule written as nested loops (Python allows 20 nested blocks);
#: a rule with more is searched by the interpreted closures
MAX_PATTERNS = 12
_ORDER = {"eq": "==", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


class _Constants:
    """Module-level names for what is not written inline (operators' ``holds``,
    prepared arguments, sets of strings), each evaluated once at load."""

    def __init__(self) -> None:
        self.sources: list[str] = []
        self._names: dict[str, str] = {}

    def name(self, source: str) -> str:
        found = self._names.get(source)
        if found is None:
            self.sources.append(source)
            found = self._names[source] = f"_C{len(self.sources) - 1}"
        return found


def _present(leaf: ir.Node, value: str, consts: _Constants) -> str:
    """The clause on a present value ``value`` (its field's, for literal operands) as
    an expression equal to the bounds' (``bounds._Bound``) and the operator table's."""
    if isinstance(leaf, ir.Compare):
        operand = leaf.operand
        assert isinstance(operand, ir.Value)
        lit = operand.value
        if type(lit) in (int, float) and leaf.op in _ORDER:
            return f"(type({value}) in _NUM and {value} {_ORDER[leaf.op]} {literal(lit)})"
        if type(lit) is str and leaf.op in ("eq", "ne"):
            same = f"(type({value}) is str and {value} == {literal(lit)})"
            return same if leaf.op == "eq" else f"(not {same})"
        if type(lit) is bool and leaf.op in ("eq", "ne"):
            return f"({value} {'is' if leaf.op == 'eq' else 'is not'} {lit!r})"
        holds = consts.name(f"_OPS[{literal(leaf.op)}].holds")
        return f"{holds}({value}, {literal(lit)})"
    if isinstance(leaf, ir.InList) and leaf.values and all(type(v) is str for v in leaf.values):
        values = consts.name(f"frozenset(({', '.join(map(literal, leaf.values))},))")
        inside = f"(type({value}) is str and {value} in {values})"
        return f"(not {inside})" if leaf.negate else inside
    assert isinstance(leaf, ir.InList | ir.Contains | ir.Matches)
    holds = consts.name(f"_OPS[{literal(leaf.op)}].holds")
    argument = leaf.argument
    source = (f"({', '.join(map(literal, argument))},)" if isinstance(argument, tuple)
              else literal(argument))
    prepared = consts.name(f"_OPS[{literal(leaf.op)}].prepare({source})")
    return f"{holds}({value}, {prepared})"


class _Bound(Connectives):
    """A condition as one expression over the pattern's fact ``var`` (and earlier
    patterns' variables ``names``): the lower bound (``missing`` False) or the upper
    one (``missing`` True) of :mod:`cdss.rulelang.bounds`."""

    def __init__(self, consts: _Constants, missing: bool) -> None:
        self.consts = consts
        self.missing = missing

    def visit_compare(self, node: ir.Compare, var: str, names: dict[str, str]) -> str:
        operand = node.operand
        if isinstance(operand, ir.Value):
            return self.visit_leaf(node, var, names)
        other = names[operand.pattern] if isinstance(operand, ir.Ref) else var
        holds = self.consts.name(f"_OPS[{literal(node.op)}].holds")
        get_v = f"(v := {var}.get({literal(node.field)}, _M))"
        get_w = f"(w := {other}.get({literal(operand.field)}, _M))"
        if self.missing:
            return f"({get_v} is _M or {get_w} is _M or {holds}(v, w))"
        return f"({get_v} is not _M and {get_w} is not _M and {holds}(v, w))"

    def visit_leaf(self, node: ir.Leaf, var: str, names: dict[str, str]) -> str:
        get = f"(v := {var}.get({literal(node.field)}, _M))"
        present = _present(node, "v", self.consts)
        if self.missing:
            return f"({get} is _M or {present})"
        return f"({get} is not _M and {present})"


class _Trace:
    """Kleene evaluation with the evaluator's trace of missing fields, as functions
    ``k<j>(f, E, out)`` (one per ``all``/``any`` node) returning True, False or None and
    appending (fact id, field) to ``out`` for each missing field met.

    With ``met`` True, functions ``w<j>(f, E, out)`` instead, which return ``_MET`` as
    soon as the evaluation meets a true clause other than an existence test (one the
    evaluator's trace would list in ``true_leaves``), else the Kleene value; ``out`` is
    not used (a missing field is only unknown)."""

    def __init__(self, consts: _Constants, met: bool = False) -> None:
        self.consts = consts
        self.met = met
        self.prefix = "w" if met else "k"
        self.functions: list[list[str]] = []

    def function(self, node: ir.Node, pattern: str, names: dict[str, str]) -> str:
        """The name of a new function evaluating ``node`` (of pattern ``pattern``)."""
        name = f"{self.prefix}{len(self.functions)}"
        lines = [f"def {name}(f, E, out):"]
        self.functions.append(lines)  # reserved first: children number after it
        if isinstance(node, ir.All | ir.Any_):
            stop = "False" if isinstance(node, ir.All) else "True"
            lines.append(f"    r = {isinstance(node, ir.All)!r}")
            for child in node.children:
                lines += self._child(child, pattern, names, "    ")
                lines += [f"    if c is {stop}:", f"        return {stop}",
                          "    if c is None:", "        r = None"]
            lines.append("    return r")
        else:
            lines += self._child(node, pattern, names, "    ")
            lines.append("    return c")
        return name

    def _child(self, node: ir.Node, pattern: str, names: dict[str, str], indent: str
               ) -> list[str]:
        """Statements setting ``c`` to the node's Kleene value (``met``: returning
        ``_MET`` first when a clause other than an existence test is true)."""
        if isinstance(node, ir.All | ir.Any_):
            lines = [f"{indent}c = {self.function(node, pattern, names)}(f, E, out)"]
            if self.met:
                lines += [f"{indent}if c is _MET:", f"{indent}    return _MET"]
            return lines
        if isinstance(node, ir.Exists):
            return [f"{indent}c = {literal(node.field)} "
                    f"{'in' if node.present else 'not in'} f"]
        field = literal(node.field)
        lines = [f"{indent}v = f.get({field}, _M)", f"{indent}if v is _M:"]
        if not self.met:
            lines.append(f"{indent}    out.append((f['id'], {field}))")
        lines += [f"{indent}    c = None", f"{indent}else:"]
        inner = indent + "    "
        if isinstance(node, ir.Compare) and not isinstance(node.operand, ir.Value):
            operand = node.operand
            other = (f"E[{literal(operand.pattern)}]" if isinstance(operand, ir.Ref)
                     else "f")
            holds = self.consts.name(f"_OPS[{literal(node.op)}].holds")
            lines += [f"{inner}g = {other}", f"{inner}w = g.get({literal(operand.field)}, _M)",
                      f"{inner}if w is _M:"]
            if not self.met:
                lines.append(f"{inner}    out.append((g['id'], {literal(operand.field)}))")
            lines += [f"{inner}    c = None", f"{inner}else:",
                      f"{inner}    c = {holds}(v, w)"]
            if self.met:
                lines += [f"{inner}    if c:", f"{inner}        return _MET"]
        else:
            lines.append(f"{inner}c = {_present(node, 'v', self.consts)}")
            if self.met:
                lines += [f"{inner}if c:", f"{inner}    return _MET"]
        return lines


def _fields_read(p: ir.Pattern) -> list[tuple[str, str]]:
    """(pattern, field) pairs the pattern's evaluation can find missing: its own fields
    and those of other patterns it compares with (``reasoning._may_miss``)."""
    pairs = {(p.name, name) for name in ir.fields_read(p.condition)}
    for leaf in ir.leaves(p.condition):
        other = leaf.other_field(p.name)
        if other is not None:
            pairs.add(other)
    return sorted(pairs)


def _rule_source(n: int, rule: CompiledRule, consts: _Constants, trace: _Trace,
                 met: _Trace) -> list[str]:
    """``u<n>``, ``l<n>``, ``h<n>``, ``m<n>`` and ``t<n>`` of one rule."""
    if len(rule.patterns) > MAX_PATTERNS:
        raise TypeError("too many patterns for nested loops")  # searched interpreted
    lower, upper = _Bound(consts, False), _Bound(consts, True)
    lines = [f"def u{n}(T):", "    out = []"]
    names: dict[str, str] = {}
    indent = "    "
    last = len(rule.patterns) - 1
    for i, p in enumerate(rule.patterns):
        var = f"f{i}"
        lines.append(f"{indent}for {var} in T.get({literal(p.fact_type)}, ()):")
        indent += "    "
        tests = [f"{var} is not {names[q.name]}" for q in rule.patterns[:i]
                 if q.fact_type == p.fact_type]  # distinct facts for distinct patterns
        if p.condition is not None:
            tests.append(p.condition.accept(upper, var, names))
        if tests:
            lines += [f"{indent}if not ({' and '.join(tests)}):", f"{indent}    continue"]
        known = "True" if p.condition is None else p.condition.accept(lower, var, names)
        earlier = f"k{i - 1} and " if i else ""
        if i < last:
            lines.append(f"{indent}k{i} = {earlier}{known}")
        else:
            bound = ", ".join(f"{literal(q.name)}: f{j}" for j, q in enumerate(rule.patterns))
            lines += [f"{indent}if not ({earlier}{known}):",
                      f"{indent}    out.append({{{bound}}})"]
        names[p.name] = var
    lines.append("    return out")
    for fn, bound in (("l", lower), ("h", upper)):  # every pattern's bound, in order
        lines += ["", f"def {fn}{n}(E):"]
        lines += [f"    f{j} = E[{literal(q.name)}]" for j, q in enumerate(rule.patterns)]
        tests = [q.condition.accept(bound, f"f{j}", names) for j, q in enumerate(rule.patterns)
                 if q.condition is not None]
        lines.append(f"    return {' and '.join(tests) or 'True'}")
    lines += ["", f"def m{n}(E):", "    out = []"]
    for p in rule.patterns:
        if p.condition is None:
            continue
        absent = " or ".join(f"{literal(field)} not in E[{literal(name)}]"
                             for name, field in _fields_read(p))
        if not absent:
            continue  # reads no field (only existence tests of none): nothing missing
        function = trace.function(p.condition, p.name, names)
        lines += [f"    f = E[{literal(p.name)}]", f"    if {absent}:",
                  f"        {function}(f, E, out)"]
    lines += ["    return frozenset(out)", ""]
    tests = []
    for j, p in enumerate(rule.patterns):
        if p.condition is not None:
            function = met.function(p.condition, p.name, names)
            lines += [f"def t{n}_{j}(f, E):", f"    return {function}(f, E, None) is _MET", ""]
            tests.append(f"{literal(p.name)}: t{n}_{j}")
    lines += [f"t{n} = {{{', '.join(tests)}}}", ""]
    return lines


def module_source(rules: Sequence[CompiledRule]) -> str:
    """The source of the search module of ``rules`` (``SEARCH``: per rule, ``(u<n>,
    m<n>, l<n>, h<n>, t<n>)`` or None where a rule could not be written)."""
    consts = _Constants()
    trace, met = _Trace(consts), _Trace(consts, met=True)
    body: list[str] = []
    entries: list[str] = []
    for n, rule in enumerate(rules):
        saved = (len(consts.sources), dict(consts._names), len(trace.functions),
                 len(met.functions))
        try:
            body += _rule_source(n, rule, consts, trace, met)
        except (TypeError, KeyError, AssertionError):  # not writable: interpreted instead
            del consts.sources[saved[0]:]
            consts._names = saved[1]
            del trace.functions[saved[2]:]
            del met.functions[saved[3]:]
            entries.append("None")
            continue
        entries.append(f"(u{n}, m{n}, l{n}, h{n}, t{n})")
    head = ["# generated by cdss.backends.compiled.search from the compiled rules",
            "from cdss.rulelang.ops import OPERATORS as _OPS", "",
            "_M = object()", "_MET = object()", "_NUM = (int, float)", ""]
    head += [f"_C{i} = {source}" for i, source in enumerate(consts.sources)]
    functions = [line for f in (*trace.functions, *met.functions) for line in (*f, "")]
    return "\n".join([*head, "", *functions, *body,
                      "SEARCH = (" + "".join(f"{e}, " for e in entries) + ")", ""])


def load(rules: Sequence[CompiledRule]) -> tuple[Search | None, ...]:
    """Per rule, its ``(u<n>, m<n>, l<n>, h<n>, t<n>)`` (None: search it with the interpreted
    bounds); the code is cached on disk under a digest of what the source is made from:
    this generator's code and each rule's action and patterns (their dataclass ``repr``
    spells out every field the generator reads), so a hit needs no generation."""
    made_from = repr([(rule.action, rule.patterns) for rule in rules])
    key = cache.file_key("search", _GENERATOR, hashlib.sha256(made_from.encode()).hexdigest())
    code = cache.load(key)
    namespace = _run(code) if code is not None else None
    if namespace is None or len(namespace.get("SEARCH", ())) != len(rules):
        try:
            code = compile(module_source(rules), "<cdss compiled search>", "exec")
        except (SyntaxError, RecursionError, ValueError, MemoryError):
            return (None,) * len(rules)  # a bug here, never a reason to stop checking
        namespace = _run(code)
        if namespace is None:
            raise RuntimeError("the generated search module does not load")  # a bug here
        cache.store(key, code)
    found = namespace["SEARCH"]
    if len(found) != len(rules):
        raise RuntimeError("the generated search module does not match its rules")
    return found


def _run(code: CodeType) -> dict[str, Any] | None:
    namespace: dict[str, Any] = {"__name__": "cdss.backends.compiled.generated_search"}
    try:
        exec(code, namespace)  # our own generated code: every literal is repr'd
    except Exception:  # a damaged cache entry: compile again
        return None
    return namespace
