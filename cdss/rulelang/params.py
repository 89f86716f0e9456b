"""Rule parameters and named definitions, expanded before a rule is validated and parsed.

* ``params: {sbp_grade1: 140}`` declares a rule's own numbers once; a condition uses
  one as ``$sbp_grade1`` (a whole scalar) and a text renders it as ``{$sbp_grade1}``.
* ``define: {adult: {fact: patient, if: {age_years: {gte: 18}}}}`` (in
  ``rules/definitions.yaml`` or a rule file) names a condition; a condition uses it as
  ``{use: adult}`` (its fields are merged in place, so the IR is as if written inline).

Expansion returns plain literals, so the parser, the IR, the backends and the
explanations never see a parameter or a definition. Problems are
:class:`cdss.errors.RuleSpecError` naming the file, the rule and the name.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cdss.errors import KnowledgeError, RuleSpecError
from cdss.kb._files import read_yaml, validation_message
from cdss.rulelang.spec import DefinitionsFile, DefinitionSpec

#: the shared definitions, beside the ``<category>/`` folders of a rules folder
DEFINITIONS_FILE = "definitions.yaml"
USE = "use"
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
#: ``$name`` as a whole scalar of a condition
PARAM_REF = re.compile(rf"\$({_NAME})")
#: ``{$name}`` in a text
TEXT_PARAM = re.compile(rf"\{{\$({_NAME})\}}")
#: ``{$band:l.hemoglobin}`` in a text: the rule's own condition on that field of that
#: pattern, rendered (for templates, whose rows write bands of different shapes)
TEXT_BAND = re.compile(rf"\{{\$band:({_NAME})\.({_NAME})\}}")
#: a band's two ends joined, per language (``1至<3``, ``1 to <3``)
_BAND_JOIN = {"zh": "{low}至{high}", "en": "{low} to {high}"}
_BAND_SYMBOLS = {"gte": "", "gt": ">", "lt": "<", "lte": ""}
_SINGLE_SYMBOLS = {"gte": "≥", "gt": ">", "lt": "<", "lte": "≤"}
TEXTS = ("title", "message", "recommendation", "description")
#: the texts a report shows (the lint checks these)
REPORTED = ("title", "message", "recommendation")
LANGS = ("zh", "en")


@dataclass(frozen=True)
class Definition:
    """A named condition on one fact type, and the file that defines it."""

    name: str
    fact: str
    condition: dict[str, Any]
    file: str


class _Problem(ValueError):
    """A problem found while expanding; turned into a RuleSpecError by the caller."""


def format_number(value: int | float, lang: str) -> str:
    """A number as a text of ``lang`` writes it: no trailing ``.0`` (a trailing zero is
    misread tenfold: ISMP), the shortest decimals, thousands grouped in English only."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return f"{value:,}" if lang == "en" and abs(value) >= 10_000 else str(value)
    return repr(value)


def render(text: str, params: Mapping[str, Any], lang: str) -> str:
    """Replace every ``{$name}`` of ``text`` with the parameter, formatted for ``lang``."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in params:
            raise _Problem(f"unknown parameter {m.group(0)}{_known(params)}")
        value = params[name]
        if isinstance(value, bool):
            raise _Problem(f"{m.group(0)} is a boolean; texts render numbers and words")
        return format_number(value, lang) if isinstance(value, int | float) else str(value)

    return TEXT_PARAM.sub(one, text)


def _field_bounds(cond: Any, field: str, out: dict[str, Any]) -> None:
    """The comparisons a condition makes on ``field`` when every one must hold (at the
    top level or under ``all``); under ``any`` a band would not be one range."""
    if isinstance(cond, list):
        for item in cond:
            _field_bounds(item, field, out)
        return
    if not isinstance(cond, dict):
        return
    for key, value in cond.items():
        if key == field:
            if not isinstance(value, dict) or not set(value) <= set(_BAND_SYMBOLS):
                raise _Problem(f"{{$band:…{field}}}: the condition on {field} is not a "
                               "range of gte/gt/lt/lte")
            for op, number in value.items():
                if op in out:
                    raise _Problem(f"{{$band:…{field}}}: {field} is bounded twice by {op}")
                out[op] = number
        elif key == "all":
            _field_bounds(value, field, out)
        elif key == "any" and _mentions(value, field):
            raise _Problem(f"{{$band:…{field}}}: {field} is compared under `any`, not one band")


def _mentions(cond: Any, field: str) -> bool:
    if isinstance(cond, list):
        return any(_mentions(c, field) for c in cond)
    return isinstance(cond, dict) and any(k == field or _mentions(v, field)
                                          for k, v in cond.items())


def render_band(bounds: Mapping[str, Any], lang: str) -> str:
    """``{gte: 1, lt: 3}`` as ``1至<3`` / ``1 to <3``; one end alone as ``<3``."""
    low = [(op, bounds[op]) for op in ("gte", "gt") if op in bounds]
    high = [(op, bounds[op]) for op in ("lt", "lte") if op in bounds]
    if len(low) > 1 or len(high) > 1 or not (low or high):
        raise _Problem(f"cannot render {dict(bounds)} as one band")
    if low and high:
        return _BAND_JOIN[lang].format(
            low=_BAND_SYMBOLS[low[0][0]] + format_number(low[0][1], lang),
            high=_BAND_SYMBOLS[high[0][0]] + format_number(high[0][1], lang))
    op, number = (low or high)[0]
    return _SINGLE_SYMBOLS[op] + format_number(number, lang)


def render_bands(text: str, when: Mapping[str, Any], lang: str) -> str:
    """Replace every ``{$band:pattern.field}`` with the rule's condition on it."""

    def one(m: re.Match[str]) -> str:
        pattern, field = m.groups()
        if not isinstance(when.get(pattern), dict):
            raise _Problem(f"{m.group(0)}: no pattern {pattern!r}")
        bounds: dict[str, Any] = {}
        _field_bounds(when[pattern].get("if"), field, bounds)
        if not bounds:
            raise _Problem(f"{m.group(0)}: pattern {pattern!r} compares no {field}")
        return render_band(bounds, lang)

    return TEXT_BAND.sub(one, text)


