"""The IR of a rule set as the source of one Python module (the ``compiled`` backend).

Each rule becomes a function of plain loops with its tests inlined as Python
expressions; a pattern that demands ``field == literal`` loops over the facts filed
under that literal (``ir.literal_equalities``) instead of every fact of its type. The
meaning of each operator is the one of the operator table (``cdss.rulelang.ops``),
spelt out inline for literal strings, numbers and booleans and called through the
table otherwise, so the generated code agrees with the ``python`` backend (which
agrees with durable-rules: the differential tests cover every registered backend).

The module defines ``run(facts) -> [(action, {pattern: fact id})]`` in canonical
order. Literals are written with ``repr``, so no rule text is ever code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cdss.rulelang import ir

if TYPE_CHECKING:
    from cdss.rulelang import CompiledRule

#: values a fact can be filed under (hashable JSON scalars)
HASHABLE = (str, int, float, bool)
#: at most this many literals of a field are tested as a tuple when facts are filed
_FEW = 4
_ORDER = {"eq": "==", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

#: the part of the module that is the same for every rule set
_RUNTIME = '''
def run(facts):
    T = {}
    I = {}
    for f in facts:
        t = f["t"]
        same = T.get(t)
        if same is None:
            T[t] = [f]
        else:
            same.append(f)
        file = FILE.get(t)
        if file is not None:
            file(f, I)
    hits = []
    for k in T:
        group = GROUPS.get(k)
        if group is not None:
            group(T, I, hits)
    for k in I:
        group = GROUPS.get(k)
        if group is not None:
            group(T, I, hits)
    if len(hits) > 1:
        hits.sort(key=_RULE)
        if len({hit[0] for hit in hits}) < len(hits):  # a rule matched more than once
            hits.sort(key=_BY_RULE)
    return [match for _, match in hits]
'''


def literal(value: Any) -> str:
    """``value`` as a Python literal (``repr``: never code from a rule)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, str | int | float | bool) or value is None:
        return repr(value)
    raise TypeError(f"not a literal: {value!r}")


class Connectives(ir.Visitor[str]):
    """``all``, ``any`` and ``exists`` as Python expressions over a fact ``var``: shared
    by the matcher's conditions and the missing-data search's bounds (search.py)."""

    def visit_all(self, node: ir.All, var: str, names: dict[str, str]) -> str:
        parts = [c.accept(self, var, names) for c in node.children]
        return "(" + " and ".join(parts) + ")" if parts else "True"

    def visit_any(self, node: ir.Any_, var: str, names: dict[str, str]) -> str:
        parts = [c.accept(self, var, names) for c in node.children]
        return "(" + " or ".join(parts) + ")" if parts else "False"

    def visit_exists(self, node: ir.Exists, var: str, names: dict[str, str]) -> str:
        return f"({literal(node.field)} {'in' if node.present else 'not in'} {var})"


