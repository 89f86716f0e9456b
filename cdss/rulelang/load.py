"""Load rule files: validate, expand templates, lower to IR.

Every problem is reported as a :class:`cdss.errors.RuleSpecError` naming the file,
the rule and the problem. Nothing in a rule file is evaluated as Python. What a
backend cannot run is that backend's to say: its ``validate`` is passed in (``check``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cdss._resources import rules_dir as bundled_rules_dir
from cdss.derive.schema import FactType, fact_types
from cdss.errors import KnowledgeError, RuleSpecError
from cdss.kb import KnowledgeBase
from cdss.kb._files import read_yaml, validation_message
from cdss.rulelang import ir, params
from cdss.rulelang.parse import ConditionProblem, parse_when
from cdss.rulelang.spec import STATUSES, FindingPolicy, RuleFile, RuleSpec, TemplateSpec

#: a ``{pattern.field}`` placeholder in a rule's texts (checked here, rendered by the
#: explainer)
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\}")
_ROW = re.compile(r"\{row\.([A-Za-z0-9_.]+)\}")
#: values in one rule file once its YAML aliases are expanded (largest bundled: 692)
MAX_FILE_NODES = 20_000
#: values in one template's rule, expanded once per row (largest bundled: under 100)
MAX_TEMPLATE_NODES = 2_000


@dataclass(frozen=True)
class CompiledRule:
    """A validated rule with its IR and its action: the name its matches carry."""

    spec: RuleSpec
    patterns: tuple[ir.Pattern, ...]
    file: str
    action: str

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass(frozen=True)
class RuleSet:
    """Every compiled rule, by action, and what lets facts that no rule can match be
    dropped before matching."""

    rules: tuple[CompiledRule, ...]
    by_action: dict[str, CompiledRule] = field(repr=False)
    #: which suggestion of a group is kept for one finding (``rules/findings.yaml``)
    keep: tuple[str, ...]
    #: fact type -> (field, values): every pattern on the type requires the field to
    #: equal one of these literals, so other facts of the type can match nothing
    prune: dict[str, tuple[str, frozenset[Any]]] = field(default_factory=dict, repr=False)

    def relevant(self, facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The facts some pattern could match (the rest need not reach the engine)."""
        prune = self.prune
        if not prune:
            return facts
        out = []
        for fact in facts:
            rule = prune.get(fact["t"])
            if rule is None or fact.get(rule[0]) in rule[1]:
                out.append(fact)
        return out