def _known(params: Mapping[str, Any]) -> str:
    return f" (params: {', '.join(params)})" if params else " (the rule declares no params)"


# -- definitions ------------------------------------------------------------------------

def _definitions(raw: Mapping[str, DefinitionSpec], file: str) -> dict[str, Definition]:
    return {name: Definition(name, spec.fact, dict(spec.if_), file)
            for name, spec in raw.items()}


@lru_cache(maxsize=8)
def _shared_cached(path: str, _stamp: tuple[int, int]) -> dict[str, Definition]:
    try:
        data = read_yaml(Path(path))
    except KnowledgeError as exc:
        raise RuleSpecError(path, None, f"{DEFINITIONS_FILE}: {exc.problem}") from None
    try:
        parsed = DefinitionsFile.model_validate(data or {})
    except ValidationError as exc:
        raise RuleSpecError(path, None,
                            f"{DEFINITIONS_FILE}: {validation_message(exc)}") from None
    out = _definitions(parsed.define, path)
    _check_definitions(out)
    return out


def shared_definitions(rules_dir: Path) -> dict[str, Definition]:
    """The definitions of ``<rules_dir>/definitions.yaml`` (none when it is absent)."""
    path = rules_dir / DEFINITIONS_FILE
    if not path.is_file():
        return {}
    stat = path.stat()
    return _shared_cached(str(path), (stat.st_mtime_ns, stat.st_size))


def file_definitions(shared: Mapping[str, Definition], define: Mapping[str, DefinitionSpec],
                     file: str) -> dict[str, Definition]:
    """The shared definitions plus a file's own ``define:`` block (no name redefined)."""
    own = _definitions(define, file)
    clash = sorted(set(own) & set(shared))
    if clash:
        raise RuleSpecError(file, None, f"define: {', '.join(clash)} already defined in "
                            f"{shared[clash[0]].file}")
    merged = {**shared, **own}
    _check_definitions(merged)
    return merged


def _check_definitions(definitions: Mapping[str, Definition]) -> None:
    """Every ``use`` inside a definition names a definition of the same fact; no cycle."""
    for definition in definitions.values():
        try:
            _expand_uses(definition.condition, definitions, definition.fact, (definition.name,))
            _no_params(definition.condition)
        except _Problem as exc:
            raise RuleSpecError(definition.file, None, f"{Path(definition.file).name} "
                                f"define.{definition.name}: {exc}") from None


def _no_params(obj: Any) -> None:
    if isinstance(obj, str) and PARAM_REF.fullmatch(obj):
        raise _Problem(f"{obj}: a definition is a plain condition (parameters belong to rules)")
    for child in obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list) else ():
        _no_params(child)


def _expand_uses(cond: Any, definitions: Mapping[str, Definition], fact: str,
                 stack: tuple[str, ...] = ()) -> Any:
    """``cond`` with every ``{use: name}`` replaced by the definition's fields, in place."""
    if isinstance(cond, list):
        return [_expand_uses(c, definitions, fact, stack) for c in cond]
    if not isinstance(cond, dict):
        return cond
    out: dict[str, Any] = {}
    for key, value in cond.items():
        if key in ("all", "any"):
            fields = {key: _expand_uses(value, definitions, fact, stack)}
        elif key == USE:
            fields = {}
            for name in value if isinstance(value, list) else [value]:
                for k, v in _use(name, definitions, fact, stack).items():
                    if k in fields:
                        raise _Problem(f"use: {k} is given by two definitions")
                    fields[k] = v
        else:
            fields = {key: value}
        for k, v in fields.items():
            if k in out or (key == USE and k in cond):
                raise _Problem(f"use: {k} is given by the definition and beside it; join them "
                               "with {all: [...]}")
            out[k] = v
    return out


