"""Band scores (NEWS2, qSOFA) computed from the tables in knowledge/scores/."""

from __future__ import annotations

from typing import Any

from cdss.derive.values import Derived, Missing
from cdss.kb.schema import ScoredParameter, ScoreTable


def _band_score(param: ScoredParameter, value: Any) -> int:
    if param.values:
        key = str(value).lower() if isinstance(value, bool) else str(value)
        return param.values[key]
    x = round(float(value), param.decimals)
    for band in param.bands:
        if (band.min is None or x >= band.min) and (band.max is None or x <= band.max):
            return band.score
    raise ValueError(f"no band of {param.field} covers {x}")  # a table defect, caught by tests


def band_score(table: ScoreTable, values: dict[str, Any], path: str = "vitals"
               ) -> Derived | Missing:
    """Sum of the parameter scores; Missing (with every absent field) if any is absent."""
    absent = tuple(f"{path}.{p.field}" for p in table.parameters.values()
                   if values.get(p.field) is None)
    if absent:
        return Missing(table.id, absent)
    parts = {name: _band_score(p, values[p.field]) for name, p in table.parameters.items()}
    inputs = {p.field: values[p.field] for p in table.parameters.values()}
    return Derived(table.id, float(sum(parts.values())), f"sum of {len(parts)} parameter scores",
                   inputs, table.source.title, "", parts)


def partial_band_score(table: ScoreTable, values: dict[str, Any]) -> dict[str, int]:
    """Scores of the parameters that are present (a lower bound of the total)."""
    return {name: _band_score(p, values[p.field]) for name, p in table.parameters.items()
            if values.get(p.field) is not None}