class _Expr(Connectives):
    """A condition as one Python expression over the fact variables: true exactly when
    the IR evaluates to True (an absent field makes a clause false, as in the engine).
    ``var`` names the pattern's fact, ``names`` every earlier pattern's."""

    def __init__(self, constants: list[str]) -> None:
        self.constants = constants

    def constant(self, source: str) -> str:
        """A module-level name bound to ``source`` (evaluated once, at load)."""
        self.constants.append(source)
        return f"_C{len(self.constants) - 1}"

    def visit_all(self, node: ir.All, var: str, names: dict[str, str]) -> str:
        """As :class:`Connectives`, but a run of adjacent comparisons of one field with
        numbers (a range) reads and type-tests the field once."""
        parts: list[str] = []
        children = list(node.children)
        while children:
            run = [children.pop(0)]
            field = _numeric_field(run[0])
            while field is not None and children and _numeric_field(children[0]) == field:
                run.append(children.pop(0))
            if len(run) == 1:
                parts.append(run[0].accept(self, var, names))
                continue
            tests = " and ".join(f"v {_ORDER[c.op]} {literal(c.operand.value)}"  # type: ignore[attr-defined]
                                 for c in run)
            parts.append(f"(type(v := {var}.get({literal(field)})) in _NUM and {tests})")
        return "(" + " and ".join(parts) + ")" if parts else "True"

    def visit_contains(self, node: ir.Contains, var: str, names: dict[str, str]) -> str:
        return (f"((v := {var}.get({literal(node.field)}, _M)) is not _M and "
                f"{literal(node.value)} {'not in' if node.negate else 'in'} v)")

    def visit_in_list(self, node: ir.InList, var: str, names: dict[str, str]) -> str:
        if node.values and all(type(v) is str for v in node.values):
            values = self.constant(f"frozenset(({', '.join(map(literal, node.values))},))")
            inside = f"type(v) is str and v in {values}"
            get = f"(v := {var}.get({literal(node.field)}, _M))"
            if node.negate:
                return f"({get} is not _M and not ({inside}))"
            return f"(type({get}) is str and v in {values})"
        return self.visit_leaf(node, var, names)

    def visit_compare(self, node: ir.Compare, var: str, names: dict[str, str]) -> str:
        field, operand, op = literal(node.field), node.operand, node.op
        if isinstance(operand, ir.Value):
            value = operand.value
            if type(value) is str and op == "eq":
                return f"({var}.get({field}) == {literal(value)})"
            if type(value) is str and op == "ne":
                return f"((v := {var}.get({field}, _M)) is not _M and v != {literal(value)})"
            if type(value) is bool and op in ("eq", "ne"):
                same = "is" if op == "eq" else "is not"
                return f"((v := {var}.get({field}, _M)) is not _M and v {same} {value!r})"
            if type(value) in (int, float) and op in _ORDER:
                return (f"(type(v := {var}.get({field})) in _NUM and "
                        f"v {_ORDER[op]} {literal(value)})")
            return self.visit_leaf(node, var, names)
        other = names[operand.pattern] if isinstance(operand, ir.Ref) else var
        holds = self.constant(f"_OPS[{literal(op)}].holds")
        return (f"((v := {var}.get({field}, _M)) is not _M and "
                f"(w := {other}.get({literal(operand.field)}, _M)) is not _M and "
                f"{holds}(v, w))")

    def visit_leaf(self, node: ir.Leaf, var: str, names: dict[str, str]) -> str:
        """Any other clause: the operator table's ``holds`` on its prepared argument."""
        holds = self.constant(f"_OPS[{literal(node.op)}].holds")
        argument = node.argument
        source = (f"({', '.join(map(literal, argument))},)" if isinstance(argument, tuple)
                  else literal(argument))
        prepared = self.constant(f"_OPS[{literal(node.op)}].prepare({source})")
        return (f"((v := {var}.get({literal(node.field)}, _M)) is not _M and "
                f"{holds}(v, {prepared}))")


def _numeric_field(node: ir.Node) -> str | None:
    """The field of a comparison with a number that ``visit_compare`` writes as
    ``type(v) in _NUM and v <op> number`` (None for any other node)."""
    if isinstance(node, ir.Compare) and isinstance(node.operand, ir.Value) and \
            type(node.operand.value) in (int, float) and node.op in _ORDER:
        return node.field
    return None


def index_key(pattern: ir.Pattern) -> tuple[str, str, Any] | None:
    """The (type, field, literal) a pattern's facts are looked up by, if it demands one."""
    pairs = ir.most_selective_first(pair for pair in ir.literal_equalities(pattern.condition)
                                    if isinstance(pair[1], HASHABLE))
    return (pattern.fact_type, *pairs[0]) if pairs else None


def joined_equality(pattern: ir.Pattern) -> tuple[str, str, str] | None:
    """(field, earlier pattern, its field) of an equality with an earlier pattern's
    field that every fact matching ``pattern`` satisfies (a hash join), if any."""
    def walk(node: ir.Node | None) -> list[tuple[str, str, str]]:
        if isinstance(node, ir.All):
            return [found for child in node.children for found in walk(child)]
        if isinstance(node, ir.Compare) and node.op == "eq" and \
                isinstance(node.operand, ir.Ref):
            return [(node.field, node.operand.pattern, node.operand.field)]
        return []
    found = sorted(walk(pattern.condition))
    return found[0] if found else None


