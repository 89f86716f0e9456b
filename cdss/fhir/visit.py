"""Encounter -> the visit's ``id``, ``time`` (period.start) and ``site`` (location)."""

from __future__ import annotations

from typing import Any

from cdss.fhir.build import Builder


def map_encounter(b: Builder, res: dict[str, Any], path: str, wanted: str | None) -> None:
    """The Encounter in context (``wanted`` id, else the first) gives id, time, site."""
    if "fhir_encounter" in b.top and (wanted is None or res.get("id") != wanted):
        b.note(path, "another Encounter than the one in context: not used")
        return
    b.top["fhir_encounter"] = path
    if res.get("id"):
        b.top["id"] = res["id"]
    start = (res.get("period") or {}).get("start")
    if isinstance(start, str):
        b.top["time"] = start
        b.sources["time"] = f"{path}.period.start"
    for i, loc in enumerate(res.get("location") or []):
        name = ((loc or {}).get("location") or {}).get("display")
        if isinstance(name, str) and name.strip():
            b.top["site"] = name.strip()
            b.sources["site"] = f"{path}.location[{i}].location.display"
            break
