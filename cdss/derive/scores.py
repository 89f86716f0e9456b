"""Band scores (NEWS2, qSOFA) computed from the tables in knowledge/scores/.

Values are banded as they are (no rounding: rounding half-to-even put SBP 100.5 with
100 but 101.5 with 102); the tables' bands cover every real number exactly once.
"""

from __future__ import annotations

from typing import Any

from cdss.derive.values import Derived, Missing
from cdss.kb.schema import Band, ScoredParameter, ScoreTable, check_tiling


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


#: a parameter as plain tuples: (name, field, scores by value or None, bands, the also
#: field or None, its bands); a band is (min, max, above, below, score)
_Bands = tuple[tuple[float | None, float | None, float | None, float | None, int], ...]
_Entry = tuple[str, str, dict[str, int] | None, _Bands, str | None, _Bands]
#: bands that tile the real line, sorted: each but the last as (its upper bound, whether
#: the bound is in it, its score), and the last one's score
_Cut = tuple[tuple[tuple[float, bool, int], ...], int]


def _cut(bands: tuple[Band, ...]) -> _Cut | None:
    """``bands`` as a :data:`_Cut` when they cover every real number exactly once
    (:func:`check_tiling`, which the knowledge's loader demands of every table): then the
    one band holding a number, the first in the table's order to hold it, is the first in
    ascending order whose upper bound it does not pass (:func:`_cut_score`). None (the
    bands tried in the table's order) for bands that do not tile."""
    try:
        check_tiling(bands)
    except ValueError:
        return None
    if not bands:
        return None
    inf = float("inf")
    spans = sorted(
        ((b.min if b.min is not None else b.above if b.above is not None else -inf),
         b.above is not None,
         (b.max if b.max is not None else b.below if b.below is not None else inf),
         b.below is not None, b.score) for b in bands)
    return tuple((high, not high_open, score)
                 for _, _, high, high_open, score in spans[:-1]), spans[-1][4]


def _cut_score(cut: _Cut, x: float) -> int:
    """The score of the band of ``cut`` holding ``x`` (a float, not NaN: NaN is in no
    band, and :func:`_banded_plain` says so)."""
    uppers, score = cut
    for high, closed, banded in uppers:
        if x < high or (closed and x == high):
            return banded
    return score


def _by_bool(by_value: dict[str, int] | None) -> dict[bool, int] | None:
    """The scores of a parameter scored by value, for a flag (True, False) read as its
    word (``"true"``, ``"false"``), when the table has both words; else None."""
    if by_value is None or "true" not in by_value or "false" not in by_value:
        return None
    return {True: by_value["true"], False: by_value["false"]}


class _Plan:
    """A table's parameters as :data:`_Entry` tuples, with what each encounter would
    otherwise work out again: each parameter's input path (vitals by default) and
    whether the table reads only vital signs."""

    __slots__ = ("entries", "fields", "formula", "only_vitals", "params", "vitals_paths")

    def __init__(self, table: ScoreTable) -> None:
        def bands(of: tuple[Band, ...]) -> _Bands:
            return tuple((b.min, b.max, b.above, b.below, b.score) for b in of)

        self.entries: tuple[_Entry, ...] = tuple(
            (name, p.field, p.values or None, bands(p.bands),
             p.also.field if p.also is not None else None,
             bands(p.also.bands) if p.also is not None else ())
            for name, p in table.parameters.items())
        #: each entry followed by its bands and its also field's bands as :data:`_Cut`
        #: (None: scored by value, or not tiling) and its scores by flag (:func:`_by_bool`)
        self.params = tuple(
            (*e, None if p.values else _cut(p.bands),
             _cut(p.also.bands) if p.also is not None else None, _by_bool(p.values or None))
            for e, p in zip(self.entries, table.parameters.values(), strict=True))
        self.fields = tuple(e[1] for e in self.entries)
        self.vitals_paths = tuple((e[1], _path(e[1], "vitals")) for e in self.entries)
        read = [f for e in self.entries for f in (e[1], e[4]) if f is not None]
        self.only_vitals = not any(f == "age" or f.startswith("labs.") for f in read)
        self.formula = f"sum of {len(self.entries)} parameter scores"


