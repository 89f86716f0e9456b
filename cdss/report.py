"""Suggestions and reports (contract section 3), and their renderings.

A :class:`Report` keeps both languages; ``lang`` only chooses what is shown.
Renderings: ``to_dict``/``to_json`` (the contract), ``to_cds_hooks`` (HL7 CDS Hooks
2.0 cards), ``to_text`` (terminals), ``_repr_html_`` (Jupyter).
"""

from __future__ import annotations

import html
import json
import re
import uuid
from dataclasses import dataclass, field, fields
from typing import Any

from cdss import units
from cdss.rulelang.ops import evidence_condition

SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
#: severity as the Chinese text form names it (docs/severity.md)
_SEVERITY_ZH = {"critical": "危急", "warning": "警告", "info": "提示"}


def severity_word(severity: str, lang: str) -> str:
    """A severity as text forms show it: 警告 in Chinese, WARNING in English."""
    return _SEVERITY_ZH[severity] if lang == "zh" else severity.upper()
_CARD_NAMESPACE = uuid.UUID("6f1f0a52-8a54-4bde-9d0c-3c2b1f0c5d11")
#: the longest card summary: CDS Hooks 2.0 requires fewer than 140 characters
_SUMMARY_MAX = 139
LANGS = ("zh", "en")


def _hidden_in(entry: dict[str, Any], lang: str) -> dict[str, Any]:
    """A hidden suggestion as shown in the report's language."""
    return {"rule_id": entry["rule_id"], "severity": entry["severity"],
            "title": entry["title"][lang], "hidden_by": dict(entry["hidden_by"])}


def card_extension(s: Suggestion) -> dict[str, Any]:
    """What a card carries beyond the spec: how much it should interrupt (apart from
    the indicator, cds-hooks/docs#22), a repeat the patient already overrode, and what
    site layers changed."""
    out: dict[str, Any] = {}
    if s.stop is not None:
        out["cdss.stop"] = s.stop
    if s.repeat is not None:
        out["cdss.repeat"] = dict(s.repeat)
    if s.site:
        out["cdss.site"] = [dict(c) for c in s.site]
    return out


def require_lang(lang: str) -> str:
    """``lang`` if it is one of LANGS; a ValueError naming it otherwise."""
    if lang not in LANGS:
        raise ValueError(f"lang must be 'zh' or 'en', got {lang!r}")
    return lang


