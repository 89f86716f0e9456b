"""Validation of CDS Hooks feedback posts into rows for the store."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from cdss.service.hooks import BadRequest

MAX_ITEMS = 1000
MAX_COMMENT = 4000


def _timestamp(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 64 or "T" not in value:
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def feedback_rows(body: Any) -> list[dict[str, Any]]:
    """Rows for ``FeedbackStore.add_feedback``; :class:`BadRequest` naming each problem."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list) \
            or not body["feedback"]:
        raise BadRequest(["feedback: required non-empty array"])
    items = body["feedback"]
    if len(items) > MAX_ITEMS:
        raise BadRequest([f"feedback: at most {MAX_ITEMS} items"])
    rows, problems = [], []
    for i, item in enumerate(items):
        at = f"feedback[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{at}: expected an object")
            continue
        card, outcome = item.get("card"), item.get("outcome")
        if not isinstance(card, str) or not card or len(card) > 128:
            problems.append(f"{at}.card: required card uuid")
        if outcome not in ("accepted", "overridden"):
            problems.append(f"{at}.outcome: 'accepted' or 'overridden'")
        if not _timestamp(item.get("outcomeTimestamp")):
            problems.append(f"{at}.outcomeTimestamp: required RFC 3339 date-time")
        accepted = item.get("acceptedSuggestions")
        if outcome == "accepted" and (not isinstance(accepted, list) or not accepted or not all(
                isinstance(a, dict) and isinstance(a.get("id"), str) for a in accepted)):
            problems.append(f"{at}.acceptedSuggestions: required for accepted, [{{id}}]")
        reason = item.get("overrideReason")
        coding: dict[str, Any] = {}
        comment = None
        if reason is not None:
            if not isinstance(reason, dict):
                problems.append(f"{at}.overrideReason: expected an object")
            else:
                coding = reason.get("reason") or {}
                comment = reason.get("userComment")
                if not isinstance(coding, dict) or (coding and not isinstance(
                        coding.get("code"), str)):
                    problems.append(f"{at}.overrideReason.reason: expected a Coding")
                    coding = {}
                if comment is not None and (not isinstance(comment, str)
                                            or len(comment) > MAX_COMMENT):
                    problems.append(f"{at}.overrideReason.userComment: text of at most "
                                    f"{MAX_COMMENT} characters")
        if problems:
            continue
        rows.append({
            "card": card, "outcome": outcome,
            "accepted_suggestions": json.dumps([a["id"] for a in accepted])
            if isinstance(accepted, list) else None,
            "reason_system": str(coding.get("system"))[:300] if coding.get("system") else None,
            "reason_code": str(coding.get("code"))[:128] if coding.get("code") else None,
            "reason_display": str(coding.get("display"))[:500] if coding.get("display")
            else None,
            "user_comment": comment, "outcome_timestamp": item["outcomeTimestamp"]})
    if problems:
        raise BadRequest(problems)
    return rows
