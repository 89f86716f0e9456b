"""Band scores (NEWS2, qSOFA) computed from the tables in knowledge/scores/.

Values are banded as they are (no rounding: rounding half-to-even put SBP 100.5 with
100 but 101.5 with 102); the tables' bands cover every real number exactly once.
"""

from __future__ import annotations

from typing import Any

from cdss.derive.values import Derived, Missing
from cdss.kb.schema import Band, ScoredParameter, ScoreTable


def _in_band(band: Band, x: float) -> bool:
    return ((band.min is None or x >= band.min) and (band.max is None or x <= band.max)
            and (band.above is None or x > band.above)
            and (band.below is None or x < band.below))


def _banded(bands: tuple[Band, ...], x: float, name: str) -> int:
    for band in bands:
        if _in_band(band, x):
            return band.score
    raise ValueError(f"no band of {name} covers {x}")  # a table defect, caught by tests


def _band_score(param: ScoredParameter, value: Any, values: dict[str, Any] | None = None
                ) -> int:
    if param.values:
        key = str(value).lower() if isinstance(value, bool) else str(value)
        score = param.values[key]
    else:
        score = _banded(param.bands, float(value), param.field)
    if param.also is not None and values is not None:
        other = values.get(param.also.field)
        if other is not None:
            score = max(score, _banded(param.also.bands, float(other), param.also.field))
    return score


def _path(field: str, default: str) -> str:
    """Input path of a score input: vitals by default, labs and age by prefix."""
    if field.startswith("labs."):
        return field
    if field == "age":
        return "patient.birth_date"
    return f"{default}.{field}"


def band_score(table: ScoreTable, values: dict[str, Any], path: str = "vitals"
               ) -> Derived | Missing:
    """Sum of the parameter scores; Missing (with every absent field) if any is absent."""
    absent = tuple(_path(p.field, path) for p in table.parameters.values()
                   if values.get(p.field) is None)
    if absent:
        return Missing(table.id, absent)
    parts = partial_band_score(table, values)  # every parameter is present
    inputs = {p.field: values[p.field] for p in table.parameters.values()}
    return Derived(table.id, float(sum(parts.values())), f"sum of {len(parts)} parameter scores",
                   inputs, table.source.title, "", parts)


def partial_band_score(table: ScoreTable, values: dict[str, Any]) -> dict[str, int]:
    """Scores of the parameters that are present (a lower bound of the total)."""
    return {name: _band_score(p, values[p.field], values)
            for name, p in table.parameters.items() if values.get(p.field) is not None}


def reads_only_vitals(table: ScoreTable) -> bool:
    """Whether every input of ``table`` (each parameter's field and its ``also`` field)
    is a vital sign, not the age or a lab: its scores are then the same read from the
    vitals alone as from the vitals with the age and labs."""
    fields = [p.field for p in table.parameters.values()]
    fields += [p.also.field for p in table.parameters.values() if p.also is not None]
    return not any(f == "age" or f.startswith("labs.") for f in fields)
