"""Checking many encounters: the contract's ``engine.audit`` (batch form).

This is the foundation's minimal audit: every input comes back either as rows (one per
suggestion, possibly none) or as an entry in ``errors``; nothing is dropped. Progress
bars, summaries, plots and Dask belong to the reviewers' audit (a later issue).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdss.errors import InputError
from cdss.models import Encounter

if TYPE_CHECKING:
    from cdss.engine import Engine

ROW_COLUMNS = ("encounter_id", "rule_id", "category", "kind", "severity", "codes", "drugs",
               "title")


@dataclass
class AuditResult:
    """Rows (one per suggestion), errors (one per input that could not be checked)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    checked: int = 0
    #: one per checked encounter: encounter_id, physician, compliant (no quality
    #: finding above info), quality_findings
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def inputs(self) -> int:
        """Every input seen: checked plus errors (the counts always add up)."""
        return self.checked + len(self.errors)

    def compliance_rate(self) -> float | None:
        """Share of checked records with no ``quality`` finding above info (the
        "records written correctly" figure that such systems raised in the van programme)."""
        if not self.records:
            return None
        return sum(r["compliant"] for r in self.records) / len(self.records)

    def compliance_by_physician(self) -> dict[str, dict[str, Any]]:
        """Compliance per physician: records, compliant, rate (unsigned: "")."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.records:
            row = out.setdefault(r["physician"], {"records": 0, "compliant": 0})
            row["records"] += 1
            row["compliant"] += int(r["compliant"])
        for row in out.values():
            row["rate"] = row["compliant"] / row["records"]
        return dict(sorted(out.items()))

    def to_pandas(self):
        """One row per suggestion as a DataFrame (needs ``pip install cdss[jupyter]``)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas needs pandas: pip install 'cdss[jupyter]'") from exc
        return pd.DataFrame(self.rows, columns=list(ROW_COLUMNS))

    def __repr__(self) -> str:
        return (f"<AuditResult inputs={self.inputs} checked={self.checked} "
                f"suggestions={len(self.rows)} errors={len(self.errors)}>")


def _items(source: Any) -> Iterator[tuple[str, Any]]:
    """(position label, raw encounter) from a JSONL path, a DataFrame or an iterable."""
    if isinstance(source, str | Path) and Path(source).suffix in (".jsonl", ".ndjson"):
        with Path(source).open(encoding="utf-8") as fh:  # streamed, never loaded whole
            for n, line in enumerate(fh, 1):
                if line.strip():
                    yield f"line {n}", line
        return
    if hasattr(source, "to_dict") and hasattr(source, "iterrows"):  # a pandas DataFrame
        for index, row in source.iterrows():
            yield f"row {index}", {k: v for k, v in row.to_dict().items()
                                   if not _is_missing(v)}
        return
    if isinstance(source, str | bytes | dict):
        raise TypeError("audit takes many encounters: an iterable, a .jsonl path or a DataFrame")
    for n, item in enumerate(source):
        yield f"item {n}", item


def _id_of(raw: Any) -> Any:
    """The encounter id of an input that could not be read, when it has one."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    return raw.get("id") if isinstance(raw, dict) else None


def _is_missing(value: Any) -> bool:
    try:
        return value is None or value != value  # NaN from a DataFrame
    except (TypeError, ValueError):
        return False


def audit(engine: Engine, source: Iterable[Any] | str | Path, *, lang: str | None = None
          ) -> AuditResult:
    """Check every encounter of ``source``; bad inputs go to ``errors`` with why."""
    result = AuditResult()
    for where, raw in _items(source):
        try:
            encounter = Encounter.parse(raw)  # parsed once: the physician is read from it
            report = engine.check(encounter, lang=lang)
        except InputError as exc:
            result.errors.append({"input": where, "encounter_id": _id_of(raw), "error": str(exc)})
            continue
        result.checked += 1
        shown = report.lang
        quality = [s for s in report.suggestions
                   if s.category == "quality" and s.severity != "info"]
        physician = (encounter.record.physician or "") if encounter.record else ""
        result.records.append({"encounter_id": report.encounter_id, "physician": physician,
                               "compliant": not quality,
                               "quality_findings": [s.rule_id for s in quality]})
        for s in report.suggestions:
            result.rows.append({"encounter_id": report.encounter_id, "rule_id": s.rule_id,
                                "category": s.category, "kind": s.kind, "severity": s.severity,
                                "codes": list(s.codes), "drugs": list(s.drugs),
                                "title": s.text("title", shown)})
    return result
