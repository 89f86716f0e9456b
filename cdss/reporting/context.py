"""What the audit report shows, worked out from an :class:`~cdss.audit.AuditResult`:
plain dicts and lists (text still raw: the template escapes it), no HTML here."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdss.audit_explore import _read_again
from cdss.report import evidence_text, plain_text
from cdss.reporting.labels import ERRORS_ZH, LABELS

if TYPE_CHECKING:
    from cdss.audit import AuditResult

MISSING = "—"
#: sample encounters shown per rule, physicians drawn in the trend plot, problems per
#: physician in the scorecard, errors listed
SAMPLES = 5
SCORECARD_TOP = 3
ERRORS_SHOWN = 500
CATEGORIES = ("quality", "diagnosis", "dosing", "followup")
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def percent(rate: float | None) -> str:
    """``0.843`` as ``84.3%``; None as ``—``."""
    return MISSING if rate is None else f"{rate:.1%}"


def shown(value: Any, lang: str) -> str:
    """A value as text: None as ``—``, "" as not recorded, control characters visible."""
    if value is None:
        return MISSING
    if value == "":
        return LABELS[lang]["not_recorded"]
    if isinstance(value, bool):
        return LABELS[lang]["yes" if value else "no"]
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(shown(v, lang) for v in value) or MISSING
    return plain_text(str(value))


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def anchor(rule_id: str) -> str:
    """The HTML id of a rule's section."""
    return "rule-" + re.sub(r"[^A-Za-z0-9_.-]", "_", rule_id)


def _web(url: str | None) -> str | None:
    """A source's URL when it is a web address (never a ``javascript:`` link)."""
    return url if url and re.match(r"https?://", url, re.IGNORECASE) else None


def _generic_title(title: str) -> str:
    """A rule title without its per-encounter placeholders (``{l.hemoglobin}``)."""
    return re.sub(r"\s+", " ", re.sub(r"\{[^}]*\}", "…", title)).strip()


# ---- run metadata and counts ------------------------------------------------------

def metadata(result: AuditResult, engine: Any, lang: str, source: Any, cutoff: str | None
             ) -> list[tuple[str, str]]:
    pins = getattr(engine, "pins", None)
    rules = getattr(engine, "rules", None)
    labels = LABELS[lang]
    return [
        (labels["engine_version"], pins.version if pins else MISSING),
        (labels["knowledge_version"], str(getattr(getattr(engine, "kb", None), "version", None)
                                          or MISSING)),
        (labels["backend"], pins.backend if pins else MISSING),
        (labels["rules_count"], str(len(rules)) if rules is not None else MISSING),
        (labels["rules_sha256"], pins.rules_sha256 if pins else MISSING),
        (labels["knowledge_sha256"], pins.knowledge_sha256 if pins else MISSING),
        (labels["input"], _source_name(source)),
        (labels["generated_at"], datetime.now(UTC).astimezone().isoformat(timespec="seconds")),
        (labels["language"], lang),
        (labels["cutoff"], cutoff or MISSING),
    ]


def _source_name(source: Any) -> str:
    if isinstance(source, str | Path):
        return plain_text(str(source))
    if isinstance(source, list | tuple) and source and all(isinstance(s, str | Path)
                                                           for s in source):
        return ", ".join(plain_text(str(s)) for s in source)
    return MISSING


def counts(result: AuditResult, lang: str) -> list[tuple[str, str, str]]:
    """(key, label, value) of the headline counts."""
    labels = LABELS[lang]
    without = result.checked - result.with_record
    items = [("inputs", result.inputs), ("checked", result.checked),
             ("errors_count", len(result.errors)), ("with_record", result.with_record),
             ("without_record", without), ("compliant", result.compliant),
             ("compliance", percent(result.compliance_rate())),
             ("suggestions", result.suggestion_count)]
    return [(key, labels[key], str(value)) for key, value in items]


# ---- trend and before/after ---------------------------------------------------------

def trend_rows(result: AuditResult, by: str | None) -> list[dict[str, Any]]:
    """Rows of ``result.trend(by)``: month, group, checked, records, compliant,
    without_record, rate."""
    return list(result.trend(by).rows)


def pivot(rows: list[dict[str, Any]], by: str, lang: str) -> dict[str, Any]:
    """A group × month table of rates (``—`` where a group had no record that month)."""
    months = sorted({r["month"] for r in rows})
    groups = sorted({r[by] for r in rows}, key=lambda g: (g == "", g))
    cell = {(r[by], r["month"]): r for r in rows}
    table = []
    for g in groups:
        cells = []
        for m in months:
            r = cell.get((g, m))
            cells.append({"text": percent(r["rate"]) if r else MISSING,
                          "records": r["records"] if r else 0,
                          "without": r["without_record"] if r else 0})
        table.append({"group": shown(g, lang), "cells": cells})
    return {"months": months, "rows": table}


