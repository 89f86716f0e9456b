"""Views of an audit: progress bar, summary tables, files, plots and HTML.

Summaries are plain rows computed from the tallies, so ``cdss audit`` writes its CSV
tables and HTML report with the core install; pandas (DataFrames, Parquet) and
matplotlib (plots) come with ``pip install 'cdss[jupyter]'`` and are imported only
when used.
"""

from __future__ import annotations

import csv
import html
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdss.report import plain_text

if TYPE_CHECKING:
    from cdss.audit import AuditResult

#: columns of ``AuditResult.to_pandas()``: one row per suggestion
ROW_COLUMNS = ("encounter_id", "physician", "site", "month", "rule_id", "category", "kind",
               "severity", "codes", "drugs", "title", "input")
#: columns of ``AuditResult.encounters_frame()``: one row per checked encounter
#: (``compliant`` is None when the encounter came without a medical record; ``month`` is
#: ``YYYY-MM`` of its time; ``input`` is where it was read: ``line N``, ``item N``...)
RECORD_COLUMNS = ("encounter_id", "physician", "site", "month", "suggestions", "compliant",
                  "quality_findings", "input")
#: what ``summary()`` and the audit's counters group by
DIMENSIONS = ("rule", "kind", "category", "severity", "physician", "site")
TOP_RULES = 15
SEVERITIES = ("critical", "warning", "info")
#: list-valued columns, joined with this in CSV files
LIST_SEPARATOR = ";"
_JUPYTER = "pip install 'cdss[jupyter]'"


# ---- progress ------------------------------------------------------------------

def progress_bar(inputs: Iterable[Any], progress: bool | None, total: int | None
                 ) -> Iterable[Any]:
    """``inputs`` wrapped in a tqdm bar (the widget in a notebook) unless switched off;
    None shows it only in a terminal or a notebook."""
    if progress is None:
        progress = sys.stderr.isatty() or _in_notebook()
    if not progress:
        return inputs
    from tqdm.auto import tqdm

    return tqdm(inputs, total=total, unit="enc", desc="cdss audit")


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None)
    return get is not None and type(get()).__name__ == "ZMQInteractiveShell"


# ---- summary rows (no pandas needed) ---------------------------------------------

def summary_rows(result: AuditResult) -> dict[str, list[dict[str, Any]]]:
    """Per dimension, one row per value: suggestions, encounters with one, and their
    rate among checked encounters; physician and site rows add compliance."""

    checked = result.checked or 1
    out: dict[str, list[dict[str, Any]]] = {}
    for dim in DIMENSIONS:
        values = {v for d, v in result.tally.suggestions if d == dim}
        values |= {v for d, v in result.tally.checked_by if d == dim}
        rows = []
        for value in values:
            with_one = result.tally.encounters_with[(dim, value)]
            row: dict[str, Any] = {dim: value,
                                   "suggestions": result.tally.suggestions[(dim, value)],
                                   "encounters": with_one, "rate": with_one / checked}
            if dim in ("physician", "site"):
                checked = result.tally.checked_by[(dim, value)]
                records = result.tally.records_by[(dim, value)]
                compliant = result.tally.compliant_by[(dim, value)]
                row.update(checked=checked, records=records, without_record=checked - records,
                           compliant=compliant,
                           compliance=compliant / records if records else None,
                           rate=with_one / checked if checked else None)
            rows.append(row)
        out[dim] = sorted(rows, key=lambda r: (-r["suggestions"], str(r[dim])))
    return out


def summary(result: AuditResult) -> dict[str, Any]:
    """``summary_rows`` as DataFrames indexed by the dimension's value."""
    pd = _pandas()
    out = {}
    for dim, rows in summary_rows(result).items():
        columns = [dim, "suggestions", "encounters", "rate"]
        if dim in ("physician", "site"):
            columns += ["checked", "records", "without_record", "compliant", "compliance"]
        out[dim] = pd.DataFrame(rows, columns=columns).set_index(dim)
    return out


# ---- tables and files ----------------------------------------------------------

def frame(rows: list[dict[str, Any]], columns: tuple[str, ...], kept: bool) -> Any:
    """Rows as a DataFrame with fixed columns."""
    if not kept:
        raise ValueError("this audit kept counts only (keep_rows=False): no rows to show")
    return _pandas().DataFrame(rows, columns=list(columns))


def _tables(result: AuditResult) -> Iterator[tuple[str, tuple[str, ...], list[dict]]]:

    if result.keep_rows:
        yield "suggestions", ROW_COLUMNS, result.rows
        yield "encounters", RECORD_COLUMNS, result.records
    yield "errors", ("input", "encounter_id", "error"), result.errors
    for dim, rows in summary_rows(result).items():
        yield f"summary_by_{dim}", tuple(rows[0]) if rows else (dim,), rows


