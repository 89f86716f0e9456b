"""The report's matplotlib figures, as PNG bytes: values written on the bars, Chinese
drawn with :mod:`cdss.fonts` (a missing glyph is warned about, never hidden)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cdss import fonts
from cdss.audit_views import _plot_text
from cdss.reporting.context import percent
from cdss.reporting.labels import LABELS

#: physicians drawn in the per-physician trend (most records first)
TREND_PHYSICIANS = 8
DPI = 90


@contextmanager
def _style() -> Iterator[None]:
    from matplotlib import rc_context

    with rc_context(fonts.rc()):
        yield


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _name(value: str, lang: str) -> str:
    return _plot_text(value) if value else LABELS[lang]["not_recorded"]


def _months_axis(ax: Any, months: list[str]) -> None:
    ax.set_xticks(range(len(months)), months, rotation=45 if len(months) > 8 else 0)
    ax.set_ylim(0, 1.1)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")


def trend(overall: list[dict], by_site: list[dict], by_physician: list[dict],
          cutoff: str | None, lang: str) -> tuple[bytes, list[str]]:
    """The headline: compliance by month overall (bars with values), per site and per
    physician (lines); the cut-off month marked. Returns the PNG and the texts drawn."""
    from matplotlib.figure import Figure

    labels = LABELS[lang]
    months = sorted({r["month"] for r in overall})
    x = {m: i for i, m in enumerate(months)}
    top = sorted({r["physician"] for r in by_physician},
                 key=lambda p: -sum(r["records"] for r in by_physician if r["physician"] == p)
                 )[:TREND_PHYSICIANS]
    drawn = [labels["trend"], labels["trend_overall"], labels["by_site"], labels["by_physician"]]
    with _style():
        fig = Figure(figsize=(11, 10), layout="constrained")
        ax_all, ax_site, ax_phys = fig.subplots(3, 1)
        judged = [r for r in overall if r["rate"] is not None]
        colors = ["tab:green" if cutoff and r["month"] >= cutoff else "tab:blue"
                  for r in judged]
        bars = ax_all.bar([x[r["month"]] for r in judged], [r["rate"] for r in judged],
                          color=colors)
        ax_all.bar_label(bars, labels=[f"{percent(r['rate'])}\nn={r['records']}"
                                       for r in judged], fontsize="small")
        ax_all.set_title(f"{labels['trend']} · {labels['trend_overall']}")
        for ax, rows, by, groups, title in (
                (ax_site, by_site, "site", None, labels["by_site"]),
                (ax_phys, by_physician, "physician", top, labels["by_physician"])):
            for g in groups if groups is not None else sorted({r[by] for r in rows}):
                points = [r for r in rows if r[by] == g and r["rate"] is not None]
                name = _name(g, lang)
                drawn.append(name)
                ax.plot([x[r["month"]] for r in points], [r["rate"] for r in points],
                        marker="o", label=name)
            ax.set_title(title)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize="small", loc="lower right", ncols=2)
        for ax in (ax_all, ax_site, ax_phys):
            _months_axis(ax, months)
            if cutoff and months:
                at = sum(1 for m in months if m < cutoff) - 0.5
                ax.axvline(at, color="grey", linestyle="--")
                ax.text(at, 1.05, f" {labels['cutoff']}: {cutoff}", fontsize="small",
                        color="grey")
        drawn.append(labels["cutoff"])
        fonts.warn_missing(drawn)
        return _png(fig), drawn


def before_after(rows: list[dict], lang: str) -> tuple[bytes, list[str]]:
    """Before and after the cut-off, overall and per site: paired bars with values."""
    from matplotlib.figure import Figure

    labels = LABELS[lang]
    names = [_plot_text(r["group"]) for r in rows]
    drawn = [labels["before_after"], labels["before"], labels["after"], *names]
    with _style():
        fig = Figure(figsize=(max(6, 1.4 * len(rows) + 2), 4), layout="constrained")
        ax = fig.subplots()
        width = 0.38
        for offset, side, color in ((-width / 2, "before", "tab:blue"),
                                    (width / 2, "after", "tab:green")):
            values = [r[side] or 0 for r in rows]
            bars = ax.bar([i + offset for i in range(len(rows))], values, width,
                          label=labels[side], color=color)
            ax.bar_label(bars, labels=[r[f"{side}_text"] for r in rows], fontsize="small")
        ax.set_xticks(range(len(rows)), names)
        ax.set_ylim(0, 1.3)
        ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        ax.set_title(labels["before_after"])
        ax.legend(loc="upper right", ncols=2)
        fonts.warn_missing(drawn)
        return _png(fig), drawn


def physicians(rows: list[dict], lang: str) -> tuple[bytes, list[str]]:
    """Compliance per physician: horizontal bars, rate and record count written on each."""
    from matplotlib.figure import Figure

    labels = LABELS[lang]
    judged = [r for r in rows if r["rate"] is not None]
    names = [_plot_text(r["name"]) for r in judged]
    drawn = [labels["physicians"], *names]
    with _style():
        fig = Figure(figsize=(8, max(2.5, 0.35 * len(judged) + 1)), layout="constrained")
        ax = fig.subplots()
        bars = ax.barh(range(len(judged)), [r["rate"] for r in judged], color="tab:blue")
        ax.bar_label(bars, labels=[f"{r['rate_text']} (n={r['records']})" for r in judged],
                     fontsize="small", padding=2)
        ax.set_yticks(range(len(judged)), names)
        ax.set_xlim(0, 1.25)
        ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        ax.set_title(labels["physicians"])
        fonts.warn_missing(drawn)
        return _png(fig), drawn


def rules(rule_rows: list[dict], severity: dict[str, int], lang: str, top: int = 15
          ) -> tuple[bytes, list[str]]:
    """The rules with the most suggestions, and the severity mix: values on the bars."""
    from matplotlib.figure import Figure

    labels = LABELS[lang]
    ranked = sorted(rule_rows, key=lambda r: -r["suggestions"])[:top][::-1]
    names = [_plot_text(r["id"]) for r in ranked]
    kinds = ("critical", "warning", "info")
    drawn = [labels["top_rules"], labels["severity_mix"], *names, *(labels[k] for k in kinds)]
    with _style():
        fig = Figure(figsize=(13, max(3, 0.3 * len(ranked) + 1)), layout="constrained")
        ax_rules, ax_sev = fig.subplots(1, 2, width_ratios=(3, 1))
        bars = ax_rules.barh(range(len(ranked)), [r["suggestions"] for r in ranked])
        ax_rules.bar_label(bars, fontsize="small", padding=2)
        ax_rules.set_yticks(range(len(ranked)), names, fontsize="small")
        ax_rules.set_title(labels["top_rules"])
        ax_rules.margins(x=0.15)
        bars = ax_sev.bar([labels[k] for k in kinds], [severity.get(k, 0) for k in kinds],
                          color=["tab:red", "tab:orange", "tab:blue"])
        ax_sev.bar_label(bars, fontsize="small")
        ax_sev.margins(y=0.15)
        ax_sev.set_title(labels["severity_mix"])
        fonts.warn_missing(drawn)
        return _png(fig), drawn