def before_after(rows: list[dict[str, Any]], by: str | None, cutoff: str,
                 lang: str) -> list[dict[str, Any]]:
    """Compliance before ``cutoff`` (a ``YYYY-MM``) and from it on, per group."""
    sums: dict[str, dict[str, int]] = defaultdict(Counter)
    for r in rows:
        g = r[by] if by else ""
        side = "after" if r["month"] >= cutoff else "before"
        sums[g][f"{side}_records"] += r["records"]
        sums[g][f"{side}_compliant"] += r["compliant"]
        sums[g][f"{side}_without"] += r["without_record"]
    out = []
    for g in sorted(sums, key=lambda g: (g == "", g)):
        s = sums[g]
        b = rate(s["before_compliant"], s["before_records"])
        a = rate(s["after_compliant"], s["after_records"])
        out.append({"group": shown(g, lang) if by else LABELS[lang]["all"], "key": g,
                    "before": b, "after": a,
                    "before_text": percent(b), "after_text": percent(a),
                    "before_records": s["before_records"], "after_records": s["after_records"],
                    "before_without": s["before_without"], "after_without": s["after_without"],
                    "change": MISSING if a is None or b is None
                    else f"{(a - b) * 100:+.1f} pp"})
    return out


def check_cutoff(cutoff: str | None) -> str | None:
    """``YYYY-MM`` or None; anything else is a ValueError."""
    if cutoff is None:
        return None
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", cutoff):
        raise ValueError(f"cut-off month {cutoff!r}: expected YYYY-MM")
    return cutoff


# ---- physicians and their record quality ------------------------------------------

def physicians(result: AuditResult, lang: str) -> list[dict[str, Any]]:
    """Per physician: checked, records, without record, compliant, rate, suggestions."""
    tally = result.tally
    names = {v for d, v in tally.checked_by if d == "physician"}
    out = []
    for name in names:
        key = ("physician", name)
        records, compliant = tally.records_by[key], tally.compliant_by[key]
        r = rate(compliant, records)
        out.append({"name": shown(name, lang), "key": name, "checked": tally.checked_by[key],
                    "records": records, "without": tally.checked_by[key] - records,
                    "compliant": compliant, "rate": r, "rate_text": percent(r),
                    "suggestions": tally.suggestions[key]})
    return sorted(out, key=lambda p: (p["rate"] is None, p["rate"] or 0, p["key"]))


def scorecard(result: AuditResult, titles: dict[str, str], lang: str
              ) -> list[dict[str, Any]]:
    """Per physician, the quality findings most often in their records (needs rows)."""
    by: dict[str, Counter[str]] = defaultdict(Counter)
    records: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for rec in result.records:
        if rec["compliant"] is None:
            continue
        records[rec["physician"]] += 1
        failed[rec["physician"]] += rec["compliant"] is False
        by[rec["physician"]].update(set(rec["quality_findings"]))
    out = []
    for name in sorted(records, key=lambda n: (n == "", n)):
        n = records[name]
        top = [{"rule_id": rule, "anchor": anchor(rule), "title": titles.get(rule, rule),
                "count": count,
                "share": percent(count / n)}
               for rule, count in sorted(by[name].items(), key=lambda kv: (-kv[1], kv[0]))
               [:SCORECARD_TOP]]
        out.append({"name": shown(name, lang), "records": n,
                    "rate": percent((n - failed[name]) / n), "top": top})
    return out


# ---- rules ------------------------------------------------------------------------

def rule_info(engine: Any, lang: str) -> dict[str, dict[str, Any]]:
    """Per rule id of the engine: title, category, kind, severity, condition, sources."""
    from cdss.rulelang.describe import rule_condition

    out = {}
    for rule in getattr(engine, "rules", ()) or ():
        spec = rule.spec
        out[rule.id] = {"title": _generic_title(spec.title.get(lang)),
                        "category": spec.category, "kind": spec.kind,
                        "severity": spec.severity, "threshold": rule_condition(rule),
                        "sources": [{"title": r.title, "url": _web(r.url)}
                                    for r in spec.references]}
    return out