def write_tables(result: AuditResult, folder: Path, fmt: str) -> list[Path]:
    """Every table of the audit as ``<name>.csv`` or ``<name>.parquet`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, columns, rows in _tables(result):
        path = folder / f"{name}.{fmt}"
        if fmt == "csv":
            _write_csv(path, columns, rows)
        elif fmt == "parquet":
            table = _pandas().DataFrame(rows, columns=list(columns))
            if "encounter_id" in table:  # ids of unreadable inputs may be of any JSON type
                table["encounter_id"] = table["encounter_id"].map(
                    lambda v: None if v is None else str(v))
            table.to_parquet(path, index=False)
        else:
            raise ValueError(f"unknown table format {fmt!r} (csv or parquet)")
        written.append(path)
    return written


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    # UTF-8 with a BOM: Excel on Chinese Windows reads the file as UTF-8, not GBK
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: csv_cell(LIST_SEPARATOR.join(map(str, v))
                                         if isinstance(v, list) else v)
                             for k, v in row.items()})


#: a spreadsheet reads a cell starting with one of these as a formula (CSV injection)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows as text: a string starting like a formula
    gets a leading apostrophe (OWASP "CSV injection"); numbers are left as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _plot_text(text: str) -> str:
    """User text (a physician's name) shown literally by matplotlib: ``$`` would start
    mathtext (``$x^{$`` fails the whole figure), control characters are escaped."""
    return plain_text(text).replace("$", r"\$")


# ---- plots ---------------------------------------------------------------------

def plot(result: AuditResult, top: int = TOP_RULES) -> Any:
    """Top rules, severity mix and compliance by physician, side by side."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"plot needs matplotlib: {_JUPYTER}") from exc
    from matplotlib import rc_context

    from cdss import fonts

    with rc_context(fonts.rc()):  # Chinese names drawn with a CJK font (shipped)
        return _plot(result, top, Figure, fonts)


def _plot(result: AuditResult, top: int, Figure: Any, fonts: Any) -> Any:
    rows = summary_rows(result)
    fig = Figure(figsize=(15, 5), layout="constrained")
    rules_ax, severity_ax, physician_ax = fig.subplots(1, 3)
    ranked = rows["rule"][:top][::-1]
    rules_ax.barh([_plot_text(str(r["rule"])) for r in ranked],
                  [r["suggestions"] for r in ranked])
    rules_ax.set_title(f"Top {len(ranked)} rules (suggestions)")
    rules_ax.tick_params(axis="y", labelsize="small")
    by_severity = {r["severity"]: r["suggestions"] for r in rows["severity"]}
    severity_ax.bar(SEVERITIES, [by_severity.get(s, 0) for s in SEVERITIES],
                    color=["tab:red", "tab:orange", "tab:blue"])
    severity_ax.set_title("Severity mix (suggestions)")
    physicians = sorted((r for r in rows["physician"] if r["records"]),
                        key=lambda r: r["compliance"])
    physician_ax.barh([_plot_text(str(r["physician"])) if r["physician"] else "(not recorded)"
                       for r in physicians],
                      [r["compliance"] or 0 for r in physicians])
    physician_ax.set_xlim(0, 1)
    physician_ax.set_title(f"Compliance by physician (all: "
                           f"{_percent(result.compliance_rate())})")
    # a character no font has is named in a warning (and drawn as a box)
    fonts.warn_missing(t.get_text() for ax in (rules_ax, physician_ax)
                       for t in ax.get_yticklabels())
    return fig


# ---- HTML ----------------------------------------------------------------------

def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.1%}"


def _html_table(rows: list[dict[str, Any]], columns: list[str], limit: int | None = None) -> str:
    def cell(v: Any) -> str:
        if v is None:  # missing (a rate with nothing to judge): never "None"
            return "—"
        if isinstance(v, float):
            return f"{v:.1%}"
        if isinstance(v, str) and "\n" in v:  # a reason line by line, not "\n" shown
            return "<br>".join(html.escape(plain_text(line)) for line in v.splitlines())
        return html.escape(plain_text("(not recorded)" if v == "" else str(v)))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(r.get(c))}</td>" for c in columns) + "</tr>"
                   for r in rows[:limit])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _headline(result: AuditResult) -> str:
    return (f"<p><b>{result.inputs}</b> inputs: <b>{result.checked}</b> checked, "
            f"<b>{len(result.errors)}</b> could not be read (see errors). "
            f"<b>{result.suggestion_count}</b> suggestions. Record compliance "
            f"({result.with_record} with a medical record; no quality finding above info): "
            f"<b>{_percent(result.compliance_rate())}</b>.</p>")


def html_summary(result: AuditResult, limit: int = TOP_RULES) -> str:
    """The notebook view: headline, top rules, severity mix, physicians, errors."""
    rows = summary_rows(result)
    parts = ["<div class='cdss-audit'><h4>cdss audit</h4>", _headline(result),
             "<h5>Top rules</h5>",
             _html_table(rows["rule"], ["rule", "suggestions", "encounters", "rate"], limit),
             "<h5>Severity</h5>",
             _html_table(rows["severity"], ["severity", "suggestions", "encounters", "rate"]),
             "<h5>By physician</h5>",
             _html_table(rows["physician"], ["physician", "records", "compliance",
                                             "suggestions"], limit)]
    if result.errors:
        parts += [f"<h5>Errors (first {min(limit, len(result.errors))})</h5>",
                  _html_table(result.errors, ["input", "encounter_id", "error"], limit)]
    return "".join(parts) + "</div>"


def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"audit tables need pandas: {_JUPYTER}") from exc
    return pd
