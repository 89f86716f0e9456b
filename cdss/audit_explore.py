"""Drilling down into an audit in a notebook: explain, filter and trend.

``result.explain(encounter_id)`` checks one encounter again with its evidence (the audit
itself makes none, to save time); ``result.filter(...)`` narrows an audit to the
encounters behind a count and is an audit result again; ``result.trend(by=...)`` is
compliance by month, with ``.chart()`` the interactive view (Altair: click a bar, see
its encounters) and ``.plot()`` the static matplotlib one. Each has an HTML view that
escapes every text taken from the input.
"""

from __future__ import annotations

import dataclasses
import html
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cdss.batch import LINE_LABEL
from cdss.report import Report, plain_text

if TYPE_CHECKING:
    from cdss.audit import AuditResult

#: what ``trend(by=...)`` groups by besides the month
TREND_BY = (None, "site", "physician")
#: the criteria of ``filter`` and the record field each matches
CRITERIA = ("physician", "site", "month")
#: encounters per bar sent to the interactive chart (the rest are counted, not listed)
CHART_ENCOUNTERS = 200
#: rows of the encounter table under the interactive chart
CHART_TABLE_ROWS = 25
_ALTAIR = "pip install 'cdss[jupyter]' (Altair)"
MISSING = "—"


def _text(value: Any) -> str:
    """A value from the input as safe HTML text ("" shown as not recorded)."""
    if value is None:
        return MISSING
    if value == "":
        return "(not recorded)"
    return html.escape(plain_text(str(value)))


def _percent(rate: float | None) -> str:
    return MISSING if rate is None else f"{rate:.1%}"


# ---- explain -------------------------------------------------------------------

@dataclass
class Explanation:
    """One encounter of an audit: where it was read, who and where, and its report
    (suggestions with evidence) or, when the input cannot be read again, its rows."""

    encounter_id: str
    #: the audit's record of each input with this id (usually one)
    records: list[dict[str, Any]]
    #: the report of each of them, checked again; empty when that was not possible
    reports: list[Report] = field(default_factory=list)
    #: the audit's rows (titles, no evidence) when there are no reports
    rows: list[dict[str, Any]] = field(default_factory=list)
    #: why there is no evidence, when there is none
    note: str | None = None

    @property
    def suggestions(self) -> list[dict[str, Any]]:
        """Every suggestion as a dict (with evidence when checked again)."""
        if self.reports:
            return [s.to_dict(r.lang) for r in self.reports for s in r.suggestions]
        return list(self.rows)

    def __repr__(self) -> str:
        return (f"<Explanation {self.encounter_id!r}: {len(self.suggestions)} suggestion(s)"
                f"{'' if self.reports else ', no evidence'}>")

    def _repr_html_(self) -> str:
        parts = [f"<div class='cdss-explain'><h4>{_text(self.encounter_id)}</h4>"]
        for n, record in enumerate(self.records):
            context = "".join(f"<tr><th>{name}</th><td>{_text(record.get(name))}</td></tr>"
                              for name in ("input", "physician", "site", "month", "compliant",
                                           "suggestions"))
            parts.append(f"<table>{context}</table>")
            if n < len(self.reports):
                parts.append(self.reports[n]._repr_html_())
        if not self.reports:
            if self.note:
                parts.append(f"<p><i>{html.escape(self.note)}</i></p>")
            parts.append(html_table(self.rows, ["rule_id", "severity", "title"]))
        return "".join(parts) + "</div>"


def explain(result: AuditResult, encounter_id: str,
            items: Callable[[Any], Iterator[tuple[str, Any]]]) -> Explanation:
    """See :meth:`cdss.audit.AuditResult.explain`; ``items`` reads the audit's source."""
    if not result.keep_rows:
        raise ValueError("this audit kept counts only (keep_rows=False): no encounters")
    records = [r for r in result.records if r["encounter_id"] == encounter_id]
    if not records:
        raise KeyError(f"no checked encounter has the id {encounter_id!r}")
    wanted = {r["input"] for r in records}
    rows = [r for r in result.rows if r.get("input") in wanted]
    if result.source is None or result.engine is None:
        return Explanation(encounter_id, records, rows=rows,
                           note="the audited inputs cannot be read again (an iterator, or "
                                "read from files): titles only, no evidence")
    engine = result.engine
    if not hasattr(engine, "check"):  # a Dask audit: what builds the workers' engine
        engine = result.engine = engine()
    raws = dict(_read_again(result.source, wanted, items))
    reports = [engine.check(raws[r["input"]], explain_missing=False)
               for r in records if r["input"] in raws]
    if len(reports) < len(records):
        return Explanation(encounter_id, records, rows=rows,
                           note="the input has changed since the audit: titles only")
    return Explanation(encounter_id, records, reports=reports, rows=rows)


