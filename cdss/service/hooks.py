"""One hook call: validate the request, complete prefetch, map, check, build cards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cdss.errors import InputError
from cdss.service.cards import Orders, build_cards, public
from cdss.service.catalog import ServiceDef
from cdss.service.mapping import complete_prefetch, to_encounter


class BadRequest(Exception):
    """The request does not follow CDS Hooks; ``problems`` name the fields."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class HookResult:
    body: dict[str, Any]
    #: rows for the card store: uuid, rule_id, indicator, site
    served: list[dict[str, Any]]


def validate(service: ServiceDef, req: Any) -> dict[str, Any]:
    """The request if it is a valid call of ``service``; :class:`BadRequest` otherwise."""
    if not isinstance(req, dict):
        raise BadRequest(["$: expected a JSON object"])
    problems = []
    if req.get("hook") != service.hook:
        problems.append(f"hook: expected {service.hook!r}")
    if not isinstance(req.get("hookInstance"), str) or not req["hookInstance"].strip():
        problems.append("hookInstance: required string")
    ctx = req.get("context")
    if not isinstance(ctx, dict):
        problems.append("context: required object")
        ctx = {}
    for name in service.context_required:
        value = ctx.get(name)
        if name == "draftOrders":
            if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
                problems.append("context.draftOrders: required FHIR Bundle")
        elif name == "selections":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems.append("context.selections: required array of strings")
        elif not isinstance(value, str) or not value:
            problems.append(f"context.{name}: required string")
    if "prefetch" in req and not isinstance(req["prefetch"], dict | None):
        problems.append("prefetch: expected an object")
    if "fhirServer" in req and not isinstance(req["fhirServer"], str):
        problems.append("fhirServer: expected a URL")
    if "fhirAuthorization" in req:
        auth = req["fhirAuthorization"]
        if not isinstance(auth, dict) or not isinstance(auth.get("access_token"), str):
            problems.append("fhirAuthorization: expected an object with access_token")
        if "fhirServer" not in req:
            problems.append("fhirServer: required with fhirAuthorization")
    if problems:
        raise BadRequest(problems)
    return req


def _orders(service: ServiceDef, ctx: dict[str, Any], enc: dict[str, Any]) -> Orders | None:
    if "draftOrders" not in service.context_required:
        return None
    drafts = {}
    for entry in ctx["draftOrders"].get("entry") or []:
        res = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(res, dict) and res.get("resourceType") == "MedicationRequest":
            drafts[f"MedicationRequest/{res.get('id', '')}"] = res
    refs = {i: str(rx.get("fhir_ref")) for i, rx in enumerate(enc.get("prescriptions") or [])
            if isinstance(rx, dict) and rx.get("fhir_ref")}
    selected = set(ctx["selections"]) if "selections" in service.context_required else None
    return Orders(refs, drafts, selected)


def _input_error_card(exc: InputError, lang: str) -> dict[str, Any]:
    from cdss.service.cards import TOPIC_SYSTEM, _md, _summary

    zh = lang == "zh"
    return {"summary": _summary("数据无法读取，本次未能检查" if zh
                                else "The data could not be read: nothing was checked"),
            "indicator": "warning", "detail": _md(str(exc)),
            "source": {"label": "cdss", "topic": {"system": TOPIC_SYSTEM,
                                                  "code": "input_error"}}}


def run_hook(engine: Any, service: ServiceDef, req: dict[str, Any], lang: str,
             rule_category: dict[str, str], fhir_timeout: float) -> HookResult:
    """Cards for a validated request (raises ``PrefetchMissing`` for HTTP 412)."""
    ctx = req["context"]
    prefetch = complete_prefetch(service.prefetch, service.required, req, fhir_timeout)
    enc, _notes, errors = to_encounter(ctx, prefetch)
    orders = _orders(service, ctx, enc)
    if orders is not None and not orders.draft_indices() and not errors:
        return HookResult({"cards": []}, [])  # no medication order to screen
    try:
        report = engine.check(enc, lang=lang)
    except InputError as exc:
        card = _input_error_card(exc, lang)
        return HookResult({"cards": [card]}, [])
    cards = build_cards(report, categories=service.categories, rule_category=rule_category,
                        orders=orders, errors=errors)
    site = enc.get("site") if isinstance(enc.get("site"), str) else None
    patient = enc.get("patient") if isinstance(enc.get("patient"), dict) else {}
    patient_id = patient.get("id") if isinstance(patient.get("id"), str) else None
    served = [{"uuid": c["uuid"], "rule_id": c["_rule_id"], "indicator": c["indicator"],
               "site": site, "patient": patient_id, "drugs": c.get("_drugs", [])}
              for c in cards]
    return HookResult({"cards": public(cards)}, served)
