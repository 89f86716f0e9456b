"""Checking many encounters: ``engine.audit`` for reviewers (batch form of the contract).

Every input comes back either as rows (one per suggestion, possibly none) and one
encounter record, or as an entry in ``errors`` with why; nothing is dropped, and
``checked + len(errors) == inputs``. Whatever goes wrong with one input (not UTF-8, not
JSON, not an encounter, or an internal error of cdss on it) is its error: the run
always completes (see :mod:`cdss.batch`). Counts by rule, kind, category, severity,
physician and site are tallied as the audit goes, so summaries and plots work even
when the rows themselves are not kept (``keep_rows=False``: memory stays flat over a
stream of any length). Tables, files, plots and the HTML view are in
``cdss.audit_views``; Dask in ``cdss.distributed``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdss import audit_explore, audit_views
from cdss.audit_views import DIMENSIONS as DIMENSIONS  # re-exported (moved)
from cdss.audit_views import RECORD_COLUMNS, ROW_COLUMNS
from cdss.batch import BadLine, numbered_lines, record_error
from cdss.models import Encounter
from cdss.report import require_lang

if TYPE_CHECKING:
    from cdss.audit_explore import Explanation, Trend
    from cdss.engine import Checker
    from cdss.report import Suggestion

UNKNOWN = ""  # physician or site not recorded


@dataclass
class Tally:
    """Counts kept while auditing: enough for summaries without the rows."""

    #: suggestions per (dimension, value)
    suggestions: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: encounters with at least one suggestion per (dimension, value)
    encounters_with: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: checked encounters, per physician and per site
    checked_by: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: encounters with a medical record (judged for compliance), and compliant ones
    records_by: Counter[tuple[str, str]] = field(default_factory=Counter)
    compliant_by: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: per (measure, dimension, value, month): "checked", "records" and "compliant"
    #: encounters by month, overall (dimension "all", value "") and per physician and site
    by_month: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        for name in ("suggestions", "encounters_with", "checked_by", "records_by",
                     "compliant_by", "by_month"):
            getattr(self, name).update(getattr(other, name))

    def count(self, physician: str, site: str, month: str, compliant: bool | None,
              suggestions: Iterable[tuple[str, str, str, str]]) -> None:
        """Tally one checked encounter; ``compliant`` None: no medical record was sent;
        ``suggestions``: (rule, kind, category, severity) of each."""
        for key in (("physician", physician), ("site", site)):
            self.checked_by[key] += 1
            if compliant is not None:
                self.records_by[key] += 1
                self.compliant_by[key] += compliant
        for dim, value in (("all", ""), ("physician", physician), ("site", site)):
            self.by_month[("checked", dim, value, month)] += 1
            if compliant is not None:
                self.by_month[("records", dim, value, month)] += 1
                self.by_month[("compliant", dim, value, month)] += compliant
        seen: set[tuple[str, str]] = set()
        for rule, kind, category, severity in suggestions:
            for key in (("rule", rule), ("kind", kind), ("category", category),
                        ("severity", severity), ("physician", physician), ("site", site)):
                self.suggestions[key] += 1
                seen.add(key)
        self.encounters_with.update(seen)


@dataclass
class AuditResult:
    """The outcome of an audit; see the module docstring."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    checked: int = 0
    #: one per checked encounter (see RECORD_COLUMNS); empty when rows are not kept
    records: list[dict[str, Any]] = field(default_factory=list)
    #: checked encounters that carry a medical record (compliance is judged on these)
    with_record: int = 0
    compliant: int = 0
    tally: Tally = field(default_factory=Tally)
    keep_rows: bool = True
    #: what was audited, and the engine (or a function that builds it), for
    #: :meth:`explain`; set when the inputs can be read again (a path or a sequence)
    source: Any = field(default=None, repr=False, compare=False)
    engine: Any = field(default=None, repr=False, compare=False)

    @property
    def inputs(self) -> int:
        """Every input seen: checked plus errors (the counts always add up)."""
        return self.checked + len(self.errors)

    @classmethod
    def combine(cls, parts: Sequence[AuditResult]) -> AuditResult:
        """Parts of one audit, in input order, as one result (for Dask)."""
        out = cls(keep_rows=all(p.keep_rows for p in parts))
        for part in parts:
            out.rows.extend(part.rows)
            out.errors.extend(part.errors)
            out.records.extend(part.records)
            out.checked += part.checked
            out.with_record += part.with_record
            out.compliant += part.compliant
            out.tally.add(part.tally)
        return out

    # ---- compliance ---------------------------------------------------------
    def compliance_rate(self) -> float | None:
        """Share of checked records with no ``quality`` finding above info (the
        "records written correctly" figure that such systems raised from 52% to 84%).
        Encounters sent without a medical record are not records and do not count;
        None when no record was checked."""
        return self.compliant / self.with_record if self.with_record else None

    def compliance_by_physician(self) -> dict[str, dict[str, Any]]:
        """Compliance per physician: records, compliant, rate (not recorded: "")."""
        return self._compliance_by("physician")

    def compliance_by_site(self) -> dict[str, dict[str, Any]]:
        """Compliance per site: records, compliant, rate (not recorded: "")."""
        return self._compliance_by("site")

    def _compliance_by(self, dimension: str) -> dict[str, dict[str, Any]]:
        out = {}
        for (dim, value), records in sorted(self.tally.records_by.items()):
            if dim == dimension:
                compliant = self.tally.compliant_by[(dim, value)]
                out[value] = {"records": records, "compliant": compliant,
                              "rate": compliant / records}
        return out

    # ---- tables, files, plots (cdss.audit_views; pandas/matplotlib optional) ------
    def to_pandas(self) -> Any:
        """One row per suggestion (ROW_COLUMNS) as a DataFrame."""
        return audit_views.frame(self.rows, ROW_COLUMNS, self.keep_rows)

    def encounters_frame(self) -> Any:
        """One row per checked encounter (RECORD_COLUMNS) as a DataFrame."""
        return audit_views.frame(self.records, RECORD_COLUMNS, self.keep_rows)

    def errors_frame(self) -> Any:
        """One row per input that could not be checked: input, encounter_id, error."""
        return audit_views.frame(self.errors, ("input", "encounter_id", "error"), True)

    def summary(self) -> dict[str, Any]:
        """Firing counts and rates by rule, kind, category, severity, physician and
        site (DataFrames keyed by those names); rates are shares of checked encounters."""
        return audit_views.summary(self)

    def to_csv(self, folder: str | Path) -> list[Path]:
        """Write suggestions, encounters, errors and summary tables as CSV files."""
        return audit_views.write_tables(self, Path(folder), "csv")

    def to_parquet(self, folder: str | Path) -> list[Path]:
        """Write suggestions, encounters, errors and summary tables as Parquet files."""
        return audit_views.write_tables(self, Path(folder), "parquet")

    def plot(self, top: int = audit_views.TOP_RULES) -> Any:
        """A matplotlib figure: top rules, severity mix, compliance by physician."""
        return audit_views.plot(self, top)

    def write_report(self, folder: str | Path, *, title: str | None = None,
                     lang: str | None = None, cutoff: str | None = None,
                     engine: Any = None) -> Path:
        """Tables plus ``report.html`` (one self-contained file: run metadata, compliance
        by month with a before/after view from ``cutoff`` (``YYYY-MM``), per-rule
        sections with sample encounters, scorecard, errors), in ``lang`` (default: the
        engine's), for reviewers without Python; needs ``pip install 'cdss[report]'``.
        ``engine``: the engine that ran the audit, when the result does not hold it."""
        from cdss import reporting

        return reporting.write_report(self, Path(folder), title=title, lang=lang,
                                      cutoff=cutoff, engine=engine, read=items)

    def _repr_html_(self) -> str:
        return audit_views.html_summary(self)

    # ---- the notebook: drill down (cdss.audit_explore) ----------------------------
    def explain(self, encounter_id: str) -> Explanation:
        """One encounter's suggestions with their evidence (checked again when the
        inputs can be read again; else the kept rows, without evidence)."""
        return audit_explore.explain(self, encounter_id, items)

    def filter(self, *, rule: Any = None, physician: Any = None, month: Any = None,
               site: Any = None) -> AuditResult:
        """The encounters that match every criterion given (a value or a collection of
        values; ``""``: not recorded), as an AuditResult; with ``rule``, the encounters
        that have a suggestion of that rule and only those suggestions."""
        return audit_explore.filter_result(self, rule=rule, physician=physician,
                                           month=month, site=site)

    def trend(self, by: str | None = None) -> Trend:
        """Compliance by month, overall (``by=None``) or per ``"site"`` or
        ``"physician"``; ``.chart()`` on it is the interactive view."""
        return audit_explore.trend(self, by)

    @property
    def suggestion_count(self) -> int:
        """Suggestions over all checked encounters (counted even when rows are not kept)."""
        return sum(n for (dim, _), n in self.tally.suggestions.items() if dim == "rule")

    def __repr__(self) -> str:
        return (f"<AuditResult inputs={self.inputs} checked={self.checked} "
                f"suggestions={self.suggestion_count}"
                f" errors={len(self.errors)} compliance={_percent(self.compliance_rate())}>")


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.1%}"


