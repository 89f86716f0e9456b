"""Population screening (应管未管 / 应访未访): managed patients overdue or uncontrolled.

``engine.screen(patients, as_of=date)`` checks every patient's follow-up history as of
a date (no visit: only the follow-up rules can fire) and lists, most urgent first,
everyone overdue or uncontrolled with the due date and why.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdss.batch import BOM, BadLine, numbered_lines, record_error
from cdss.errors import FieldProblem, InputError
from cdss.report import SEVERITY_RANK, require_lang

if TYPE_CHECKING:
    from cdss.engine import Checker

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


def _entries(source: Iterable[Any] | str | Path | bytes) -> Iterator[tuple[str, Any]]:
    """(label, raw entry): ``line N`` of a JSONL file (split as :mod:`cdss.batch` says),
    ``item N`` of a JSON list (a file, its bytes, or a list in memory)."""
    if isinstance(source, str | Path):
        path = Path(source)
        if path.suffix in (".jsonl", ".ndjson"):
            with path.open("rb") as fh:  # split on \n only: U+2028 may sit in a string
                yield from numbered_lines(fh)
            return
        source = path.read_bytes()
    if isinstance(source, bytes | bytearray):
        source = _document(bytes(source))
    for n, item in enumerate(source):
        yield f"item {n}", item


def _document(data: bytes) -> list[Any]:
    """The entries of a JSON document (a list, or ``{"patients": [...]}``). Bytes that
    are not UTF-8 inside a string spoil only the entry holding them (read, then marked
    as a :class:`~cdss.batch.BadLine`); a document that is not JSON is an InputError."""
    text = data.removeprefix(BOM).decode("utf-8", errors="surrogateescape")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        where = (f" at line {exc.lineno} column {exc.colno}"
                 if isinstance(exc, json.JSONDecodeError) else " (nested too deep)")
        raise InputError([FieldProblem("$", f"not a JSON document{where}")]) from None
    entries = doc.get("patients", []) if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        raise InputError([FieldProblem("$", "expected a JSON list of {patient, history} "
                                            "entries, or {\"patients\": [...]}")])
    return [_undecodable(entry) or entry for entry in entries]


def _undecodable(entry: Any) -> BadLine | None:
    """A :class:`~cdss.batch.BadLine` if a string of ``entry`` holds bytes that were not
    UTF-8 (kept as lone surrogates by the decoder), else None."""
    try:
        json.dumps(entry, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return BadLine()  # no byte position: the entry's place in the file is not known
    except (ValueError, RecursionError):
        return None  # not for this check to judge: the entry's own check will fail
    return None


def _entry(raw: Any) -> Any:
    """An entry as given, its JSON text read (a text that is not JSON: InputError)."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError([FieldProblem("$", f"not valid JSON: {exc}")]) from None
        except (ValueError, RecursionError):  # a number of thousands of digits, deep nesting
            raise InputError([FieldProblem("$", "not valid JSON (a number too long or "
                                                "nesting too deep)")]) from None
    return dict(raw) if isinstance(raw, Mapping) else raw


def _screen_one(engine: Checker, where: str, raw: Any, moment: datetime,
                lang: str | None) -> list[dict[str, Any]]:
    """The rows of one entry; raises whatever goes wrong with it."""
    entry = _entry(raw)
    if not isinstance(entry, dict) or not isinstance(entry.get("patient"), dict):
        raise InputError([FieldProblem("patient", "each entry needs a patient object")])
    pid = str(entry["patient"].get("id", where))
    encounter = {"id": f"screen:{pid}", "time": moment.isoformat(),
                 "patient": entry["patient"], "history": entry.get("history") or {}}
    report = engine.check(encounter, lang=lang)
    shown = report.lang
    followups = {k.removeprefix("followup."): v for k, v in report.derived.items()
                 if k.startswith("followup.")}
    rows = []
    for s in report.suggestions:
        if s.category != "followup":
            continue
        programme = next((e["value"] for e in s.evidence if e["field"] == "history.followups"
                          and isinstance(e["value"], str)), None)
        name = programme if programme in followups else next(iter(followups), "")
        info = followups.get(name, {}).get("inputs", {})
        rows.append({
            "patient_id": pid, "programme": name, "kind": s.kind, "severity": s.severity,
            "due_date": info.get("recheck_date") or info.get("due_date"),
            "days_overdue": (int(followups[name]["value"]) if name in followups
                             and "due_date" in info else None),
            "rule_id": s.rule_id, "why": s.text("message", shown)})
    return rows


def screen(engine: Checker, patients: Iterable[Any] | str | Path | bytes, as_of: date | str,
           lang: str | None = None) -> ScreenResult:
    """Screen a registry of managed patients (``{patient, history}`` entries): an
    iterable, a JSONL or JSON list file, or the bytes of a JSON list. Whatever goes wrong
    with one entry is its error in ``errors``; the screen always completes
    (``screened + len(errors)`` is the number of entries)."""
    day = date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    moment = datetime(day.year, day.month, day.day, 12, 0)
    result = ScreenResult(day)
    shown = require_lang(lang or engine.lang)
    for where, raw in _entries(patients):
        try:
            if isinstance(raw, BadLine):
                result.errors.append({"input": where, "error": raw.message(shown)})
                continue
            rows = _screen_one(engine, where, raw, moment, lang)
        except Exception as exc:  # one bad entry is one error; the screen goes on
            result.errors.append({"input": where, "error": record_error(exc, shown)})
            continue
        result.screened += 1
        result.rows.extend(rows)
    result.rows.sort(key=lambda r: (SEVERITY_RANK[r["severity"]], -(r["days_overdue"] or 0),
                                    r["patient_id"], r["rule_id"]))
    return result
