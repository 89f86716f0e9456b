"""The audit report: one self-contained HTML file (plots inline, no network), in
Chinese or English, rendered by Jinja2 with autoescaping (every text from the input is
escaped), plus the audit's tables as CSV (and Parquet with pandas).

Needs ``pip install 'cdss[report]'`` (Jinja2; ``cdss[jupyter]`` includes it); the plots
need matplotlib (``cdss[jupyter]``). See docs/audit-report.md.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdss.report import require_lang

if TYPE_CHECKING:
    from cdss.audit import AuditResult

_REPORT = "pip install 'cdss[report]'"
TEMPLATE = "report.html.j2"


def environment() -> Any:
    """The Jinja2 environment of the package's templates (autoescape on for every
    template, undefined names are errors)."""
    try:
        import jinja2
    except ImportError as exc:
        raise ImportError(f"the HTML report needs Jinja2: {_REPORT}") from exc
    return jinja2.Environment(loader=jinja2.PackageLoader("cdss.reporting", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def render(result: AuditResult, *, title: str | None = None, lang: str = "zh",
           cutoff: str | None = None, engine: Any = None, files: list[Path] = (),
           notes: list[str] = (), read: Any = None) -> str:
    """The report page as a string (see :func:`write_report`)."""
    from cdss.reporting import context as ctx
    from cdss.reporting.labels import LABELS

    lang = require_lang(lang)
    cutoff = ctx.check_cutoff(cutoff)
    labels = LABELS[lang]
    engine = engine if engine is not None else result.engine
    if engine is not None and not hasattr(engine, "rules"):  # a Dask audit's engine factory
        engine = engine()
    notes = list(notes)
    info = ctx.rule_info(engine, lang)
    if not info:
        notes.append(labels["no_engine"])
    samples, evidence = ctx.samples(result, engine, lang, read)
    rules = ctx.rules(result, info, samples, lang)
    titles = {r["id"]: r["title"] for r in rules}
    overall = ctx.trend_rows(result, None)
    by_site = ctx.trend_rows(result, "site")
    by_physician = ctx.trend_rows(result, "physician")
    physicians = ctx.physicians(result, lang)
    ba = (ctx.before_after(overall, None, cutoff, lang)
          + ctx.before_after(by_site, "site", cutoff, lang)) if cutoff else []
    ba_physicians = ctx.before_after(by_physician, "physician", cutoff, lang) if cutoff else []
    severity = {v: n for (d, v), n in result.tally.suggestions.items() if d == "severity"}
    images, missing = _plots(overall, by_site, by_physician, cutoff, ba, physicians, rules,
                             severity, lang)
    if images is None:
        notes.append(labels["no_plots"])
    if missing:
        notes.append(labels["glyphs_missing"].format(chars=" ".join(missing)))
    physician_count = len({r["physician"] for r in by_physician})
    template = environment().get_template(TEMPLATE)
    page = lambda font_face: template.render(  # noqa: E731 - rendered twice, see below
        font_face=font_face,
        L=labels, lang=lang, title=title or labels["title"],
        metadata=ctx.metadata(result, engine, lang, result.source, cutoff),
        counts=ctx.counts(result, lang), cutoff=cutoff,
        overall=overall, site_table=ctx.pivot(by_site, "site", lang),
        physician_table=ctx.pivot(by_physician, "physician", lang),
        before_after=ba, before_after_physicians=ba_physicians,
        physicians=physicians, scorecard=ctx.scorecard(result, titles, lang),
        keep_rows=result.keep_rows, evidence=evidence, rules=rules,
        followup=ctx.followup(rules), errors=ctx.errors(result, lang),
        error_total=len(result.errors), errors_shown=ctx.ERRORS_SHOWN,
        images=images or {}, notes=notes, files=[p.name for p in files],
        percent=ctx.percent, trend_note=labels["other_physicians"].format(
            shown=min(physician_count, _trend_physicians()), total=physician_count)
        if physician_count > _trend_physicians() else None)
    return page(_font_face(page(None)))


def _font_face(page: str) -> str | None:
    """A data URI of the shipped CJK font cut down to the characters of ``page``, so the
    page shows Chinese on a machine with no CJK font (the report stays one file)."""
    from cdss import fonts

    data = fonts.subset_for(page)
    return None if data is None else "data:font/otf;base64," + base64.b64encode(data).decode()


def _trend_physicians() -> int:
    from cdss.reporting.plots import TREND_PHYSICIANS

    return TREND_PHYSICIANS


def _plots(overall: list, by_site: list, by_physician: list, cutoff: str | None, ba: list,
           physicians: list, rules: list, severity: dict, lang: str
           ) -> tuple[dict[str, str] | None, list[str]]:
    """The figures as data URIs (None without matplotlib) and the characters no font has."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return None, []
    from cdss import fonts
    from cdss.reporting import plots

    made = {"trend": plots.trend(overall, by_site, by_physician, cutoff, lang),
            "physicians": plots.physicians(physicians, lang),
            "rules": plots.rules(rules, severity, lang)}
    if ba:
        made["before_after"] = plots.before_after(ba, lang)
    drawn = [t for _, texts in made.values() for t in texts]
    return ({name: "data:image/png;base64," + base64.b64encode(png).decode("ascii")
             for name, (png, _) in made.items()}, fonts.missing_glyphs(drawn))


def write_report(result: AuditResult, folder: Path, *, title: str | None = None,
                 lang: str | None = None, cutoff: str | None = None, engine: Any = None,
                 read: Any = None) -> Path:
    """The audit's tables (CSV, and Parquet with pandas) and ``report.html`` in
    ``folder``; ``cutoff`` (``YYYY-MM``) adds the before/after view; ``lang`` defaults to
    the engine's language; ``read`` reads the audit's source again (``cdss.audit.items``)
    for the sample encounters' evidence."""
    from cdss.audit_views import write_tables
    from cdss.reporting.labels import LABELS

    environment()  # fail before writing anything when Jinja2 is missing
    engine = engine if engine is not None else result.engine
    lang = require_lang(lang or getattr(engine, "lang", None) or "zh")
    folder.mkdir(parents=True, exist_ok=True)
    written = write_tables(result, folder, "csv")
    notes = []
    try:
        written += write_tables(result, folder, "parquet")
    except ImportError:
        notes.append(LABELS[lang]["no_parquet"])
    page = render(result, title=title, lang=lang, cutoff=cutoff, engine=engine,
                  files=written, notes=notes, read=read)
    path = folder / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
