"""Lab values for the rules: converted with the engine's knowledge, latest per analyte.

The input models convert lab values with the bundled analyte table (which checks the
unit's dimension at parse time); here each result is converted again, from the number
and unit as sent, with the analyte table of the engine's own knowledge. A code that
knowledge does not know, a result without a value, or a unit that knowledge cannot
convert is a note and the result is not used: never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING

from cdss import units
from cdss.kb import KnowledgeBase
from cdss.kb.schema import Analyte
from cdss.models import LabResult

if TYPE_CHECKING:
    from cdss.derive.factset import FactSet


def analyte_of(kb: KnowledgeBase, lab: LabResult) -> Analyte | None:
    """The engine's analyte for a result: by code, else by the LOINC code sent."""
    analyte = kb.analytes.get(lab.code)
    if analyte is not None:
        return analyte
    sent = lab.source_code or lab.code
    return next((a for a in kb.analytes.values() if sent in a.loinc), None)


def convert(analyte: Analyte, lab: LabResult) -> float | None:
    """The value in ``analyte.canonical``; None when the unit cannot be converted."""
    value, unit = lab.sent_value, lab.sent_unit
    if value is None:
        return None
    if unit is None:
        return value if analyte.bare_ok else None
    if unit in analyte.alt_units:
        alt = analyte.alt_units[unit]
        return alt.scale * value + alt.offset
    try:
        a, b = units.linear_map(unit, analyte.canonical, analyte.molar_mass)
    except units.UnitProblem:
        return None
    return a * value + b


def sort_key(when: datetime | date | None, at: datetime, zone: tzinfo | None
             ) -> tuple[datetime, int]:
    """Order of lab results in time (see :func:`latest`)."""
    if when is None:
        instant, rank = at, 1
    elif isinstance(when, datetime):
        instant, rank = when, 1
    else:  # a day: it ends at the next midnight, before anything timed on the next day
        instant, rank = datetime.combine(when + timedelta(days=1), time()), 0
    if zone is not None and instant.tzinfo is None:
        instant = instant.replace(tzinfo=zone)
    return instant, rank


@dataclass(frozen=True)
class Usable:
    """A result the engine's knowledge can use: its index, analyte and canonical value."""

    index: int
    analyte: Analyte
    value: float
    time: datetime | date | None


def latest(results: list[Usable], at: datetime) -> dict[str, Usable]:
    """The most recent result of each analyte (the last one sent on a tie).

    Times are compared as instants with their zones (08:00+08:00 is before 01:30Z).
    A time without a zone, and a date, are read in the encounter's zone; when the
    encounter time has no zone either, in the zone of the first lab time that has one
    (all are compared as local clock times when none has). A result without a time
    counts as taken at the encounter. A date without a time is a whole day and counts
    as the END of that day: a date-only result is later than any timed result of the
    same day and earlier than any of the next day. Results dated after the encounter
    are used like the others (not checked here).
    """
    zone = at.tzinfo or next((r.time.tzinfo for r in results
                              if isinstance(r.time, datetime) and r.time.tzinfo), None)
    best: dict[str, tuple[tuple[datetime, int], Usable]] = {}
    for result in results:
        key = sort_key(result.time, at, zone)
        prev = best.get(result.analyte.code)
        if prev is None or key >= prev[0]:
            best[result.analyte.code] = (key, result)
    return {code: result for code, (_, result) in best.items()}


def usable_labs(labs: list[LabResult], kb: KnowledgeBase, fs: FactSet
                ) -> tuple[list[Usable], dict[str, str]]:
    """Results the engine's knowledge can use, and for each analyte with a result
    that cannot be used, the path of the first such (``labs[2].value (no value)``);
    each result not used is a note."""
    usable: list[Usable] = []
    unusable: dict[str, str] = {}
    for i, lab in enumerate(labs):
        analyte = analyte_of(kb, lab)
        if analyte is None:
            fs.note(f"labs[{i}].code", f"unknown lab code {lab.code!r}: not used by any rule",
                    f"未知检验代码 {lab.code!r}：未用于任何规则")
            continue
        if lab.value is None:
            fs.note(f"labs[{i}].value", "lab result without a value: not used by any rule",
                    "检验结果无数值：未用于任何规则")
            unusable.setdefault(analyte.code, f"labs[{i}].value (no value)")
            continue
        value = convert(analyte, lab)
        if value is None:
            fs.note(f"labs[{i}].value",
                    f"the value cannot be converted to {analyte.canonical} with this "
                    "knowledge: not used by any rule",
                    f"该数值无法按本知识库换算为 {analyte.canonical}：未用于任何规则")
            unusable.setdefault(analyte.code, f"labs[{i}].value (unit)")
            continue
        usable.append(Usable(i, analyte, value, lab.time))
    return usable, unusable