# ---------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------

def items(source: Any) -> Iterator[tuple[str, Any]]:
    """(input label, raw encounter) from a JSONL path, a DataFrame or an iterable; the
    lines of a JSONL file are split and decoded as :mod:`cdss.batch` says (a line that is
    not UTF-8 comes as a :class:`~cdss.batch.BadLine`)."""
    if isinstance(source, str | Path) and Path(source).suffix in (".jsonl", ".ndjson"):
        with Path(source).open("rb") as fh:  # streamed, never loaded whole; splits on \n only
            yield from numbered_lines(fh)
        return
    if hasattr(source, "to_dict") and hasattr(source, "iterrows"):  # a pandas DataFrame
        for index, row in zip(source.index, source.to_dict("records"), strict=True):
            yield f"row {index}", {k: v for k, v in row.items() if not _is_missing(v)}
        return
    if isinstance(source, str | bytes | dict):
        raise TypeError("audit takes many encounters: an iterable, a .jsonl path or a DataFrame")
    for n, item in enumerate(source):
        yield f"item {n}", item


def count_hint(source: Any) -> int | None:
    """The number of inputs when known without reading them (for the progress bar)."""
    if isinstance(source, str | Path):  # a path: its length is not a count of lines
        return None
    try:
        return len(source)
    except TypeError:
        return None