#: score table (by id, with the table kept so the id stays its own) -> its plan: read
#: once per table, not once per encounter
_PLANS: dict[int, tuple[ScoreTable, _Plan]] = {}
_PLANS_KEPT = 256


def _plan(table: ScoreTable) -> _Plan:
    found = _PLANS.get(id(table))
    if found is not None and found[0] is table:
        return found[1]
    plan = _Plan(table)
    if len(_PLANS) >= _PLANS_KEPT:
        _PLANS.clear()
    _PLANS[id(table)] = (table, plan)
    return plan


def _banded_plain(bands: _Bands, x: float, name: str) -> int:
    """:func:`_banded` on plain tuples."""
    for low, high, above, below, score in bands:
        if ((low is None or x >= low) and (high is None or x <= high)
                and (above is None or x > above) and (below is None or x < below)):
            return score
    raise ValueError(f"no band of {name} covers {x}")  # a table defect, caught by tests


def _entry_score(entry: _Entry, value: Any, values: dict[str, Any]) -> int:
    """:func:`_band_score` of a parameter given as :data:`_Entry`."""
    _, field, by_value, bands, also, also_bands = entry
    if by_value is not None:
        score = by_value[str(value).lower() if isinstance(value, bool) else str(value)]
    else:
        score = _banded_plain(bands, float(value), field)
    if also is not None:
        other = values.get(also)
        if other is not None:
            score = max(score, _banded_plain(also_bands, float(other), also))
    return score


def band_score(table: ScoreTable, values: dict[str, Any], path: str = "vitals"
               ) -> Derived | Missing:
    """Sum of the parameter scores; Missing (with every absent field) if any is absent."""
    plan = _plan(table)
    get = values.get
    read = [get(f) for f in plan.fields]  # each parameter's input, in order
    if None in read:  # (the inputs are numbers, texts and flags: only None is None)
        if path == "vitals":  # read[k] is get(fields[k]); zip's strict= costs 0.2 µs
            absent = tuple([p for (_, p), v in zip(plan.vitals_paths, read)  # noqa: B905
                            if v is None])
        else:
            absent = tuple(_path(f, path) for f in plan.fields if get(f) is None)
        return Missing(table.id, absent)
    parts = {}
    total = 0
    # plan.params and read have one item per parameter (zip's strict= costs 0.2 µs a call)
    params = zip(plan.params, read)  # noqa: B905
    for (name, field, by_value, bands, also, also_bands, cut, also_cut, by_bool), value in params:
        # _entry_score, _banded_plain and _cut_score inlined (once per parameter of every
        # table, every encounter)
        if by_value is not None:
            if by_bool is not None and type(value) is bool:
                score = by_bool[value]
            else:
                score = by_value[str(value).lower() if isinstance(value, bool) else str(value)]
        elif cut is not None and (x := float(value)) == x:  # (NaN: in order, below)
            uppers, score = cut
            for high, closed, banded in uppers:
                if x < high or (closed and x == high):
                    score = banded
                    break
        else:
            x = float(value)
            for low, high, above, below, banded in bands:
                if ((low is None or x >= low) and (high is None or x <= high)
                        and (above is None or x > above) and (below is None or x < below)):
                    score = banded
                    break
            else:
                raise ValueError(f"no band of {field} covers {x}")  # a table defect
        if also is not None:
            other = get(also)
            if other is not None:
                y = float(other)
                score = max(score, _cut_score(also_cut, y) if also_cut is not None and y == y
                            else _banded_plain(also_bands, y, also))
        parts[name] = score
        total += score
    return Derived(table.id, float(total), plan.formula,
                   dict(zip(plan.fields, read)), table.source.title, "", parts)  # noqa: B905


def partial_band_score(table: ScoreTable, values: dict[str, Any]) -> dict[str, int]:
    """Scores of the parameters that are present (a lower bound of the total)."""
    return {e[0]: _entry_score(e, values[e[1]], values)
            for e in _plan(table).entries if values.get(e[1]) is not None}


def reads_only_vitals(table: ScoreTable) -> bool:
    """Whether every input of ``table`` (each parameter's field and its ``also`` field)
    is a vital sign, not the age or a lab: its scores are then the same read from the
    vitals alone as from the vitals with the age and labs."""
    return _plan(table).only_vitals