@dataclass(frozen=True)
class Suggestion:
    """One explained finding: what, why (evidence and threshold), what to do, source."""

    rule_id: str
    rule_version: str
    category: str
    kind: str
    severity: str
    #: {"zh": {"title", "message", "recommendation"}, "en": {...}}
    texts: dict[str, dict[str, str]]
    evidence: tuple[dict[str, Any], ...]
    codes: tuple[str, ...]
    drugs: tuple[str, ...]
    references: tuple[dict[str, Any], ...]
    #: ids of the facts the rule matched (the finding's subject); used for dedup
    subject: tuple[str, ...] = ()
    group: str | None = None
    #: drug-class keys the rule names; within a group the most specific rule wins
    specificity: int = 0
    #: "complete": decided on the data given; "regardless": data was missing but the
    #: finding holds whatever it is; "conditional": holds only if the stated context
    #: does (cdss.reasoning)
    certainty: str = "complete"
    #: what the finding rests on beyond the data given: each {"field", "label": {zh,
    #: en}, "assumed": {zh, en}} (a missing field, the condition, or an inference)
    assumptions: tuple[dict[str, Any], ...] = ()
    #: groups and rule ids (``@topic``: about that topic only) whose suggestions this one
    #: replaces when both are made
    supersedes: tuple[str, ...] = ()
    #: how much the alert interrupts: "hard", "soft" or "none" (rules/alerting.yaml and
    #: site layers); None for a suggestion not made by an engine
    stop: str | None = None
    #: what site layers changed about it: each {"level", "change", "reason", "author"}
    site: tuple[dict[str, Any], ...] = ()
    #: a repeat the patient already overrode: {"overridden_at", "reason", "window_days",
    #: "stop_was"}
    repeat: dict[str, Any] | None = None
    #: what would clear it: alternatives, each {"all": [{field, op, value, unit, now}]}
    #: (:mod:`cdss.clearing`); the words are ``texts[lang]["clear"]``
    clear_when: tuple[dict[str, Any], ...] = ()

    def sort_key(self) -> tuple[Any, ...]:
        return (SEVERITY_RANK[self.severity], self.category, self.rule_id, self.subject)

    @classmethod
    def from_fields(cls, values: dict[str, Any]) -> Suggestion:
        """A suggestion from a dict of every one of its fields, in field order (taken
        over, not copied): ``Suggestion(**values)`` without ``__init__``'s
        ``object.__setattr__`` per field (the explainer makes one per firing).

        :raises TypeError: if ``values`` does not name exactly the fields, in order.
        """
        if tuple(values) != _SUGGESTION_FIELDS:
            raise TypeError(f"Suggestion fields expected in order, got {tuple(values)}")
        new = object.__new__(cls)
        object.__setattr__(new, "__dict__", values)
        return new

    @classmethod
    def _from_literal(cls, values: dict[str, Any]) -> Suggestion:
        """:meth:`from_fields` without its check, for a dict written out in field order
        in the source (the explainer's; a test compares its keys with the fields)."""
        new = object.__new__(cls)
        object.__setattr__(new, "__dict__", values)
        return new

    def alerted(self, stop: str | None, repeat: dict[str, Any] | None,
                site: tuple[dict[str, Any], ...]) -> Suggestion:
        """A copy with its alerting fields set: ``dataclasses.replace`` without
        re-running ``__init__`` over every field (the engine does this for every
        suggestion of every check)."""
        new = object.__new__(Suggestion)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(stop=stop, repeat=repeat, site=site)
        return new

    def text(self, part: str, lang: str = "zh") -> str:
        return self.texts[lang][part]

    def to_dict(self, lang: str = "zh") -> dict[str, Any]:
        t = self.texts[lang]
        return {
            "rule_id": self.rule_id, "rule_version": self.rule_version,
            "category": self.category, "kind": self.kind, "severity": self.severity,
            "title": t["title"], "message": t["message"], "recommendation": t["recommendation"],
            "evidence": [dict(e) for e in self.evidence], "codes": list(self.codes),
            "drugs": list(self.drugs), "references": [dict(r) for r in self.references],
            "certainty": self.certainty,
            "assumed": [{"field": a["field"], "label": a["label"][lang],
                         "assumed": a["assumed"][lang], "inferred": bool(a.get("inferred"))}
                        for a in self.assumptions],
            **({"clear_when": [{"all": [dict(c) for c in a["all"]]} for a in self.clear_when]}
               if self.clear_when else {}),
            **({"stop": self.stop} if self.stop is not None else {}),
            **({"site": [dict(c) for c in self.site]} if self.site else {}),
            **({"repeat": dict(self.repeat)} if self.repeat is not None else {}),
        }

    def __repr__(self) -> str:
        return f"<Suggestion rule={self.rule_id!r} severity={self.severity!r}>"


#: the fields of a suggestion, in order (:meth:`Suggestion.from_fields`)
_SUGGESTION_FIELDS = tuple(f.name for f in fields(Suggestion))

#: the orders a finding policy may keep by (``rules/findings.yaml``)
_KEEP_ORDERS: dict[str, Any] = {
    "specificity": lambda s: s.specificity,
    "severity": lambda s: SEVERITY_RANK[s.severity],
}


def deduplicate(suggestions: list[Suggestion], keep: tuple[str, ...]) -> list[Suggestion]:
    """One suggestion per finding, in the contract's order.

    Two matches of a rule on the same facts (a symmetric join found both ways) are one
    finding; rules sharing a ``group`` describe one finding, of which the first by the
    rule set's ``keep`` orders (``rules/findings.yaml``: specificity, then severity) is
    kept.
    """
    orders = [_KEEP_ORDERS[name] for name in keep]
    ordered = sorted(suggestions, key=lambda s: (*(o(s) for o in orders), s.sort_key()))
    seen: set[tuple[Any, ...]] = set()
    out = []
    for s in ordered:
        subject = frozenset(s.subject)
        key = ("group", s.group, subject) if s.group else ("rule", s.rule_id, subject)
        if key in seen:
            continue
        seen.add(key)
        out.append(s)
    # one card per clinical problem: an urgent referral replaces the routine re-check
    replaced = [name for s in out for name in s.supersedes]
    if replaced:
        out = [s for s in out if not any(_replaces(name, s) for name in replaced)]
    return sorted(out, key=Suggestion.sort_key)


