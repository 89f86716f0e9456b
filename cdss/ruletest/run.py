"""Run rule cases against an engine; say which rules are tested (``cdss rules test``).

A case passes when the report says what it expects (:func:`check_case`); every report
is also held to what any suggestion owes a clinician: evidence naming its fields, a
filled title and a reference. :func:`run_cases` adds a coverage table: for each rule of
the engine, whether a case makes it fire and whether a near miss keeps it quiet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cdss.engine import Checker
from cdss.report import Report
from cdss.ruletest.cases import Case

Outcome = Literal["pass", "fail", "xfail", "xpass", "error"]


@dataclass(frozen=True)
class CaseResult:
    """What one case found."""

    case: Case
    outcome: Outcome
    problems: list[str] = field(default_factory=list)
    report: Report | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in ("pass", "xfail")


def describe(report: Report) -> str:
    """The report in a few lines (for failure messages)."""
    lines = [f"{s.rule_id} [{s.severity}] {s.text('title', 'en')}" for s in report.suggestions]
    lines += [f"not evaluated: {n.rule_id} {list(n.missing)}" for n in report.not_evaluated]
    return "\n  ".join(["report:", *lines]) if lines else "report: no suggestions"


def check_case(case: Case, report: Report) -> list[str]:
    """What is wrong with the report for this case (empty: the case holds)."""
    problems: list[str] = []
    matching = [s for s in report.suggestions if s.rule_id == case.rule]
    if case.fires and not matching:
        problems.append(f"{case.rule} did not fire")
    if not case.fires and matching:
        problems.append(f"{case.rule} fired on a near miss")
    for s in matching if case.fires else []:
        if case.severity is not None and s.severity != case.severity:
            problems.append(f"severity {s.severity}, expected {case.severity}")
        if case.codes is not None and list(s.codes) != case.codes:
            problems.append(f"codes {list(s.codes)}, expected {case.codes}")
        if case.drugs is not None and sorted(s.drugs) != sorted(case.drugs):
            problems.append(f"drugs {sorted(s.drugs)}, expected {sorted(case.drugs)}")
    fired = {s.rule_id for s in report.suggestions}
    problems += [f"{rule} fired (expected silent)" for rule in case.silent if rule in fired]
    undecided = {n.rule_id for n in report.not_evaluated} | {
        also for n in report.not_evaluated for also in getattr(n, "also", ())}
    problems += [f"{rule} is not reported as not evaluated" for rule in case.not_evaluated
                 if rule not in undecided]
    if case.also is not None:
        category = case.rule.split(".")[0]
        others = sorted({s.rule_id for s in report.suggestions if s.category == category}
                        - {case.rule})
        if others != sorted(case.also):
            problems.append(f"other {category} suggestions {others}, expected "
                            f"{sorted(case.also)}")
    problems += _owed(report)
    return problems


def _owed(report: Report) -> list[str]:
    """What every suggestion owes: evidence with fields, a filled title, a reference."""
    out = []
    for s in report.suggestions:
        if not s.evidence or not all("field" in e for e in s.evidence):
            out.append(f"{s.rule_id}: evidence missing or without a field")
        title = s.text("title", "en")
        if not title or "{" in title:
            out.append(f"{s.rule_id}: unfilled title {title!r}")
        if not s.references or not all(r.get("title") for r in s.references):
            out.append(f"{s.rule_id}: no reference")
    return out


def run_case(engine: Checker, case: Case) -> CaseResult:
    """Check the case's encounter and judge the report (a bad encounter is an error)."""
    try:
        report = engine.check(case.build())
    except Exception as exc:  # a site's case must not stop the run: it is reported
        return CaseResult(case, "error", [f"{type(exc).__name__}: {exc}"])
    problems = check_case(case, report)
    if case.xfail:
        return CaseResult(case, "xfail" if problems else "xpass",
                          problems or ["passes, but is marked xfail"], report)
    return CaseResult(case, "fail" if problems else "pass", problems, report)


@dataclass(frozen=True)
class CoverageRow:
    """Whether a rule has a firing case and a near miss."""

    rule_id: str
    fires: bool
    near_miss: bool

    @property
    def status(self) -> str:
        if self.fires and self.near_miss:
            return "tested"
        if self.fires:
            return "no near miss"
        if self.near_miss:
            return "never fires"
        return "untested"


def coverage(rule_ids: Iterable[str], results: Sequence[CaseResult],
             also_covered: Iterable[str] = ()) -> list[CoverageRow]:
    """One row per rule: proven by a passing case (xfail cases prove nothing).

    ``also_covered``: rules tested elsewhere (the project's knowledge-generated cases).
    """
    proven = [r.case for r in results if r.outcome == "pass"]
    fires = {c.rule for c in proven if c.fires}
    quiet = {c.rule for c in proven if not c.fires}
    extra = set(also_covered)
    return [CoverageRow(rule, rule in fires or rule in extra, rule in quiet or rule in extra)
            for rule in rule_ids]


@dataclass(frozen=True)
class KitResult:
    """Every case's result and the coverage of the engine's rules."""

    results: list[CaseResult]
    coverage: list[CoverageRow]

    @property
    def passed(self) -> bool:
        return all(r.ok for r in self.results)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            out[r.outcome] = out.get(r.outcome, 0) + 1
        return out

    def coverage_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self.coverage:
            out[row.status] = out.get(row.status, 0) + 1
        return out

    def to_text(self, *, all_rules: bool = False) -> str:
        """Failures, then the coverage table (rules not fully tested, or all)."""
        lines: list[str] = []
        for r in self.results:
            if not r.ok:
                lines.append(f"{r.outcome.upper()} {r.case.source} {r.case.id}")
                lines += [f"  {p}" for p in r.problems]
                if r.report is not None:
                    lines.append("  " + describe(r.report).replace("\n", "\n  "))
        rows = [row for row in self.coverage if all_rules or row.status != "tested"]
        if rows:
            width = max(len(row.rule_id) for row in rows)
            lines += ["", f"{'rule':{width}}  fires  near miss  status"]
            lines += [f"{row.rule_id:{width}}  {'yes' if row.fires else 'no':5}  "
                      f"{'yes' if row.near_miss else 'no':9}  {row.status}" for row in rows]
        counts = ", ".join(f"{n} {k}" for k, n in sorted(self.counts().items()))
        cover = ", ".join(f"{n} {k}" for k, n in sorted(self.coverage_counts().items()))
        lines += ["", f"{len(self.results)} cases: {counts or 'none'}",
                  f"{len(self.coverage)} rules: {cover or 'none'}"]
        return "\n".join(lines).lstrip("\n")


def run_cases(engine: Any, cases: Sequence[Case], also_covered: Iterable[str] = ()
              ) -> KitResult:
    """Run every case on the engine and measure which of its rules they cover.

    A case about a rule the engine does not have is an error: it proves nothing.
    """
    known = [r.id for r in engine.rules]
    results = [run_case(engine, case) if case.rule in set(known) else
               CaseResult(case, "error", [f"no rule {case.rule!r} in this engine"])
               for case in cases]
    return KitResult(results, coverage(known, results, also_covered))
