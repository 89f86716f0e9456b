"""Collect resources from a Bundle, a list, or a CDS Hooks request, with FHIR paths."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cdss.fhir.result import Problem


@dataclass(frozen=True)
class Located:
    """One resource as sent and the FHIR path it was found at."""

    path: str
    resource: dict[str, Any]
    #: a CDS Hooks draft order (context.draftOrders)
    draft: bool = False


@dataclass
class Collected:
    resources: list[Located] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    #: context.patientId / encounterId of a CDS Hooks request
    patient_id: str | None = None
    encounter_id: str | None = None
    #: resource types of empty search results (an empty problem list was sent)
    empty_searches: set[str] = field(default_factory=set)


def collect(data: Any) -> Collected:
    """Every resource in ``data`` with its path; what is not a resource is an error."""
    out = Collected()
    if isinstance(data, list):
        for i, item in enumerate(data):
            _add(out, item, f"[{i}]", draft=False)
    elif isinstance(data, dict) and "resourceType" not in data and (
            "context" in data or "prefetch" in data):
        _hooks(out, data)
    else:
        _add(out, data, "", draft=False)
    return out


def _hooks(out: Collected, request: dict[str, Any]) -> None:
    context = request.get("context") or {}
    if not isinstance(context, dict):
        out.errors.append(Problem("context", "expected an object"))
        context = {}
    for key, attr in (("patientId", "patient_id"), ("encounterId", "encounter_id")):
        if isinstance(context.get(key), str):
            setattr(out, attr, context[key])
    if context.get("draftOrders") is not None:
        _add(out, context["draftOrders"], "context.draftOrders", draft=True)
    prefetch = request.get("prefetch") or {}
    if not isinstance(prefetch, dict):
        out.errors.append(Problem("prefetch", "expected an object"))
        return
    for key, value in prefetch.items():
        if value is not None:  # the EHR sends null where it has no data
            _add(out, value, f"prefetch.{key}", draft=False)


def _add(out: Collected, item: Any, path: str, *, draft: bool) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("resourceType"), str):
        out.errors.append(Problem(path or "$", "expected a FHIR resource (an object with "
                                                "resourceType)"))
        return
    rtype = item["resourceType"]
    here = path or rtype
    if rtype != "Bundle":
        out.resources.append(Located(here, item, draft))
        return
    entries = item.get("entry") or []
    if not isinstance(entries, list):
        out.errors.append(Problem(f"{here}.entry", "expected a list"))
        return
    if not entries and item.get("type") == "searchset":
        out.empty_searches.update(_searched_types(item))
    for i, entry in enumerate(entries):
        where = f"{here}.entry[{i}]" if path else f"Bundle.entry[{i}]"
        if not isinstance(entry, dict) or "resource" not in entry:
            out.notes.append(Problem(where, "entry without a resource: skipped"))
            continue
        _add(out, entry["resource"], f"{where}.resource", draft=draft)


def _searched_types(bundle: dict[str, Any]) -> set[str]:
    """Resource types named by the self link of a search result (``Condition?...``)."""
    types: set[str] = set()
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "self" and isinstance(
                link.get("url"), str):
            tail = link["url"].split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
            types.add(tail)
    return types