def _replaces(name: str, s: Suggestion) -> bool:
    """``name`` (a rule id or group, optionally ``@<topic>``: only findings whose subject
    is that topic, such as ``followup_control@hypertension``) names suggestion ``s``."""
    target, _, topic = name.partition("@")
    if target not in (s.rule_id, s.group):
        return False
    return not topic or any(key.endswith(f":{topic}") for key in s.subject)


@dataclass(frozen=True)
class NotEvaluated:
    """A rule that could not be checked, and the input fields it lacked."""

    rule_id: str
    missing: tuple[str, ...]
    #: other rules of the same group that lack the same data (one entry per finding)
    also: tuple[str, ...] = ()
    #: the missing data would change a suggestion for this patient: worth collecting
    #: now (shown to the clinician in ``missing_data``); False: a knowledge gap or a rule
    #: that is unlikely to apply (kept for auditors)
    ask: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule_id": self.rule_id, "missing": list(self.missing),
                               "ask": self.ask}
        if self.also:
            out["also"] = list(self.also)
        return out


@dataclass(frozen=True)
class MissingData:
    """A piece of data worth collecting now, and the rules it would settle."""

    field: str
    label: dict[str, str]  # {"zh", "en"}
    rules: tuple[str, ...]

    def to_dict(self, lang: str) -> dict[str, Any]:
        return {"field": self.field, "label": self.label[lang], "rules": list(self.rules)}


def missing_summary(items: list[MissingData], lang: str) -> str:
    """"缺少：血钾、妊娠状态" / "Missing: serum potassium, pregnancy status"."""
    if not items:
        return ""
    if lang == "zh":
        return "缺少：" + "、".join(m.label["zh"] for m in items)
    return "Missing: " + ", ".join(m.label["en"] for m in items)


