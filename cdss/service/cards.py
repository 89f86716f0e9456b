"""CDS Hooks 2.0 cards from a report, for one service and one hook call.

Follows the spec: summary under 140 characters, a short ``source.label`` (citations go
to ``detail`` and ``links``), no empty arrays, ``overrideReasons`` from the HL7
non-adherence-reason code system with a display each, ``suggestions`` with ``actions``
on the draft MedicationRequest and ``selectionBehavior``, a fresh ``uuid`` per card and
call. User text in ``detail`` is escaped (``cdss.report`` helpers, plus ``:`` and ``@``
so that GFM autolinks cannot form).
"""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from cdss.report import (
    Report,
    Suggestion,
    _code_span,
    _markdown_escape,
    card_extension,
    evidence_text,
)
from cdss.report import missing_summary as _missing_summary
from cdss.report import plain_text as _plain

SUMMARY_MAX = 139  # "<140 characters" (CDS Hooks spec)  noqa: threshold
TOPIC_SYSTEM = "https://github.com/cdss/cdss/rules"
REASON_SYSTEM = "http://cds-hooks.hl7.org/CodeSystem/non-adherence-reason"
_RX = re.compile(r"^prescriptions\[(\d+)\]")

#: code -> (en display as in the code system, zh)
_REASONS = {
    "patient-ineligible": ("Patient does not meet eligibility for recommended action",
                           "患者不符合该建议的适用条件"),
    "action-completed": ("Recommended action was already completed", "该建议已完成"),
    "indication-order-exists": ("Patient has indication/order for intended action",
                                "已有该处置的指征或医嘱"),
    "action-performed-no-adverse-effect": (
        "Intended action was performed previously without adverse effect",
        "既往同样用药未出现不良反应"),
    "risk-benefit-ratio": ("Recipient assessment of risk/benefit ratio", "权衡风险与获益后决定"),
    "need-more-info": ("Could not address recommended action due to need for more "
                       "information/pending results/pending consult",
                       "需要更多信息或等待结果/会诊"),
    "expert-contradicts": ("Advice from expert contradicts the recommended action",
                           "专科医生意见与建议不同"),
    "service-not-available": ("Treatment or service is not practically available",
                              "所需药品或服务不可及"),
    "implementation-challenges": ("Recommended action cannot be implemented due to "
                                  "technology/challenges", "受系统或条件限制无法执行"),
}
_REASONS_BY_CATEGORY = {
    "dosing": ("patient-ineligible", "action-performed-no-adverse-effect",
               "risk-benefit-ratio", "expert-contradicts", "service-not-available",
               "need-more-info"),
    "diagnosis": ("action-completed", "indication-order-exists", "patient-ineligible",
                  "need-more-info", "service-not-available"),
    "followup": ("action-completed", "patient-ineligible", "service-not-available",
                 "need-more-info"),
    "quality": ("action-completed", "patient-ineligible", "implementation-challenges"),
}
#: advice to stop the drug: a delete suggestion per draft order involved
_STOP_KINDS = {"allergy", "interaction", "duplicate", "contraindication", "pregnancy"}
_STOP_ACTIONS = {"contraindicated", "avoid"}


@dataclass
class Orders:
    """Draft orders of an order hook: prescription index -> reference and resource."""

    refs: dict[int, str] = field(default_factory=dict)
    drafts: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: references the clinician just selected (order-select), None: all drafts
    selected: set[str] | None = None

    def draft_indices(self) -> set[int]:
        return {i for i, ref in self.refs.items() if ref in self.drafts
                and (self.selected is None or ref in self.selected)}


def _md(text: str) -> str:
    return _markdown_escape(text)  # escapes ':' and '@' too (no GFM autolinks)


def _summary(text: str) -> str:
    text = " ".join(_plain(text).split())
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def _override_reasons(category: str, lang: str) -> list[dict[str, str]]:
    return [{"system": REASON_SYSTEM, "code": c,
             "display": _REASONS[c][1] if lang == "zh" else _REASONS[c][0]}
            for c in _REASONS_BY_CATEGORY.get(category, ("patient-ineligible",))]


def _detail(s: Suggestion, lang: str) -> str:
    t = s.texts[lang]
    zh = lang == "zh"
    parts = [_md(t["message"]),
             f"**{'建议' if zh else 'Recommendation'}**: {_md(t['recommendation'])}"]
    if s.evidence:
        parts.append(f"**{'依据' if zh else 'Evidence'}**:\n"
                     + "\n".join(f"- {_code_span(evidence_text(e, lang))}" for e in s.evidence))
    if s.references:
        parts.append(f"**{'来源' if zh else 'Source'}**: "
                     + "; ".join(_md(str(r.get("title", ""))) for r in s.references))
    if s.certainty != "complete":
        parts.append(f"*{'确定性' if zh else 'certainty'}: {s.certainty}*")
    return "\n\n".join(parts)


def prescription_indices(s: Suggestion) -> set[int]:
    """Indices of the prescriptions a suggestion's evidence names."""
    return {int(m.group(1)) for e in s.evidence if (m := _RX.match(str(e.get("field", ""))))}


def _stops(s: Suggestion) -> bool:
    if s.kind in _STOP_KINDS:
        return True
    if s.kind in ("renal", "geriatric"):
        return any(str(e.get("value")) in _STOP_ACTIONS for e in s.evidence) or \
            s.rule_id.endswith(("_avoid", "_contraindicated"))
    return False