def rules(result: AuditResult, info: dict[str, dict[str, Any]], samples: dict[str, list],
          lang: str) -> list[dict[str, Any]]:
    """One section per rule that fired: metadata, counts and sample encounters."""
    tally = result.tally
    checked = result.checked
    kept_title = {r["rule_id"]: r["title"] for r in result.rows}
    kinds = {r["rule_id"]: (r["category"], r["kind"], r["severity"]) for r in result.rows}
    out = []
    for (dim, rule_id), n in tally.suggestions.items():
        if dim != "rule":
            continue
        meta = info.get(rule_id)
        category, kind, severity = (meta["category"], meta["kind"], meta["severity"]) \
            if meta else kinds.get(rule_id, (MISSING, MISSING, MISSING))
        with_one = tally.encounters_with[("rule", rule_id)]
        out.append({"id": rule_id, "anchor": anchor(rule_id),
                    "title": meta["title"] if meta else kept_title.get(rule_id, rule_id),
                    "category": category, "kind": kind, "severity": severity,
                    "threshold": meta["threshold"] if meta else MISSING,
                    "sources": meta["sources"] if meta else [],
                    "suggestions": n, "encounters": with_one,
                    "share": percent(rate(with_one, checked)),
                    "samples": samples.get(rule_id, [])})
    return sorted(out, key=lambda r: (CATEGORIES.index(r["category"])
                                      if r["category"] in CATEGORIES else 9,
                                      -r["suggestions"], r["id"]))


def samples(result: AuditResult, engine: Any, lang: str, read: Any = None,
            per_rule: int = SAMPLES) -> tuple[dict[str, list[dict[str, Any]]], bool]:
    """Up to ``per_rule`` encounters per rule (the first in input order) with message and
    evidence when the inputs can be read again (checked again, as ``explain`` does);
    ``read`` is :func:`cdss.audit.items`; the second value says whether evidence was
    found."""
    chosen: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in result.rows:  # distinct encounters (a rule may fire twice on one)
        picked = chosen[row["rule_id"]]
        if len(picked) < per_rule and row.get("input", row["encounter_id"]) not in picked:
            picked[row.get("input", row["encounter_id"])] = row
    wanted = {label for picked in chosen.values() for label in picked}
    found: dict[str, dict[str, list[dict[str, Any]]]] = {}
    checker = engine if engine is not None and hasattr(engine, "check") else None
    if checker is not None and read is not None and result.source is not None and wanted:
        try:
            for label, raw in _read_again(result.source, wanted, read):
                report = checker.check(raw, lang=lang, explain_missing=False)
                by_rule: dict[str, list[dict[str, Any]]] = defaultdict(list)
                for s in report.suggestions:
                    by_rule[s.rule_id].append(s.to_dict(lang))
                found[label] = by_rule
        except Exception:  # the source changed or vanished: titles only
            found = {}
    out: dict[str, list[dict[str, Any]]] = {}
    for rule_id, picked in chosen.items():
        out[rule_id] = []
        for label, row in picked.items():
            again = found.get(label, {}).get(rule_id, [])
            out[rule_id].append({
                "encounter_id": shown(row["encounter_id"], lang),
                "line": input_label(row.get("input"), lang),
                "physician": shown(row["physician"], lang),
                "messages": [shown(s["message"], lang) for s in again]
                or [shown(row["title"], lang)],
                "evidence": [_evidence(e, lang) for s in again for e in s["evidence"]],
            })
    return out, bool(found)


def _evidence(item: dict[str, Any], lang: str) -> str:
    return plain_text(evidence_text({**item, "field": item.get("field") or MISSING,
                                     "value": shown(item.get("value"), lang)}, lang))


def input_label(label: Any, lang: str) -> str:
    """An input's label in ``lang``: "line 14" is "第 14 行" in Chinese (a file's
    "<path>: line N" keeps its path)."""
    text = shown(label, lang)
    m = re.fullmatch(r"(.*?)(?:: )?line (\d+)", text)
    if m is None:
        return text
    where = LABELS[lang]["input_line"].format(n=m.group(2))
    return f"{m.group(1)}{'：' if lang == 'zh' else ': '}{where}" if m.group(1) else where


def error_lines(reason: str, lang: str) -> list[str]:
    """The lines of an error's reason, in Chinese where its wording is known."""
    out = []
    for line in reason.splitlines():
        if lang == "zh":
            for pattern, replacement in ERRORS_ZH:
                if re.match(pattern, line):
                    # pydantic's lists of choices end "'a' or 'b'"
                    line = re.sub(pattern, replacement, line).replace("' or '", "'或'")
                    break
        out.append(line)
    return out


def followup(rule_sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The follow-up rules' sections (overdue, uncontrolled, due)."""
    return [r for r in rule_sections if r["category"] == "followup"]


def errors(result: AuditResult, lang: str, limit: int = ERRORS_SHOWN
           ) -> list[dict[str, Any]]:
    """The first ``limit`` errors: input line, encounter id, and the reason's lines."""
    return [{"input": input_label(e.get("input"), lang),
             "encounter_id": shown(e.get("encounter_id"), lang),
             "error": [shown(line, lang)
                       for line in error_lines(str(e.get("error") or ""), lang)]
             or [MISSING]} for e in result.errors[:limit]]


def texts_of(*groups: Iterable[str]) -> list[str]:
    return [t for g in groups for t in g]