def _row_value(row: dict[str, Any], path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(path)
        value = value[part]
    return value


def _substitute(obj: Any, row: dict[str, Any]) -> Any:
    if isinstance(obj, str):
        whole = _ROW.fullmatch(obj)
        if whole:
            return _row_value(row, whole.group(1))
        return _ROW.sub(lambda m: str(_row_value(row, m.group(1))), obj)
    if isinstance(obj, list):
        return [_substitute(x, row) for x in obj]
    if isinstance(obj, dict):
        return {_substitute(k, row): _substitute(v, row) for k, v in obj.items()}
    return obj


def _template_rows(template: TemplateSpec, kb: KnowledgeBase) -> list[dict[str, Any]]:
    tables = {
        "interactions": kb.interactions,
        "drugs": tuple(kb.drugs.values()),
        "classes": tuple(kb.classes.values()),
        "duplicates": kb.duplicates,
        "allergy_cross": kb.allergy_cross,
        "contraindications": kb.contraindications,
    }
    if template.over == "rows":
        return [dict(r) for r in template.rows]
    return [row.model_dump(mode="json") for row in tables[template.over]]


def _size(obj: Any) -> int:
    """Values in ``obj`` with shared references counted every time (as expanded)."""
    if isinstance(obj, dict):
        return 1 + sum(_size(k) + _size(v) for k, v in obj.items())
    if isinstance(obj, list):
        return 1 + sum(_size(x) for x in obj)
    return 1


def _expand(template: TemplateSpec, kb: KnowledgeBase, file: str) -> list[dict[str, Any]]:
    if _size(template.rule) > MAX_TEMPLATE_NODES:
        raise RuleSpecError(file, str(template.rule.get("id")), f"the template's rule has more "
                            f"than {MAX_TEMPLATE_NODES:,} values (it is copied once per row)")
    out = []
    for row in _template_rows(template, kb):
        if any((row.get(column) is None) != (want == "absent")
               for column, want in template.where.items()):
            continue
        try:
            rule = _substitute(template.rule, row)
        except KeyError as exc:
            raise RuleSpecError(file, str(template.rule.get("id")),
                                f"template field row.{exc.args[0]} is not a column of "
                                f"{template.over}") from None
        severity = rule.get("severity")
        if isinstance(severity, str) and severity in template.severity_map:
            rule["severity"] = template.severity_map[severity]
        out.append(rule)
    return out


def _check_placeholders(spec: RuleSpec, types: dict[str, FactType], file: str) -> None:
    bound = {name: types[p.fact] for name, p in spec.when.items() if p.fact in types}
    for part in ("title", "message", "recommendation"):
        text = getattr(spec, part)
        for lang in ("zh", "en"):
            for m in PLACEHOLDER.finditer(getattr(text, lang)):
                name, fld = m.groups()
                if name not in bound:
                    raise RuleSpecError(file, spec.id, f"{part}.{lang}: placeholder {m.group(0)} "
                                        f"names no pattern (patterns: {', '.join(bound)})")
                if fld not in bound[name].fields:
                    raise RuleSpecError(file, spec.id, f"{part}.{lang}: placeholder {m.group(0)}:"
                                        f" {bound[name].name} facts have no field {fld!r}")
            if "{row." in getattr(text, lang):
                raise RuleSpecError(file, spec.id, f"{part}.{lang}: row placeholder outside "
                                    "a template")


def _rule_dicts(path: Path, kb: KnowledgeBase, definitions_root: Path | None = None
                ) -> list[dict[str, Any]]:
    file = str(path)
    try:
        data = read_yaml(path, max_nodes=MAX_FILE_NODES)
    except KnowledgeError as exc:
        raise RuleSpecError(file, None, exc.problem) from None
    try:
        parsed = RuleFile.model_validate(data or {})
    except ValidationError as exc:
        raise RuleSpecError(file, None, validation_message(exc)) from None
    rules = [dict(r) for r in parsed.rules]
    for template in parsed.templates:
        rules.extend(_expand(template, kb, file))
    definitions = params.file_definitions(
        params.shared_definitions(definitions_root or path.parent.parent), parsed.define, file)
    rules = [params.expand_rule(rule, definitions, file) for rule in rules]
    category = path.parent.name
    defaults = (parsed.governance.model_dump(exclude_unset=True)
                if parsed.governance is not None else {})
    for rule in rules:
        for name, value in defaults.items():
            rule.setdefault(name, value)
        rule.setdefault("category", category)
        if rule["category"] != category:
            raise RuleSpecError(file, str(rule.get("id")), f"category {rule['category']!r} "
                                f"does not match the folder {category!r}")
    return rules


def compile_rule(raw: dict[str, Any], file: str, kb: KnowledgeBase,
                 types: dict[str, FactType], action: str) -> CompiledRule:
    """Validate one rule mapping and lower it to IR."""
    rule_id = str(raw.get("id")) if isinstance(raw, dict) else None
    try:
        spec = RuleSpec.model_validate(raw)
    except ValidationError as exc:
        raise RuleSpecError(file, rule_id, validation_message(exc)) from None
    try:
        patterns = parse_when(spec.when, types, kb)
    except ConditionProblem as exc:
        raise RuleSpecError(file, spec.id, str(exc)) from None
    _check_placeholders(spec, types, file)
    return CompiledRule(spec, patterns, file, action)


def rule_files(rules_dir: Path) -> list[Path]:
    """Rule files in a stable order: ``<category>/<name>.yaml``."""
    return sorted(rules_dir.glob("*/*.yaml"))


#: a backend's ``validate``: what it cannot run of the compiled rules
Check = Callable[[Sequence[CompiledRule]], list[RuleSpecError]]


def compile_all(rules_dir: Path, kb: KnowledgeBase, check: Check | None = None,
                extra: tuple[Path, ...] = ()
                ) -> tuple[list[CompiledRule], list[RuleSpecError]]:
    """Compile every rule, collecting every problem instead of stopping at the first;
    ``check`` (a backend's ``validate``) adds what the backend cannot run; ``extra``:
    more rules folders (a site's own rules), compiled after ``rules_dir`` with its
    shared definitions (a rule id may not repeat one of ``rules_dir``)."""
    types = fact_types(kb)
    compiled: list[CompiledRule] = []
    problems: list[RuleSpecError] = []
    seen: dict[str, str] = {}
    if not rules_dir.exists():
        return [], [RuleSpecError(str(rules_dir), None, "rules folder not found")]
    if not rules_dir.is_dir():
        return [], [RuleSpecError(str(rules_dir), None, "not a folder (a rules folder holds "
                                  "<category>/<name>.yaml files)")]
    files = [(path, rules_dir) for path in rule_files(rules_dir)]
    files += [(path, folder) for folder in extra for path in rule_files(folder)]
    for path, root in files:
        rel = path.relative_to(root.parent).as_posix()
        try:
            raws = _rule_dicts(path, kb, rules_dir)
        except RuleSpecError as exc:
            problems.append(RuleSpecError(rel, exc.rule_id, exc.problem))
            continue
        for raw in raws:
            try:
                rule = compile_rule(raw, rel, kb, types, f"r{len(compiled):04d}")
            except RuleSpecError as exc:
                problems.append(exc)
                continue
            if rule.id in seen:
                problems.append(RuleSpecError(rel, rule.id, f"duplicate rule id (first in "
                                              f"{seen[rule.id]})"))
                continue
            seen[rule.id] = rel
            compiled.append(rule)
    names = {r.id for r in compiled} | {r.spec.group for r in compiled if r.spec.group}
    for rule in compiled:
        for name in rule.spec.supersedes:
            if name.partition("@")[0] not in names:
                problems.append(RuleSpecError(rule.file, rule.id, f"supersedes {name!r}: no "
                                              "rule or group of that name"))
    if compiled and check is not None:
        problems.extend(check(compiled))
    elif not compiled and not problems:  # a pack of 0 rules would check nothing, silently
        problems.append(RuleSpecError(str(rules_dir), None, "no rules found (expected "
                                      "<category>/<name>.yaml files with rules)"))
    return compiled, problems


#: the statuses whose rules an engine runs unless told otherwise
DEFAULT_STATUSES: frozenset[str] = frozenset({"production", "testing"})


#: a change of the compiled rules before they run (a site's layers: cdss.site)
Adjust = Callable[[list[CompiledRule]], list[CompiledRule]]


def build_ruleset(rules_dir: Path, kb: KnowledgeBase, check: Check | None = None, *,
                  statuses: Collection[str] = DEFAULT_STATUSES,
                  adjust: Adjust | None = None, extra: tuple[Path, ...] = ()) -> RuleSet:
    """Compile every rule file; raise the first problem (``cdss rules lint`` lists all).

    ``check``: a backend's ``validate`` (see :func:`compile_all`); ``statuses``: the
    life-cycle statuses of the rules kept (a pack keeping none is a ``RuleSpecError``);
    ``adjust``: a change of the compiled rules (a site's disables and severities).
    """
    unknown = sorted(set(statuses) - set(STATUSES))
    if unknown:
        raise RuleSpecError(str(rules_dir), None, f"unknown rule status {unknown[0]!r} "
                            f"(statuses: {', '.join(STATUSES)})")
    compiled, problems = compile_all(rules_dir, kb, check, extra)
    if problems:
        if len(problems) == 1:
            raise problems[0]
        raise RuleSpecError(problems[0].file, problems[0].rule_id,
                            problems[0].problem + f" (and {len(problems) - 1} more problems; "
                            "run `cdss rules lint`)")
    if adjust is not None:  # disables and re-levels name any rule, whatever its status
        compiled = adjust(compiled)
    compiled = [rule for rule in compiled if rule.spec.status in statuses]
    if not compiled:
        raise RuleSpecError(str(rules_dir), None, "no rule has a status of "
                            f"{', '.join(sorted(statuses))}")
    policy = finding_policy(rules_dir)
    return RuleSet(tuple(compiled), {r.action: r for r in compiled}, policy.keep,
                   _pruning(compiled))


#: which suggestion of a group is kept, beside the ``<category>/`` folders
FINDINGS_FILE = "findings.yaml"


def finding_policy(rules_dir: Path) -> FindingPolicy:
    """The finding policy of a rules folder (the bundled one when it has none)."""
    path = rules_dir / FINDINGS_FILE
    if not path.is_file():
        path = bundled_rules_dir() / FINDINGS_FILE
    try:
        return FindingPolicy.model_validate(read_yaml(path) or {})
    except ValidationError as exc:
        raise RuleSpecError(str(path), None, validation_message(exc)) from None
    except KnowledgeError as exc:
        raise RuleSpecError(str(path), None, exc.problem) from None


def _pruning(rules: list[CompiledRule]) -> dict[str, tuple[str, frozenset[Any]]]:
    """Fact types whose every pattern demands ``field == literal`` on one shared field."""
    by_type: dict[str, list[set[tuple[str, Any]]]] = {}
    for rule in rules:
        for p in rule.patterns:
            by_type.setdefault(p.fact_type, []).append(ir.literal_equalities(p.condition))
    out: dict[str, tuple[str, frozenset[Any]]] = {}
    for fact_type, keyed in by_type.items():
        # a flag (at_dose == true, which every rx_key pattern demands) prunes nothing
        # worth having, and would drop the facts whose flag is missing, which the
        # missing-data reasoning must see
        shared = set.intersection(*({f for f, v in eqs if not isinstance(v, bool)}
                                    for eqs in keyed))
        if shared:  # the shared field with the most values prunes most
            name = max(sorted(shared), key=lambda f: len(
                {repr(v) for eqs in keyed for g, v in eqs if g == f}))
            values = frozenset(v for eqs in keyed for f, v in eqs if f == name)
            out[fact_type] = (name, values)
    return out