def _read_again(source: Any, labels: Collection[str],
                items: Callable[[Any], Iterator[tuple[str, Any]]]
                ) -> Iterator[tuple[str, Any]]:
    """The raw inputs labelled ``labels`` read again from the audit's source (a list
    of JSONL paths labels them ``<path>: line N``)."""
    if isinstance(source, list | tuple) and all(isinstance(p, str) for p in source) \
            and any(LINE_LABEL in label and ": " in label for label in labels):
        for path in source:
            yield from ((f"{path}: {label}", raw) for label, raw in items(path)
                        if f"{path}: {label}" in labels)
        return
    for label, raw in items(source):
        if label in labels:
            yield label, raw


# ---- filter --------------------------------------------------------------------

def _wanted(value: Any) -> set[str] | None:
    if value is None:
        return None
    return {value} if isinstance(value, str) else set(value)


def filter_result(result: AuditResult, *, rule: Any = None, physician: Any = None,
                  month: Any = None, site: Any = None) -> AuditResult:
    """See :meth:`cdss.audit.AuditResult.filter`. Errors have no physician, site or
    month, so a filtered result has none."""
    if not result.keep_rows:
        raise ValueError("this audit kept counts only (keep_rows=False): nothing to filter")
    criteria = {"physician": _wanted(physician), "site": _wanted(site),
                "month": _wanted(month)}
    rules = _wanted(rule)
    records = [r for r in result.records
               if all(want is None or r[name] in want for name, want in criteria.items())]
    inputs = {r["input"] for r in records}
    rows = [r for r in result.rows
            if r["input"] in inputs and (rules is None or r["rule_id"] in rules)]
    if rules is not None:
        firing = {r["input"] for r in rows}
        records = [r for r in records if r["input"] in firing]
    return rebuilt(result, records, rows, errors=[])


def rebuilt(result: AuditResult, records: list[dict[str, Any]], rows: list[dict[str, Any]],
            errors: list[dict[str, Any]]) -> AuditResult:
    """An audit result of the same kind holding these records, rows and errors, its
    counts and tallies worked out from them."""
    tally = type(result.tally)()
    by_input: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_input[row["input"]].append(row)
    for rec in records:
        tally.count(rec["physician"], rec["site"], rec["month"], rec["compliant"],
                    [(r["rule_id"], r["kind"], r["category"], r["severity"])
                     for r in by_input.get(rec["input"], ())])
    judged = [r["compliant"] for r in records if r["compliant"] is not None]
    return dataclasses.replace(result, rows=rows, records=records, errors=errors,
                               checked=len(records), with_record=len(judged),
                               compliant=sum(judged), tally=tally, keep_rows=True)


# ---- trend ---------------------------------------------------------------------