#: one step of a rule's code: a line opening a block, and the first lines of the block
Step = tuple[str, tuple[str, ...]]


def _rule_steps(n: int, rule: CompiledRule, expr: _Expr, present: str) -> list[Step]:
    """Rule ``n``'s code as nested steps (the rule set's order is restored by ``run``):
    its matches appended to ``hits`` as ``(n, (action, bound))`` when the rest of what
    it needs is ``present`` (a Python test, or "" when nothing more)."""
    steps: list[Step] = []
    names: dict[str, str] = {}
    for i, p in enumerate(rule.patterns):
        var = f"f{i}"
        key = index_key(p)
        join = joined_equality(p) if key is None else None
        if key is not None:
            source = f"I.get({_key(key)}, ())"
        elif join is not None:  # the facts whose field equals the earlier fact's
            field, other, other_field = join
            source = (f"(I.get(({literal(p.fact_type)}, {literal(field)}, w), ()) "
                      f"if isinstance(w := {names[other]}.get({literal(other_field)}), "
                      f"_HASHABLE) else T.get({literal(p.fact_type)}, ()))")
        else:
            source = f"T.get({literal(p.fact_type)}, ())"
        distinct = [names[q.name] for q in rule.patterns[:i] if q.fact_type == p.fact_type]
        tests = [f"{var} is not {other}" for other in distinct]
        if p.condition is not None:
            tests.append(p.condition.accept(expr, var, names))
        steps.append((f"for {var} in {source}:", ()))
        if tests:
            steps.append((f"if {' and '.join(tests)}:", ()))
        names[p.name] = var
        if i == 0 and present:
            steps.append((f"if {present}:", ()))
    bound = ", ".join(f"{literal(p.name)}: {names[p.name]}['id']" for p in rule.patterns)
    steps.append((f"# r{n}", (f"hits.append(({n}, ({literal(rule.action)}, {{{bound}}})))",)))
    return steps


#: rules' steps merged where they begin alike: step -> what follows it
Trie = dict[Step, "Trie"]


def _merge(trie: Trie, steps: list[Step]) -> None:
    """Add a rule's steps to ``trie``: a loop or test the same as another rule's (of one
    group: the same code at the same depth) runs once for both."""
    for step in steps:
        trie = trie.setdefault(step, {})


def _emit(trie: Trie, indent: str) -> list[str]:
    """The code of ``trie``: each step's line, its block's first lines, then what
    follows it (a rule's hit, the last step, is a comment and one line)."""
    lines = []
    for (line, first), rest in trie.items():
        inner = indent if line.startswith("#") else indent + "    "
        lines += [indent + line, *(inner + part for part in first), *_emit(rest, inner)]
    return lines


def needs(rule: CompiledRule) -> tuple[Any, ...]:
    """What must be present for the rule to match: each pattern's type and its keys
    (type, field, literal), the first of them the one the rule is filed under."""
    keyed = [(p.fact_type, *pair) for p in rule.patterns
             for pair in ir.most_selective_first(
                 pair for pair in ir.literal_equalities(p.condition)
                 if isinstance(pair[1], HASHABLE))]
    types = list(dict.fromkeys(p.fact_type for p in rule.patterns))
    return tuple(dict.fromkeys([*keyed, *types]))


def _present(wanted: tuple[Any, ...]) -> str:
    """A test that every need but the first (the group's key, present when the group
    runs) is present; a type is left out where a key of that type is needed (a fact is
    filed under a key only when its type is in ``T``)."""
    keyed_types = {key[0] for key in wanted if isinstance(key, tuple)}
    tests = [f"{_key(key)} in I" if isinstance(key, tuple) else f"{_key(key)} in T"
             for key in wanted[1:] if isinstance(key, tuple) or key not in keyed_types]
    return " and ".join(tests)