def _update(s: Suggestion, resource: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """The draft changed as the advice says, when it names the number (duration,
    frequency); None when no safe change can be computed."""
    limit = next((e.get("threshold") for e in s.evidence
                  if isinstance(e.get("threshold"), int | float)
                  and str(e.get("field", "")).endswith((".duration", ".times_per_day",
                                                        ".frequency"))), None)
    if limit is None or limit <= 0:
        return None
    new = copy.deepcopy(resource)
    if s.kind == "duration":
        supply = (new.get("dispenseRequest") or {}).get("expectedSupplyDuration")
        if not isinstance(supply, dict):
            return None
        supply.update({"value": limit, "unit": "days", "system": "http://unitsofmeasure.org",
                       "code": "d"})
        return new, f"{limit} d"
    if s.kind == "frequency":
        dosage = (new.get("dosageInstruction") or [None])[0]
        repeat = ((dosage or {}).get("timing") or {}).get("repeat")
        if not isinstance(repeat, dict) or repeat.get("periodUnit") != "d":
            return None
        repeat.update({"frequency": int(limit), "period": 1})
        return new, f"{int(limit)}/d"
    return None


def _suggestions(s: Suggestion, orders: Orders, lang: str) -> list[dict[str, Any]]:
    zh = lang == "zh"
    out = []
    targets = sorted(prescription_indices(s) & orders.draft_indices())
    for i in targets:
        ref = orders.refs[i]
        resource = orders.drafts[ref]
        text = (resource.get("medicationCodeableConcept") or {}).get("text")
        name = _plain(str(text or (s.drugs[0] if s.drugs else ref)))[:60]
        if _stops(s):
            out.append({"label": _summary(f"删除待签医嘱：{name}" if zh
                                          else f"Remove the draft order: {name}"),
                        "uuid": str(uuid.uuid4()), "isRecommended": s.severity == "critical"
                        and len(targets) == 1,
                        "actions": [{"type": "delete", "resourceId": ref,
                                     "description": "删除待签药品医嘱" if zh
                                     else "Remove the draft medication order"}]})
        elif (changed := _update(s, resource)) is not None:
            new, what = changed
            out.append({"label": _summary(f"修改医嘱为 {what}：{name}" if zh
                                          else f"Change the order to {what}: {name}"),
                        "uuid": str(uuid.uuid4()), "isRecommended": True,
                        "actions": [{"type": "update", "resource": new,
                                     "description": "按建议修改待签药品医嘱" if zh
                                     else "Update the draft medication order as advised"}]})
    return out


def build_cards(report: Report, *, categories: tuple[str, ...], rule_category: dict[str, str],
                orders: Orders | None, errors: list[str]) -> list[dict[str, Any]]:
    """The cards of one hook call (each with a new uuid); ``_rule_id`` is internal and
    removed by :func:`public` before sending."""
    lang = report.lang
    zh = lang == "zh"
    cards = []
    wanted = orders.draft_indices() if orders is not None else None
    for s in report.suggestions:
        if s.category not in categories:
            continue
        if wanted is not None and prescription_indices(s) and \
                not prescription_indices(s) & wanted:
            continue  # about a medication already active, not an order being placed
        t = s.texts[lang]
        card: dict[str, Any] = {
            "uuid": str(uuid.uuid4()), "summary": _summary(t["title"]),
            "indicator": s.severity, "detail": _detail(s, lang),
            "source": {"label": "cdss", "topic": {"system": TOPIC_SYSTEM, "code": s.rule_id}},
            "overrideReasons": _override_reasons(s.category, lang), "_rule_id": s.rule_id,
            "_drugs": sorted(s.drugs)}
        extension = card_extension(s)
        if extension:  # stop level, a suppressed repeat, site changes (namespaced keys)
            card["extension"] = extension
        links = [{"label": _summary(str(r.get("title", "")))[:100] or "link", "url": r["url"],
                  "type": "absolute"} for r in s.references
                 if str(r.get("url", "")).startswith(("https://", "http://"))]
        if links:
            card["links"] = links
        if orders is not None and (sugg := _suggestions(s, orders, lang)):
            card["suggestions"] = sugg
            card["selectionBehavior"] = "at-most-one"
        cards.append(card)
    missing = [m for m in report.missing_data
               if any(rule_category.get(r) in categories for r in m.rules)]
    if missing:
        text = _missing_summary(missing, lang)
        rules = sorted({r for m in missing for r in m.rules
                        if rule_category.get(r) in categories})
        cards.append({
            "uuid": str(uuid.uuid4()), "summary": _summary(text), "indicator": "info",
            "detail": _md(text) + "\n\n" + ("补充后可评估：" if zh else "Would settle: ")
            + ", ".join(_code_span(r) for r in rules),
            "source": {"label": "cdss", "topic": {"system": TOPIC_SYSTEM,
                                                  "code": "missing_data"}},
            "_rule_id": "missing_data"})
    if errors:
        n = len(errors)
        cards.append({
            "uuid": str(uuid.uuid4()), "indicator": "warning",
            "summary": _summary(f"{n} 项 FHIR 数据无法读取，未被检查" if zh
                                else f"{n} FHIR item(s) could not be read and were not checked"),
            "detail": "\n".join(f"- {_md(e)}" for e in errors[:20]),
            "source": {"label": "cdss", "topic": {"system": TOPIC_SYSTEM,
                                                  "code": "fhir_unreadable"}},
            "_rule_id": "fhir_unreadable"})
    return cards


def public(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cards without internal keys."""
    return [{k: v for k, v in c.items() if not k.startswith("_")} for c in cards]
