"""Errors raised by cdss.

Every error derives from :class:`CdssError` and a fitting builtin, builds its
message in ``__str__`` from stored fields, and pickles (the batch audit crosses
process boundaries).
"""

from __future__ import annotations

from dataclasses import dataclass


def masked(value: object) -> str:
    """A raw input value as error messages may show it: never the value itself (it may
    be a patient's name or ID number, and messages reach logs and ``errors.csv``), only
    its first 2 characters and its length (``'Zh…' (21 characters)``) or its type."""
    if isinstance(value, str):
        if len(value) <= 2:
            return repr(value)
        return f"'{value[:2]}…' ({len(value)} characters)"
    if value is None or isinstance(value, bool):
        return repr(value)
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


class CdssError(Exception):
    """Base class of every error raised by cdss."""


@dataclass(frozen=True)
class FieldProblem:
    """One bad input field: its path (``prescriptions[0].dose``) and what is wrong."""

    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


class InputError(CdssError, ValueError):
    """The encounter could not be read; names every bad field by its path."""

    def __init__(self, problems: list[FieldProblem] | tuple[FieldProblem, ...]) -> None:
        self.problems: tuple[FieldProblem, ...] = tuple(problems)
        super().__init__(self.problems)

    @property
    def fields(self) -> list[str]:
        """The paths of the bad fields, in input order."""
        return [p.path for p in self.problems]

    def __str__(self) -> str:
        n = len(self.problems)
        head = f"invalid encounter: {n} bad field{'s' if n != 1 else ''}"
        return head + "".join(f"\n  - {p}" for p in self.problems)

    def __reduce__(self):  # keeps the error picklable
        return (type(self), (self.problems,))


class RuleSpecError(CdssError, ValueError):
    """A rule file is invalid; names the file, the rule and the problem."""

    def __init__(self, file: str, rule_id: str | None, problem: str) -> None:
        self.file = file
        self.rule_id = rule_id
        self.problem = problem
        super().__init__(file, rule_id, problem)

    def __str__(self) -> str:
        rule = f" rule '{self.rule_id}'" if self.rule_id else ""
        return f"{self.file}{rule}: {self.problem}"

    def __reduce__(self):
        return (type(self), (self.file, self.rule_id, self.problem))


class KnowledgeError(CdssError, ValueError):
    """A knowledge table is invalid; names the file, the entry and the problem."""

    def __init__(self, file: str, entry: str | None, problem: str) -> None:
        self.file = file
        self.entry = entry
        self.problem = problem
        super().__init__(file, entry, problem)

    def __str__(self) -> str:
        entry = f" entry '{self.entry}'" if self.entry else ""
        return f"{self.file}{entry}: {self.problem}"

    def __reduce__(self):
        return (type(self), (self.file, self.entry, self.problem))


class SiteError(KnowledgeError):
    """A site layer is invalid or asks for what no layer may do; names the layer file,
    the path in it (``rules.disable[0].rule``) and the problem."""

    def __str__(self) -> str:
        path = f" at {self.entry}" if self.entry else ""
        return f"{self.file}{path}: {self.problem}"


class RuleEvaluationError(CdssError, RuntimeError):
    """The rules engine failed while checking an encounter (never silently)."""

    def __init__(self, rule_id: str | None, detail: str) -> None:
        self.rule_id = rule_id
        self.detail = detail
        super().__init__(rule_id, detail)

    def __str__(self) -> str:
        where = f"rule '{self.rule_id}'" if self.rule_id else "engine"
        return f"{where}: {self.detail}"

    def __reduce__(self):
        return (type(self), (self.rule_id, self.detail))
