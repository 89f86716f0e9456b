"""Population screening (应管未管 / 应访未访): managed patients overdue or uncontrolled.

``engine.screen(patients, as_of=date)`` checks every patient's follow-up history as of
a date (no visit: only the follow-up rules can fire) and lists, most urgent first,
everyone overdue or uncontrolled with the due date and why.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdss.errors import FieldProblem, InputError
from cdss.report import SEVERITY_RANK

if TYPE_CHECKING:
    from cdss.engine import Engine

COLUMNS = ("patient_id", "programme", "kind", "severity", "due_date", "days_overdue",
           "rule_id", "why")


@dataclass
class ScreenResult:
    """One row per finding, most urgent first; ``errors`` for unreadable entries."""

    as_of: date
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    screened: int = 0

    def to_pandas(self):
        """The rows as a DataFrame (needs ``pip install 'cdss[jupyter]'``)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas needs pandas: pip install 'cdss[jupyter]'") from exc
        return pd.DataFrame(self.rows, columns=list(COLUMNS))

    def to_text(self, lang: str = "zh") -> str:
        zh = lang == "zh"
        head = (f"截至 {self.as_of}：筛查 {self.screened} 人，{len(self.rows)} 条待处理"
                if zh else f"As of {self.as_of}: {self.screened} patients screened, "
                f"{len(self.rows)} findings")
        lines = [head]
        for r in self.rows:
            overdue = "" if r["days_overdue"] is None else f"{r['days_overdue']:+d} d"
            lines.append(f"  {r['severity'].upper():8} {r['patient_id']:12} {r['programme']:13} "
                         f"{r['kind']:12} due {r['due_date'] or '-':10} {overdue:>7}  {r['why']}")
        for e in self.errors:
            lines.append(f"  {'错误' if zh else 'error'}: {e['input']}: {e['error']}")
        return "\n".join(lines)

    __str__ = to_text


def _entries(source: Iterable[Any] | str | Path) -> Iterable[tuple[str, Any]]:
    if isinstance(source, str | Path):
        path = Path(source)
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".jsonl", ".ndjson"):
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    yield f"line {n}", line
            return
        data = json.loads(text)
        source = data if isinstance(data, list) else data.get("patients", [])
    for n, item in enumerate(source):
        yield f"item {n}", item


def screen(engine: Engine, patients: Iterable[Any] | str | Path, as_of: date | str,
           lang: str | None = None) -> ScreenResult:
    """Screen a registry of managed patients (``{patient, history}`` entries)."""
    day = date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    moment = datetime(day.year, day.month, day.day, 12, 0)
    result = ScreenResult(day)
    for where, raw in _entries(patients):
        try:
            entry = json.loads(raw) if isinstance(raw, str) else dict(raw)
            if not isinstance(entry, dict) or not isinstance(entry.get("patient"), dict):
                raise InputError([FieldProblem("patient", "each entry needs a patient object")])
            pid = str(entry["patient"].get("id", where))
            encounter = {"id": f"screen:{pid}", "time": moment.isoformat(),
                         "patient": entry["patient"], "history": entry.get("history") or {}}
            report = engine.check(encounter, lang=lang)
        except (InputError, ValueError) as exc:
            result.errors.append({"input": where, "error": str(exc)})
            continue
        result.screened += 1
        shown = report.lang
        followups = {k.removeprefix("followup."): v for k, v in report.derived.items()
                     if k.startswith("followup.")}
        for s in report.suggestions:
            if s.category != "followup":
                continue
            programme = next((e["value"] for e in s.evidence if e["field"] == "history.followups"
                              and isinstance(e["value"], str)), None)
            name = programme if programme in followups else next(iter(followups), "")
            info = followups.get(name, {}).get("inputs", {})
            result.rows.append({
                "patient_id": pid, "programme": name, "kind": s.kind, "severity": s.severity,
                "due_date": info.get("recheck_date") or info.get("due_date"),
                "days_overdue": (int(followups[name]["value"]) if name in followups
                                 and "due_date" in info else None),
                "rule_id": s.rule_id, "why": s.text("message", shown)})
    result.rows.sort(key=lambda r: (SEVERITY_RANK[r["severity"]], -(r["days_overdue"] or 0),
                                    r["patient_id"], r["rule_id"]))
    return result