def _use(name: Any, definitions: Mapping[str, Definition], fact: str,
         stack: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(name, str) or name not in definitions:
        hint = ", ".join(sorted(definitions)) or "none"
        raise _Problem(f"use: unknown definition {name!r} (defined: {hint})")
    if name in stack:
        raise _Problem(f"use: definitions form a cycle: {' -> '.join((*stack, name))}")
    definition = definitions[name]
    if definition.fact != fact:
        raise _Problem(f"use: {name} is a condition on {definition.fact} facts, not {fact}")
    return _expand_uses(copy.deepcopy(definition.condition), definitions, fact,
                        (*stack, name))


# -- parameters -------------------------------------------------------------------------

def _substitute(obj: Any, params: Mapping[str, Any], used: set[str], where: str) -> Any:
    if isinstance(obj, str):
        m = PARAM_REF.fullmatch(obj)
        if m is None:
            return obj
        if m.group(1) not in params:
            raise _Problem(f"{where}: unknown parameter {obj}{_known(params)}")
        used.add(m.group(1))
        return params[m.group(1)]
    if isinstance(obj, list):
        return [_substitute(x, params, used, f"{where}[{i}]") for i, x in enumerate(obj)]
    if isinstance(obj, dict):
        return {k: _substitute(v, params, used, f"{where}.{k}") for k, v in obj.items()}
    return obj


def _params(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _Problem("params: a mapping of name: value")
    for name, value in raw.items():
        if not isinstance(name, str) or not re.fullmatch(_NAME, name):
            raise _Problem(f"params: {name!r} is not a plain name")
        if not isinstance(value, bool | int | float | str):
            raise _Problem(f"params.{name}: a number, word or boolean, not {value!r}")
    return raw


def expand_rule(raw: Any, definitions: Mapping[str, Definition], file: str) -> Any:
    """A rule mapping with its definitions used and its parameters substituted."""
    if not isinstance(raw, dict):
        return raw
    rule = dict(raw)
    try:
        params = _params(rule.get("params"))
        used: set[str] = set()
        when = rule.get("when")
        if isinstance(when, dict):
            patterns = {}
            for name, pattern in when.items():
                if isinstance(pattern, dict) and "if" in pattern:
                    pattern = dict(pattern)
                    cond = _expand_uses(pattern["if"], definitions, str(pattern.get("fact")))
                    pattern["if"] = _substitute(cond, params, used, f"when.{name}.if")
                patterns[name] = pattern
            rule["when"] = patterns
        rule["texts_as_written"] = {part: rule[part] for part in TEXTS if part in rule}
        for part in TEXTS:
            text = rule.get(part)
            if isinstance(text, dict):
                rule[part] = {lang: _render_part(text[lang], params, used, f"{part}.{lang}",
                                                 rule.get("when"))
                              if lang in LANGS and isinstance(text[lang], str) else text[lang]
                              for lang in text}
            elif isinstance(text, str):
                rule[part] = _render_part(text, params, used, part, rule.get("when"))
        unused = [name for name in params if name not in used]
        if unused:
            raise _Problem(f"params: {', '.join(unused)} declared but used nowhere")
    except _Problem as exc:
        raise RuleSpecError(file, str(raw.get("id")), str(exc)) from None
    return rule


def _render_part(text: str, params: Mapping[str, Any], used: set[str], where: str,
                 when: Any) -> str:
    used.update(m.group(1) for m in TEXT_PARAM.finditer(text))
    lang = where.rpartition(".")[2] if "." in where else "en"
    try:
        if TEXT_BAND.search(text):
            text = render_bands(text, when if isinstance(when, dict) else {}, lang)
        return render(text, params, lang)
    except _Problem as exc:
        raise _Problem(f"{where}: {exc}") from None


# -- lint -------------------------------------------------------------------------------

#: a number written in a text (not inside a ``{...}`` placeholder)
_NUMBER = re.compile(r"(?<![A-Za-z\d.])\d+(?:\.\d+)?(?![\d.])")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def condition_numbers(cond: Any) -> set[float]:
    """Every number a condition compares with (its thresholds)."""
    if isinstance(cond, bool):
        return set()
    if isinstance(cond, int | float):
        return {float(cond)}
    if isinstance(cond, dict):
        return set().union(*(condition_numbers(v) for v in cond.values()))
    if isinstance(cond, list):
        return set().union(*(condition_numbers(v) for v in cond))
    return set()


def repeated_thresholds(spec: Any) -> list[str]:
    """Texts of a rule (as written) that spell out a number of its own condition instead
    of rendering a parameter: ``message.en: 140``. Numbers in ``spec.numbers_in_text``
    (each with a reason) are allowed."""
    thresholds: set[float] = set()
    for pattern in spec.when.values():
        thresholds |= condition_numbers(pattern.if_)
    allowed = {float(n) for n in spec.numbers_in_text}
    out = []
    for part, text in spec.texts_as_written.items():
        if part not in REPORTED:
            continue
        langs = text.items() if isinstance(text, dict) else [("", text)]
        for lang, value in langs:
            if not isinstance(value, str):
                continue
            for m in _NUMBER.finditer(_PLACEHOLDER.sub(" ", value)):
                number = float(m.group())
                if number in thresholds and number not in allowed:
                    out.append(f"{part}{'.' + lang if lang else ''}: {m.group()}")
    return out