@dataclass
class Trend:
    """Compliance by month (and site or physician): one row per month and group with
    ``checked``, ``records`` (with a medical record), ``compliant``, ``without_record``
    and ``rate`` (None when no record was judged)."""

    by: str | None
    rows: list[dict[str, Any]]
    result: AuditResult = field(repr=False)

    def frame(self) -> Any:
        """The rows as a DataFrame."""
        import pandas as pd

        columns = ["month", *([self.by] if self.by else []), "checked", "records",
                   "compliant", "without_record", "rate"]
        return pd.DataFrame(self.rows, columns=columns)

    def __repr__(self) -> str:
        months = sorted({r["month"] for r in self.rows})
        span = f"{months[0]}..{months[-1]}" if months else "no month"
        return f"<Trend by={self.by or 'all'} {span}: {len(self.rows)} cells>"

    def _repr_html_(self) -> str:
        months = sorted({r["month"] for r in self.rows})
        groups = sorted({r[self.by] for r in self.rows}) if self.by else [""]
        cell = {(r["month"], r[self.by] if self.by else ""): r for r in self.rows}
        head = "".join(f"<th>{_text(g) if self.by else 'all'}</th>" for g in groups)
        body = []
        for month in months:
            tds = []
            for g in groups:
                r = cell.get((month, g))
                tds.append("<td>—</td>" if r is None else
                           f"<td title='{r['compliant']} of {r['records']} records; "
                           f"{r['without_record']} without a record'>"
                           f"{_percent(r['rate'])} <small>(n={r['records']})</small></td>")
            body.append(f"<tr><th>{_text(month)}</th>{''.join(tds)}</tr>")
        caption = f"Record compliance by month{f' and {self.by}' if self.by else ''}"
        return (f"<div class='cdss-trend'><table><caption>{caption}</caption>"
                f"<thead><tr><th>month</th>{head}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table></div>")

    def plot(self) -> Any:
        """A static matplotlib figure: one line per group, rate by month."""
        from matplotlib.figure import Figure

        from cdss.audit_views import _plot_text

        fig = Figure(figsize=(8, 4), layout="constrained")
        ax = fig.subplots()
        groups = sorted({r[self.by] for r in self.rows}) if self.by else [None]
        for g in groups:
            rows = [r for r in self.rows if (g is None or r[self.by] == g)
                    and r["rate"] is not None]
            label = "all" if g is None else (_plot_text(g) or "(not recorded)")
            ax.plot([r["month"] for r in rows], [r["rate"] for r in rows], marker="o",
                    label=label)
        ax.set_ylim(0, 1)
        ax.set_ylabel("compliance")
        ax.set_title("Record compliance by month")
        if self.by:
            ax.legend(fontsize="small")
        return fig

    def chart(self, *, encounters: int = CHART_ENCOUNTERS, table_rows: int = CHART_TABLE_ROWS
              ) -> Any:
        """The interactive view (Altair): compliance bars by month (and group); click a
        bar to list its encounters below it (non-compliant first; up to ``encounters``
        per bar are sent to the chart, ``table_rows`` shown)."""
        try:
            import altair as alt
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(f"the interactive chart needs Altair: {_ALTAIR}") from exc
        by = self.by
        fields = ["month", *([by] if by else [])]
        bars_data = pd.DataFrame([{**r, "rate": r["rate"] if r["rate"] is not None else 0.0}
                                  for r in self.rows if r["records"]])
        listed = chart_encounters(self.result, by, encounters)
        pick = alt.selection_point(fields=fields, empty=False, name="bar")
        tooltip = [*fields, alt.Tooltip("rate:Q", format=".1%"), "records:Q", "compliant:Q",
                   "without_record:Q"]
        bars = alt.Chart(bars_data).mark_bar().encode(
            x=alt.X("month:O", title="month"),
            y=alt.Y("rate:Q", title="compliance", axis=alt.Axis(format="%"),
                    scale=alt.Scale(domain=[0, 1])),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.6)),
            tooltip=tooltip,
            **({"xOffset": alt.XOffset(f"{by}:N"), "color": alt.Color(f"{by}:N")} if by else {}),
        ).add_params(pick).properties(width=max(240, 60 * len(bars_data)), height=220,
                                      title="Record compliance by month (click a bar)")
        base = alt.Chart(pd.DataFrame(listed, columns=[*fields, "encounter_id", "status",
                                                       "physician_", "order"]))
        table = base.transform_filter(pick).transform_window(
            row="row_number()", sort=[alt.SortField("order")]
        ).transform_filter(f"datum.row <= {table_rows}")
        columns = [table.mark_text(align="left").encode(
            y=alt.Y("row:O", axis=None), text=alt.Text(f"{name}:N")
        ).properties(title=title, width=140) for name, title in
            (("encounter_id", "encounter"), ("status", "compliant"), ("physician_", "physician"))]
        return alt.vconcat(bars, alt.hconcat(*columns))


def trend(result: AuditResult, by: str | None = None) -> Trend:
    """See :meth:`cdss.audit.AuditResult.trend` (from the tallies: works on counts-only
    audits too)."""
    if by not in TREND_BY:
        raise ValueError(f"trend by {by!r}: choose one of {TREND_BY}")
    dim = by or "all"
    cells: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: {"checked": 0, "records": 0, "compliant": 0})
    for (measure, d, value, month), n in result.tally.by_month.items():
        if d == dim:
            cells[(month, value)][measure] += n
    rows = []
    for (month, value), c in sorted(cells.items()):
        rows.append({"month": month, **({by: value} if by else {}), **c,
                     "without_record": c["checked"] - c["records"],
                     "rate": c["compliant"] / c["records"] if c["records"] else None})
    return Trend(by, rows, result)


def chart_encounters(result: AuditResult, by: str | None, per_bar: int
                     ) -> list[dict[str, Any]]:
    """The encounters behind each bar (month and group), non-compliant first, at most
    ``per_bar`` of each."""
    if not result.keep_rows:
        return []
    rank = {False: 0, None: 1, True: 2}
    status = {False: "no", None: "no record", True: "yes"}
    grouped: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for rec in result.records:
        grouped[(rec["month"], *([rec[by]] if by else []))].append(rec)
    out = []
    for key, recs in grouped.items():
        recs = sorted(recs, key=lambda r: rank[r["compliant"]])[:per_bar]
        for order, rec in enumerate(recs):
            out.append({"month": key[0], **({by: key[1]} if by else {}),
                        "encounter_id": plain_text(str(rec["encounter_id"])),
                        "status": status[rec["compliant"]],
                        "physician_": plain_text(rec["physician"]) or "(not recorded)",
                        "order": order})
    return out


# ---- HTML ----------------------------------------------------------------------

def html_table(rows: Iterable[dict[str, Any]], columns: list[str]) -> str:
    """Rows as an escaped HTML table."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_text(r.get(c))}</td>" for c in columns) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
