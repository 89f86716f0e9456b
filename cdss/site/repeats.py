"""Alerts a patient already saw and overrode: the store behind repeat suppression.

An override is what a doctor answered to an alert: which rule, about which drugs, for
which patient, when and why (the CDS Hooks feedback's ``overrideReason``). A site layer's
``suppression`` shows a repeat of an overridden alert one stop level lower (never drops
it). The service's feedback store can feed this store; until then an in-memory store or
a JSONL file store serve the same interface.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from cdss.errors import FieldProblem, InputError


@dataclass(frozen=True)
class Override:
    """One overridden alert."""

    patient_id: str
    rule_id: str
    drugs: tuple[str, ...]
    at: datetime
    reason: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"patient_id": self.patient_id, "rule_id": self.rule_id,
                "drugs": list(self.drugs), "at": self.at.isoformat(), "reason": self.reason}


class OverrideStore(Protocol):
    """Where overrides are kept; ``overrides`` returns those of one patient and rule."""

    def overrides(self, patient_id: str, rule_id: str) -> list[Override]: ...


class MemoryOverrides:
    """Overrides kept in memory (a process's own; lost when it ends)."""

    def __init__(self, items: Iterable[Override] = ()) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str], list[Override]] = {}
        for item in items:
            self.add(item)

    def add(self, item: Override) -> None:
        if item.at.tzinfo is None:
            raise ValueError("an override's time needs a time zone")
        with self._lock:
            self._items.setdefault((item.patient_id, item.rule_id), []).append(item)

    def overrides(self, patient_id: str, rule_id: str) -> list[Override]:
        with self._lock:
            return list(self._items.get((patient_id, rule_id), ()))


class FileOverrides(MemoryOverrides):
    """Overrides in a JSONL file (one object per line: patient_id, rule_id, drugs, at,
    reason); read when opened, appended by :meth:`add`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        super().__init__()
        if self.path.exists():
            for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    MemoryOverrides.add(self, _parse(line, f"{self.path.name} line {n}"))

    def add(self, item: Override) -> None:
        super().add(item)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(item.to_dict(), ensure_ascii=False) + "\n")


def _parse(line: str, where: str) -> Override:
    try:
        raw = json.loads(line)
        at = datetime.fromisoformat(raw["at"])
        if at.tzinfo is None:
            raise ValueError("'at' has no time zone")
        return Override(str(raw["patient_id"]), str(raw["rule_id"]),
                        tuple(sorted(str(d) for d in raw.get("drugs", []))), at,
                        raw.get("reason"))
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError([FieldProblem(where, f"not an override: {exc}")]) from None


def days_before(visit: datetime, at: datetime) -> float | None:
    """How many days before the visit the override was (None: after the visit).

    A visit time without a zone is a local time whose zone is unknown: then only the
    calendar days are compared (a date is a day, not midnight UTC).
    """
    if visit.tzinfo is None:
        days = (visit.date() - at.date()).days
        return float(days) if days >= 0 else None
    delta = (visit - at).total_seconds() / 86400
    return delta if delta >= 0 else None


def latest_repeat(store: OverrideStore, patient_id: str, rule_id: str,
                  drugs: Iterable[str], visit: datetime, window_days: int,
                  reasons: Iterable[str] = ()) -> Override | None:
    """The latest override of the same rule and drugs within the window, if any."""
    wanted = tuple(sorted(drugs))
    allowed = set(reasons)
    found = [o for o in store.overrides(patient_id, rule_id)
             if tuple(sorted(o.drugs)) == wanted
             and (not allowed or o.reason in allowed)
             and (d := days_before(visit, o.at)) is not None and d <= window_days]
    return max(found, key=lambda o: o.at) if found else None