@dataclass(frozen=True)
class Report:
    """The result of checking one encounter."""

    encounter_id: str
    engine: dict[str, Any]
    suggestions: list[Suggestion]
    not_evaluated: list[NotEvaluated] = field(default_factory=list)
    notes: list[dict[str, str]] = field(default_factory=list)
    derived: dict[str, dict[str, Any]] = field(default_factory=dict)
    lang: str = "zh"
    #: the data worth collecting now (from the ``ask`` entries of ``not_evaluated``)
    missing_data: list[MissingData] = field(default_factory=list)
    #: what the report was computed from (:mod:`cdss.receipt`); None when built by hand
    receipt: dict[str, Any] | None = None
    #: suggestions a site layer's minimum severity kept off the screen (never dropped):
    #: each {"rule_id", "severity", "title", "hidden_by": {level, change, reason, author}}
    hidden: list[dict[str, Any]] = field(default_factory=list)

    def with_lang(self, lang: str) -> Report:
        """The same report shown in another language ("zh" or "en")."""
        return Report(self.encounter_id, self.engine, self.suggestions, self.not_evaluated,
                      self.notes, self.derived, require_lang(lang), self.missing_data,
                      self.receipt, self.hidden)

    # ---- JSON ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The contract's report JSON (plus ``derived`` and ``lang``)."""
        notes = [{"field": n["field"],
                  "message": n["message_zh"] if self.lang == "zh" else n["message"]}
                 for n in self.notes]
        return {
            "encounter_id": self.encounter_id,
            "engine": dict(self.engine),
            "lang": self.lang,
            "suggestions": [s.to_dict(self.lang) for s in self.suggestions],
            "not_evaluated": [n.to_dict() for n in self.not_evaluated],
            "missing_data": [m.to_dict(self.lang) for m in self.missing_data],
            "missing_summary": missing_summary(self.missing_data, self.lang),
            "notes": notes,
            "derived": self.derived,
            **({"hidden": [_hidden_in(h, self.lang) for h in self.hidden]}
               if self.hidden else {}),
            **({"receipt": dict(self.receipt)} if self.receipt is not None else {}),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    # ---- CDS Hooks -------------------------------------------------------------
    def to_cds_hooks(self) -> dict[str, Any]:
        """HL7 CDS Hooks 2.0 ``{"cards": [...]}``; card uuids are stable per finding."""
        cards = []
        for s in self.suggestions:
            t = s.texts[self.lang]
            summary = plain_text(t["title"])
            summary = _short_summary(summary)
            # CDS Hooks 2.0: a short source label; the citation goes to detail and links
            source: dict[str, Any] = {"label": "cdss", "topic": {
                "system": "https://github.com/cdss/cdss/rules", "code": s.rule_id}}
            card_id = uuid.uuid5(_CARD_NAMESPACE,
                                 f"{self.encounter_id}|{s.rule_id}|{'|'.join(s.subject)}")
            card: dict[str, Any] = {
                "uuid": str(card_id),
                "summary": summary,
                "indicator": s.severity,
                "detail": _markdown_detail(s, self.lang),
                "source": source,
            }
            links = [{"label": r["title"][:100], "url": r["url"], "type": "absolute"}
                     for r in s.references if r.get("url")]
            if links:  # the spec forbids empty arrays
                card["links"] = links
            extension = card_extension(s)
            if extension:  # namespaced keys, as the spec reserves `extension` for
                card["extension"] = extension
            cards.append(card)
        if self.missing_data:  # one short card: the data that would settle the rest
            summary = missing_summary(self.missing_data, self.lang)
            rules = sorted({r for m in self.missing_data for r in m.rules})
            cards.append({
                "uuid": str(uuid.uuid5(_CARD_NAMESPACE, f"{self.encounter_id}|missing|"
                                       + "|".join(m.field for m in self.missing_data))),
                "summary": _short_summary(summary),
                "indicator": "info",
                "detail": _markdown_escape(summary) + "\n\n" + (
                    "补充后可评估：" if self.lang == "zh" else "Would settle: ")
                + ", ".join(f"`{r}`" for r in rules),
                "source": {"label": "cdss", "topic": {
                    "system": "https://github.com/cdss/cdss/rules", "code": "missing_data"}},
            })
        return {"cards": cards}

    # ---- text and HTML ---------------------------------------------------------
    def to_text(self) -> str:
        """A readable plain-text form for terminals and logs."""
        zh = self.lang == "zh"
        lines = [f"{'就诊' if zh else 'Encounter'} {self.encounter_id}: "
                 f"{len(self.suggestions)} {'条提示' if zh else 'suggestion(s)'}"]
        for s in self.suggestions:
            t = s.texts[self.lang]
            level = severity_word(s.severity, self.lang)
            lines.append(f"  [{level}] {t['title']}  ({s.rule_id})")
            lines.append(f"      {t['message']}")
            lines.append(f"      → {t['recommendation']}")
            for e in s.evidence:
                lines.append(f"      · {evidence_text(e, self.lang)}")
            if t.get("clear"):
                lines.append(f"      {'解除条件' if zh else 'Clears when'}: {t['clear']}")
        if self.missing_data:
            lines.append(f"  {missing_summary(self.missing_data, self.lang)}")
        if self.not_evaluated:
            n = len(self.not_evaluated)
            lines.append(f"  另有{n}条规则因数据或知识不足未评估（见 JSON 的 not_evaluated）" if zh
                         else f"  {n} rule(s) not evaluated for lack of data or knowledge "
                              "(see not_evaluated in the JSON)")
        for n in self.notes:
            lines.append(f"  {'注' if zh else 'note'}: {n['field']}: "
                         f"{n['message_zh'] if zh else n['message']}")
        # user text (names, free text, ids) may hold terminal escapes or line breaks
        return "\n".join(plain_text(line) for line in lines)

    __str__ = to_text

    def _repr_html_(self) -> str:
        zh = self.lang == "zh"
        colour = {"critical": "#b00020", "warning": "#b26a00", "info": "#1f5fa8"}
        rows = []
        for s in self.suggestions:
            t = s.texts[self.lang]
            ev = "<br>".join(_html(evidence_text(e, self.lang)) for e in s.evidence)
            refs = "<br>".join(
                (f'<a href="{html.escape(r["url"])}">{html.escape(r["title"])}</a>'
                 if r.get("url") else html.escape(r["title"])) for r in s.references)
            rows.append(
                f'<tr><td style="color:{colour[s.severity]};font-weight:bold">{s.severity}</td>'
                f"<td><b>{_html(t['title'])}</b><br>{_html(t['message'])}"
                f"<br><i>{_html(t['recommendation'])}</i></td><td>{ev}</td>"
                f"<td>{refs}</td><td><code>{html.escape(s.rule_id)}</code></td></tr>")
        head = ("<tr><th>级别</th><th>提示</th><th>依据</th><th>来源</th><th>规则</th></tr>" if zh
                else "<tr><th>severity</th><th>suggestion</th><th>evidence</th><th>source</th>"
                     "<th>rule</th></tr>")
        missing = "".join(f"<li><code>{html.escape(n.rule_id)}</code>: "
                          f"{html.escape(', '.join(n.missing))}</li>" for n in self.not_evaluated)
        title = _html(f"{self.encounter_id}: {len(self.suggestions)}")
        wanted = (f"<p><b>{html.escape(missing_summary(self.missing_data, self.lang))}</b></p>"
                  if self.missing_data else "")
        return (f"<div><h4>cdss report {title}</h4><table>{head}{''.join(rows)}</table>{wanted}"
                + (f"<details><summary>{'未能评估' if zh else 'not evaluated'} "
                   f"({len(self.not_evaluated)})</summary><ul>{missing}</ul></details>"
                   if self.not_evaluated else "") + "</div>")

    def __repr__(self) -> str:
        return (f"<Report encounter={self.encounter_id!r} suggestions={len(self.suggestions)} "
                f"not_evaluated={len(self.not_evaluated)}>")


def evidence_text(e: dict[str, Any], lang: str = "en") -> str:
    """One evidence item in words: ``vitals.sbp = 400 mmHg (outside 50–300)``; in
    Chinese the operator words and word units are Chinese (``超出可信范围 50–300``)."""
    value = e.get("value")
    unit = f" {units.shown(e['unit'], lang)}" if e.get("unit") else ""
    cond = (f" ({evidence_condition(str(e['condition']), lang)})" if e.get("condition")
            else "")
    text = f"{e['field']} = {value}{unit}{cond}"
    if "derivation" in e:
        d = e["derivation"]
        inputs = ", ".join(f"{k}={v}" for k, v in d.get("inputs", {}).items())
        text += f"; {d.get('formula', '')} [{inputs}]"
    return text


#: C0 and C1 control characters (ANSI escapes start with ESC or CSI), DEL, and the
#: Unicode line/paragraph separators and bidirectional overrides that reorder a line
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def plain_text(text: str) -> str:
    """``text`` with every control character shown as a visible escape (``\\x1b``):
    an ANSI sequence in a name cannot recolour or rewrite a terminal, a line break
    cannot forge a line of the report."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _html(text: str) -> str:
    return html.escape(plain_text(text))


#: ``:`` and ``@`` too: GFM's autolink extension links ``https://x`` and ``a@b.c`` in
#: plain text even when their dots are escaped
_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|<>~$&:@"})


def _short_summary(text: str) -> str:
    """A card summary within the spec's limit, cut with an ellipsis when longer."""
    return text if len(text) <= _SUMMARY_MAX else text[: _SUMMARY_MAX - 1] + "…"


def _markdown_escape(text: str) -> str:
    """Text shown literally in CommonMark (user text never becomes markup)."""
    return plain_text(text).translate(_MARKDOWN_SPECIAL)


def _code_span(text: str) -> str:
    """``text`` as a CommonMark code span: delimited by one backtick more than its
    longest run of backticks (inside a code span a backslash is not an escape)."""
    text = plain_text(text)
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _markdown_detail(s: Suggestion, lang: str) -> str:
    """The card's detail (GitHub-flavoured Markdown): messages carry user text (drug
    names, free-text symptoms), so every part is escaped."""
    t = s.texts[lang]
    evidence = "\n".join(f"- {_code_span(evidence_text(e, lang))}" for e in s.evidence)
    heading = "依据" if lang == "zh" else "Evidence"
    todo = "建议" if lang == "zh" else "Recommendation"
    sources = "来源" if lang == "zh" else "Source"
    cited = "; ".join(_markdown_escape(r["title"]) for r in s.references)
    clears = "解除条件" if lang == "zh" else "Clears when"
    return (f"{_markdown_escape(t['message'])}\n\n**{todo}**: "
            f"{_markdown_escape(t['recommendation'])}\n\n**{heading}**:\n{evidence}"
            + (f"\n\n**{clears}**: {_markdown_escape(t['clear'])}" if t.get("clear") else "")
            + (f"\n\n**{sources}**: {cited}" if cited else ""))
