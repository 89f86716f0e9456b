"""From a hook request to an encounter: complete the prefetch, then map FHIR.

``to_encounter(context, prefetch)`` maps with ``cdss.fhir`` (docs/fhir.md).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from cdss import fhir

_TOKEN = re.compile(r"\{\{\s*context\.(\w+)\s*\}\}")


class PrefetchMissing(Exception):
    """Required data absent from prefetch and not obtainable from a FHIR server."""

    def __init__(self, keys: list[str], why: str) -> None:
        super().__init__(", ".join(keys))
        self.keys = keys
        self.why = why


def to_encounter(context: dict[str, Any], prefetch: dict[str, Any]
                 ) -> tuple[dict[str, Any], list[str], list[str]]:
    """(encounter dict, notes, errors), mapped by ``cdss.fhir``."""
    mapped = fhir.to_encounter({"context": context, "prefetch": prefetch})
    enc, notes, errors = mapped.encounter, list(mapped.notes), list(mapped.errors)
    enc = dict(enc)
    enc.setdefault("time", datetime.now(UTC).isoformat(timespec="seconds"))
    enc.setdefault("id", str(context.get("encounterId") or "hook"))
    return enc, [str(n) for n in notes], [str(e) for e in errors]


def fill_template(template: str, context: dict[str, Any]) -> str | None:
    """The query with its context tokens replaced; None if a token has no value."""
    missing = False

    def sub(m: re.Match[str]) -> str:
        nonlocal missing
        value = context.get(m.group(1))
        if not isinstance(value, str | int) or value == "":
            missing = True
            return ""
        return str(value)

    query = _TOKEN.sub(sub, template)
    return None if missing else query


def complete_prefetch(templates: dict[str, str], required: tuple[str, ...],
                      request: dict[str, Any], timeout: float) -> dict[str, Any]:
    """The prefetch with absent keys fetched from ``fhirServer`` when it is given.

    A key sent as ``null`` means "no data" and is kept as such. A required key that is
    absent and cannot be fetched raises :class:`PrefetchMissing` (HTTP 412).
    """
    prefetch = dict(request.get("prefetch") or {})
    absent = [k for k in templates if k not in prefetch]
    server = request.get("fhirServer")
    auth = request.get("fhirAuthorization") or {}
    if absent and isinstance(server, str) and server.startswith(("http://", "https://")):
        prefetch.update(_fetch(server, auth, {k: templates[k] for k in absent},
                               request.get("context") or {}, timeout))
    missing = [k for k in required if k not in prefetch]
    if missing:
        why = ("fhirServer did not return them" if server else
               "not in prefetch and no fhirServer given")
        raise PrefetchMissing(missing, why)
    return prefetch


def _fetch(server: str, auth: dict[str, Any], wanted: dict[str, str],
           context: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Read each template from the FHIR server; a failed read leaves its key absent."""
    import httpx

    headers = {"Accept": "application/fhir+json"}
    if isinstance(auth.get("access_token"), str):
        headers["Authorization"] = f"Bearer {auth['access_token']}"
    out: dict[str, Any] = {}
    with httpx.Client(base_url=server.rstrip("/") + "/", timeout=timeout,
                      headers=headers, follow_redirects=False) as client:
        for key, template in wanted.items():
            query = fill_template(template, context)
            if query is None:
                continue
            try:
                resp = client.get(query)
                if resp.status_code == 200:  # HTTP OK  noqa: threshold
                    out[key] = resp.json()
            except (httpx.HTTPError, ValueError):
                continue
    return out