def module_source(rules: Sequence[CompiledRule]) -> str:
    """The source of the module that finds every match of ``rules``."""
    constants: list[str] = []
    expr = _Expr(constants)
    #: type -> field -> the literals a rule looks it up by (None: every value, a join)
    keyed: dict[str, dict[str, set[Any] | None]] = {}
    groups: dict[Any, Trie] = {}
    for n, rule in enumerate(rules):
        wanted = needs(rule)
        _merge(groups.setdefault(wanted[0], {}), _rule_steps(n, rule, expr,
                                                             _present(wanted)))
        for key in wanted:
            if isinstance(key, tuple):
                values = keyed.setdefault(key[0], {}).setdefault(key[1], set())
                if values is not None:
                    values.add(key[2])
        for p in rule.patterns:
            join = joined_equality(p)
            if join is not None and index_key(p) is None:
                keyed.setdefault(p.fact_type, {})[join[0]] = None
    head = ["# generated by cdss.backends.compiled.codegen from the compiled rules",
            "from cdss.rulelang.ops import OPERATORS as _OPS", "",
            "_M = object()", "_NUM = (int, float)", "_HASHABLE = (str, int, float, bool)",
            "from operator import itemgetter", "_RULE = itemgetter(0)",
            "", "def _BY_RULE(hit):", "    return hit[0], sorted(hit[1][1].items())", ""]
    head += [f"_C{i} = {source}" for i, source in enumerate(constants)]
    body: list[str] = []
    for g, trie in enumerate(groups.values()):
        body += [f"def g{g}(T, I, hits):", *_emit(trie, "    "), ""]
    for i, (t, fields) in enumerate(sorted(keyed.items())):
        body += _filer(i, t, fields)
    tail = ["FILE = {" + ", ".join(f"{literal(t)}: _file{i}"
                                   for i, t in enumerate(sorted(keyed))) + "}",
            "GROUPS = {" + ", ".join(f"{_key(k)}: g{g}" for g, k in enumerate(groups)) + "}",
            "ACTIONS = (" + "".join(f"{literal(r.action)}, " for r in rules) + ")"]
    return "\n".join([*head, "", *body, *tail, _RUNTIME])


def _filer(i: int, fact_type: str, fields: dict[str, set[Any] | None]) -> list[str]:
    """``_file<i>(f, I)``: a fact of ``fact_type`` filed under each (type, field, value)
    a rule looks up: a join's field under any scalar value, another field under the
    literals rules name. A few literals are a tuple (``in`` compares with ``==``: an
    unhashable value, never equal to a literal, raises nothing; facts are JSON values);
    more, a frozenset behind a scalar test. Filing a fact under a key whose literal it
    only equals (1.0 under 1) is as before: every pattern tests its whole condition on
    the facts it looks up."""
    lines = [f"def _file{i}(f, I):"]
    for name, values in sorted(fields.items()):
        if values is None:
            test = f"isinstance(v := f.get({literal(name)}), _HASHABLE)"
        elif len(values) <= _FEW:
            test = f"(v := f.get({literal(name)})) in ({_sorted_literals(values)})"
        else:
            test = (f"isinstance(v := f.get({literal(name)}), _HASHABLE) and "
                    f"v in {{{_sorted_literals(values)}}}")  # a constant frozenset
        lines += [f"    if {test}:", f"        k = ({literal(fact_type)}, {literal(name)}, v)",
                  "        filed = I.get(k)", "        if filed is None:",
                  "            I[k] = [f]", "        else:", "            filed.append(f)"]
    return [*lines, ""]


def _sorted_literals(values: set[Any]) -> str:
    return "".join(f"{literal(v)}, " for v in sorted(values, key=repr))


def _key(key: Any) -> str:
    if isinstance(key, tuple):
        return "(" + ", ".join(map(literal, key)) + ")"
    return literal(key)
