"""Acceptance panels of sparse, van-style encounters (cdss issue #11 "Proof").

``tests/cases/sparse/sparse_positive.yaml`` holds encounters on which a clinician expects a
word, ``tests/cases/sparse/sparse_negative.yaml`` encounters on which a clinician expects no
suggestion above info. Both are written from guideline criteria, not from what the engine
does today; see the header of each file for the entry format.

Besides one test per case, the panel as a whole must reach a sensitivity (positives whose
every expectation is met) and a specificity (negatives without a warning or critical
suggestion beyond their ``allow`` list) of at least 0.95 each.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml

import cdss

PANELS = Path(__file__).parent / "cases" / "sparse"
SEVERITY = {"info": 0, "warning": 1, "critical": 2}
MIN_CASES = 45
TARGET = 0.95

#: Prefixes of the input paths a ``not_evaluated[].missing`` entry may name (contract
#: section 2 and docs/contract-additions.md): anything else is not an input a van can send.
ALLOWED_MISSING_PREFIXES = (
    "patient.", "vitals.", "labs.", "record.", "prescriptions[", "symptoms", "history.",
    "knowledge.",
)
#: Whole top-level parts and fields of the contract's encounter, named as such when the
#: part itself is absent (a van that sends no ``record`` at all, no ``visit_type``).
ALLOWED_MISSING_EXACT = frozenset({
    "record", "visit_type", "vitals", "labs", "symptoms", "prescriptions", "history",
})

MATCHER_KEYS = {"category", "kind", "drug", "code", "rule_id"}


def _load(name: str) -> list[dict[str, Any]]:
    with open(PANELS / name, encoding="utf-8") as fh:
        return yaml.safe_load(fh)["cases"]


POSITIVES = _load("sparse_positive.yaml")
NEGATIVES = _load("sparse_negative.yaml")
ALL = [("positive", c) for c in POSITIVES] + [("negative", c) for c in NEGATIVES]


def _case_id(case: dict[str, Any]) -> str:
    return case["encounter"]["id"]


@pytest.fixture(scope="module")
def engine() -> cdss.Engine:
    return cdss.Engine(lang="en")


@pytest.fixture(scope="module")
def reports(engine: cdss.Engine) -> dict[str, cdss.Report]:
    """One report per panel encounter, computed once for the module."""
    return {_case_id(c): engine.check(c["encounter"]) for _, c in ALL}


# ------------------------------------------------------------------ judging one case

def _at_least(s: Any, min_severity: str) -> bool:
    return SEVERITY[s.severity] >= SEVERITY[min_severity]


def _glob_hits(item: str | list[str], suggestions: list[Any]) -> list[Any]:
    globs = [item] if isinstance(item, str) else list(item)
    return [s for s in suggestions if any(fnmatch.fnmatchcase(s.rule_id, g) for g in globs)]


def _matcher_hits(matcher: dict[str, str], suggestions: list[Any]) -> list[Any]:
    def ok(s: Any) -> bool:
        return all([
            matcher.get("category") in (None, s.category),
            matcher.get("kind") in (None, s.kind),
            "drug" not in matcher or matcher["drug"] in s.drugs,
            "code" not in matcher or matcher["code"] in s.codes,
            "rule_id" not in matcher or fnmatch.fnmatchcase(s.rule_id, matcher["rule_id"]),
        ])
    return [s for s in suggestions if ok(s)]


def positive_misses(case: dict[str, Any], report: Any) -> list[str]:
    """The expectations of a positive case that no suggestion meets (empty = pass)."""
    floor = case.get("min_severity", "warning")
    strong = [s for s in report.suggestions if _at_least(s, floor)]
    misses = []
    for item in case.get("expect", []):
        if not _glob_hits(item, strong):
            weak = _glob_hits(item, report.suggestions)
            note = f" (present below {floor}: {[s.severity for s in weak]})" if weak else ""
            misses.append(f"expect {item!r} >= {floor}{note}")
    for matcher in case.get("expect_any", []):
        if not _matcher_hits(matcher, strong):
            weak = _matcher_hits(matcher, report.suggestions)
            note = f" (present below {floor}: {[s.rule_id for s in weak]})" if weak else ""
            misses.append(f"expect_any {matcher} >= {floor}{note}")
    return misses


def negative_offenders(case: dict[str, Any], report: Any) -> list[Any]:
    """Suggestions above info on a negative case that its ``allow`` list does not permit."""
    allowed = [a["rule"] for a in case.get("allow", [])]
    return [s for s in report.suggestions
            if SEVERITY[s.severity] >= SEVERITY["warning"]
            and not any(fnmatch.fnmatchcase(s.rule_id, g) for g in allowed)]


def foreign_missing_paths(report: Any) -> list[tuple[str, str]]:
    """(rule id, path) of every ``not_evaluated`` path that is not a contract input path."""
    return [(n.rule_id, m) for n in report.not_evaluated for m in n.missing
            if not (m.startswith(ALLOWED_MISSING_PREFIXES) or m in ALLOWED_MISSING_EXACT)]


def describe(case: dict[str, Any], report: Any) -> str:
    """A readable account of a report, for failure messages."""
    lines = [f"{_case_id(case)}: {case['title']}", f"  why: {case['why']}", "  suggestions:"]
    lines += [f"    {s.severity:8} {s.rule_id:55} {s.text('title', 'en')}"
              for s in report.suggestions] or ["    (none)"]
    lines.append("  not_evaluated:")
    lines += [f"    {n.rule_id} missing {list(n.missing)}"
              + (f" (+{len(n.also)} more)" if n.also else "")
              for n in report.not_evaluated] or ["    (none)"]
    return "\n".join(lines)


# ------------------------------------------------------------------ panel shape

@pytest.mark.parametrize("cases", [POSITIVES, NEGATIVES], ids=["positive", "negative"])
def test_panel_is_large_enough_and_well_formed(cases: list[dict[str, Any]]) -> None:
    assert len(cases) >= MIN_CASES
    ids = [_case_id(c) for c in cases]
    assert len(ids) == len(set(ids)), "encounter ids must be unique"
    for case in cases:
        assert case.get("title") and case.get("why"), _case_id(case)
        assert {"id", "time", "patient"} <= set(case["encounter"]), _case_id(case)


def test_positive_cases_state_what_they_expect() -> None:
    for case in POSITIVES:
        assert case.get("expect") or case.get("expect_any"), _case_id(case)
        assert case.get("min_severity", "warning") in SEVERITY, _case_id(case)
        for matcher in case.get("expect_any", []):
            assert matcher and set(matcher) <= MATCHER_KEYS, (_case_id(case), matcher)


def test_negative_cases_are_quiet_cases_with_reasoned_exceptions() -> None:
    for case in NEGATIVES:
        assert case.get("expect_quiet") is True, _case_id(case)
        for allowed in case.get("allow", []):
            assert allowed.get("rule") and allowed.get("reason"), (_case_id(case), allowed)


def test_case_ids_do_not_collide_across_panels() -> None:
    assert not {_case_id(c) for c in POSITIVES} & {_case_id(c) for c in NEGATIVES}


# ------------------------------------------------------------------ valid input

@pytest.mark.parametrize("kind,case", ALL, ids=[_case_id(c) for _, c in ALL])
def test_encounter_is_valid_and_drugs_resolve(engine: cdss.Engine, kind: str,
                                             case: dict[str, Any]) -> None:
    cdss.Encounter.parse(case["encounter"])          # raises InputError if invalid
    for i, rx in enumerate(case["encounter"].get("prescriptions", [])):
        assert engine.kb.resolve_drug(rx["drug"]) is not None, \
            f"{_case_id(case)}: prescriptions[{i}].drug {rx['drug']!r} is not in knowledge"


@pytest.mark.parametrize("kind,case", ALL, ids=[_case_id(c) for _, c in ALL])
def test_not_evaluated_names_only_input_paths(reports: dict[str, Any], kind: str,
                                              case: dict[str, Any]) -> None:
    bad = foreign_missing_paths(reports[_case_id(case)])
    assert not bad, f"{_case_id(case)}: missing paths outside the contract: {bad}"


# ------------------------------------------------------------------ the verdicts

@pytest.mark.parametrize("case", POSITIVES, ids=[_case_id(c) for c in POSITIVES])
def test_positive(reports: dict[str, Any], case: dict[str, Any]) -> None:
    report = reports[_case_id(case)]
    misses = positive_misses(case, report)
    assert not misses, "\n".join(["missed: " + "; ".join(misses), describe(case, report)])


@pytest.mark.parametrize("case", NEGATIVES, ids=[_case_id(c) for c in NEGATIVES])
def test_negative(reports: dict[str, Any], case: dict[str, Any]) -> None:
    report = reports[_case_id(case)]
    offenders = negative_offenders(case, report)
    assert not offenders, "\n".join(
        ["not quiet: " + ", ".join(f"{s.rule_id} ({s.severity})" for s in offenders),
         describe(case, report)])


def test_aggregate_sensitivity_and_specificity(reports: dict[str, Any]) -> None:
    missed = [_case_id(c) for c in POSITIVES if positive_misses(c, reports[_case_id(c)])]
    noisy = [_case_id(c) for c in NEGATIVES if negative_offenders(c, reports[_case_id(c)])]
    sensitivity = 1 - len(missed) / len(POSITIVES)
    specificity = 1 - len(noisy) / len(NEGATIVES)
    summary = (f"sensitivity {sensitivity:.3f} ({len(POSITIVES) - len(missed)}/{len(POSITIVES)}), "
               f"specificity {specificity:.3f} ({len(NEGATIVES) - len(noisy)}/{len(NEGATIVES)})\n"
               f"  missed positives: {missed}\n  noisy negatives: {noisy}")
    print(summary)
    assert sensitivity >= TARGET and specificity >= TARGET, summary


# ------------------------------------------------------------------ the judge itself

def _fake(rule_id: str, severity: str, category: str = "diagnosis", kind: str = "x",
          drugs: tuple[str, ...] = (), codes: tuple[str, ...] = ()) -> Any:
    return cdss.report.Suggestion(rule_id, "1", category, kind, severity, {}, (), codes,
                                  drugs, ())


class _FakeReport:
    def __init__(self, *suggestions: Any) -> None:
        self.suggestions = list(suggestions)
        self.not_evaluated: list[Any] = []


def test_judge_positive_needs_every_item_at_the_severity_floor() -> None:
    case = {"expect": ["diagnosis.anaemia.*", ["a.b", "diagnosis.ckd.g4*"]],
            "expect_any": [{"category": "dosing", "drug": "digoxin"}]}
    full = _FakeReport(_fake("diagnosis.anaemia.women_moderate", "warning"),
                       _fake("diagnosis.ckd.g4", "warning"),
                       _fake("dosing.renal.egfr_reduce", "warning", "dosing", "renal",
                             drugs=("digoxin",)))
    assert positive_misses(case, full) == []
    weak = _FakeReport(_fake("diagnosis.anaemia.women_mild", "info"),
                       _fake("diagnosis.ckd.g4", "warning"),
                       _fake("dosing.renal.egfr_reduce", "warning", "dosing", "renal",
                             drugs=("metformin",)))
    assert len(positive_misses(case, weak)) == 2
    assert positive_misses({"expect": ["x.*"], "min_severity": "critical"},
                           _FakeReport(_fake("x.y", "warning")))


def test_judge_negative_counts_warnings_not_info_and_honours_allow() -> None:
    case = {"expect_quiet": True, "allow": [{"rule": "followup.*", "reason": "r"}]}
    assert negative_offenders(case, _FakeReport(_fake("diagnosis.bmi.obese", "info"),
                                                _fake("followup.due.x", "warning"))) == []
    assert negative_offenders(case, _FakeReport(_fake("dosing.renal.x", "warning")))


def test_judge_missing_paths_must_be_contract_inputs() -> None:
    report = _FakeReport()
    report.not_evaluated = [
        cdss.report.NotEvaluated("r.ok", ("labs.creatinine", "vitals.sbp (implausible)",
                                          "prescriptions[0].drug (not in knowledge)",
                                          "knowledge.drugs.digoxin.oral.max_daily", "record")),
        cdss.report.NotEvaluated("r.bad", ("derived.egfr", "recordx", "rx.daily_dose")),
    ]
    assert foreign_missing_paths(report) == [("r.bad", "derived.egfr"), ("r.bad", "recordx"),
                                             ("r.bad", "rx.daily_dose")]