#: longest encounter id kept in ``errors`` (an id is not patient data, but the field of a
#: broken record may hold anything)
MAX_ERROR_ID = 128


def _id_of(raw: Any) -> str | int | None:
    """The encounter id of an input that could not be read, when it has a plain one."""
    try:
        if isinstance(raw, str | bytes):
            raw = json.loads(raw)
        found = raw.get("id") if isinstance(raw, dict) else None
        if isinstance(found, str):
            return found[:MAX_ERROR_ID]
        if isinstance(found, int) and not isinstance(found, bool):
            return found if len(str(found)) <= MAX_ERROR_ID else None
    except Exception:  # an unreadable input has no id: never fail on the way to errors
        pass
    return None


def _is_missing(value: Any) -> bool:
    try:
        return value is None or bool(value != value)  # NaN from a DataFrame
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------------------
# The audit loop
# ---------------------------------------------------------------------------------

def audit(engine: Checker, source: Iterable[Any] | str | Path, *, lang: str | None = None,
          progress: bool | None = None, keep_rows: bool = True) -> AuditResult:
    """Check every encounter of ``source``; bad inputs go to ``errors`` with why.

    :param progress: a tqdm bar (the notebook widget in Jupyter); None: only when
        writing to a terminal or notebook; False: never.
    :param keep_rows: False keeps only counts and errors (flat memory on long streams).
    """
    result = audit_items(engine, items(source), lang=lang, progress=progress,
                         keep_rows=keep_rows, total=count_hint(source))
    if _readable_again(source):
        result.source, result.engine = source, engine
    return result


def _readable_again(source: Any) -> bool:
    """Whether :meth:`AuditResult.explain` can read ``source`` again (not a one-shot
    iterator)."""
    return isinstance(source, str | Path | Sequence) or hasattr(source, "iterrows")


def audit_items(engine: Checker, inputs: Iterable[tuple[str, Any]], *, lang: str | None = None,
                progress: bool | None = False, keep_rows: bool = True,
                total: int | None = None) -> AuditResult:
    """The audit of labelled inputs ``(label, raw encounter)``; see :func:`audit`."""
    result = AuditResult(keep_rows=keep_rows)
    shown = require_lang(lang or engine.lang)
    for where, raw in audit_views.progress_bar(inputs, progress, total):
        try:
            if isinstance(raw, BadLine):
                result.errors.append({"input": where, "encounter_id": None,
                                      "error": raw.message(shown)})
                continue
            encounter = engine.parse(raw)  # parsed once: physician and site read from it
            # the suggestions of engine.check; the rows show no evidence, so none is made
            suggestions = engine.findings(encounter, evidence=False)
            titles = [s.text("title", shown) for s in suggestions] if keep_rows else []
        except Exception as exc:  # one bad record is one error; the run goes on
            result.errors.append({"input": where, "encounter_id": _id_of(raw),
                                  "error": record_error(exc, shown)})
            continue
        _add(result, encounter, suggestions, titles, where)
    return result


def month_of(encounter: Encounter) -> str:
    """The encounter's month, ``YYYY-MM``, as its time is written (the clinic's own
    offset): what trends and partitions group by."""
    return encounter.time.strftime("%Y-%m")


def _add(result: AuditResult, encounter: Encounter, suggestions: list[Suggestion],
         titles: list[str], where: str = "") -> None:
    """Tally one checked encounter (and keep its rows, with these titles, when asked);
    nothing here reads the record's text, so a failure cannot leave half a tally."""
    physician = (encounter.record.physician if encounter.record else None) or UNKNOWN
    site = encounter.site or UNKNOWN
    quality = [s.rule_id for s in suggestions
               if s.category == "quality" and s.severity != "info"]
    #: None: no medical record was sent, so there is nothing to judge
    compliant = None if encounter.record is None else not quality
    month = month_of(encounter)
    result.tally.count(physician, site, month, compliant,
                       [(s.rule_id, s.kind, s.category, s.severity) for s in suggestions])
    result.checked += 1
    if compliant is not None:
        result.with_record += 1
        result.compliant += compliant
    if not result.keep_rows:
        return
    result.records.append({"encounter_id": encounter.id, "physician": physician,
                           "site": site, "suggestions": len(suggestions),
                           "compliant": compliant, "quality_findings": quality,
                           "month": month, "input": where})
    for s, title in zip(suggestions, titles, strict=True):
        result.rows.append({"encounter_id": encounter.id, "physician": physician,
                            "site": site, "month": month, "input": where,
                            "rule_id": s.rule_id, "category": s.category,
                            "kind": s.kind, "severity": s.severity, "codes": list(s.codes),
                            "drugs": list(s.drugs), "title": title})
