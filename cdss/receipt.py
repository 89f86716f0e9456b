"""Evaluation receipts: what a report was computed from, so that it can be reproduced.

A receipt names the engine version and backend, a SHA-256 of the compiled rules, of the
knowledge files, and of the canonical input, the instant used as "now" and the time of
evaluation. ``cdss verify`` re-evaluates an encounter and says whether a report
reproduces (:func:`cdss.verify.verify`).

The hashes are of canonical forms, so that formatting does not change them:

* ``rules_sha256``: every compiled rule's specification as JSON (sorted keys), in file
  order, and the finding keep-order (``rules/findings.yaml``);
* ``knowledge_sha256``: every ``*.yaml`` file under the knowledge folder, by relative
  path and bytes;
* ``input_sha256``: the encounter as JSON with sorted keys and no spaces, as sent (a
  JSON text is parsed first, so its whitespace does not count; a parsed
  :class:`~cdss.models.Encounter` is hashed as its JSON dump).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cdss.models import Encounter
from cdss.rulelang import RuleSet

#: what "now" is for a check: the visit's own instant (ages, intervals and "recent" are
#: computed at the encounter's time, never at the wall clock)
NOW_SOURCE = "encounter.time"

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


def fixed_clock(instant: datetime) -> Clock:
    """A clock that always says ``instant`` (timezone-aware), for reproducible reports."""
    if instant.tzinfo is None:
        raise ValueError("a fixed clock needs a timezone-aware datetime")
    return lambda: instant


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys, no spaces, UTF-8: the form every hash is taken of (a lone
    surrogate in a string is kept as its code point, not refused)."""
    return _CANONICAL.encode(value).encode("utf-8", "surrogatepass")


#: the encoder of :func:`canonical_json` (``json.dumps`` with these arguments builds one
#: per call; ``encode`` keeps no state between calls)
_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                              default=str)


def input_sha256(encounter: Any, parsed: Encounter | None = None) -> str:
    """The hash of an encounter as sent (dict, JSON text or bytes, or a parsed model).

    An input JSON cannot hold (nested beyond the JSON encoder's depth, or with keys that
    are not strings) is hashed as the encounter it was read as (``parsed``): those parts
    were ignored by the check anyway.
    """
    if isinstance(encounter, Encounter):
        value: Any = encounter.model_dump(mode="json")
    elif isinstance(encounter, str | bytes | bytearray):
        try:
            value = json.loads(encounter)
        except (ValueError, RecursionError):
            return _sha256(encounter.encode("utf-8", "surrogatepass")
                           if isinstance(encounter, str) else bytes(encounter))
    else:
        value = encounter
    try:
        return _sha256(canonical_json(value))
    except (ValueError, TypeError, RecursionError):
        if parsed is None:
            raise
        return _sha256(b"parsed:" + canonical_json(parsed.model_dump(mode="json")))


def rules_sha256(ruleset: RuleSet, policy: Any = None) -> str:
    """The hash of the compiled rules: their specifications in order, the keep order and
    the alerting policy read with them (stop levels, never list)."""
    specs = [rule.spec.model_dump(mode="json", by_alias=True) for rule in ruleset.rules]
    return _sha256(canonical_json({"rules": specs, "keep": list(ruleset.keep),
                                   **({"policy": policy} if policy is not None else {})}))


def knowledge_sha256(root: Path) -> str:
    """The hash of every knowledge file (relative path and bytes, sorted by path)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.yaml")):
        digest.update(path.relative_to(root).as_posix().encode("utf-8"))
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class Pins:
    """What an engine was built from: the hashes a receipt repeats and a site pins."""

    version: str
    backend: str
    rules_sha256: str
    knowledge_sha256: str


def receipt(pins: Pins, encounter: Any, parsed: Encounter, evaluated_at: datetime
            ) -> dict[str, Any]:
    """The receipt of one evaluation (the ``receipt`` object of the report JSON); "now"
    is the parsed encounter's time."""
    now = parsed.time
    return {
        "engine_version": pins.version,
        "backend": pins.backend,
        "rules_sha256": pins.rules_sha256,
        "knowledge_sha256": pins.knowledge_sha256,
        "input_sha256": input_sha256(encounter, parsed),
        "now": now.isoformat(),
        "now_source": NOW_SOURCE,
        "evaluated_at": evaluated_at.isoformat(),
    }
