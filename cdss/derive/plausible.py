"""The ``implausible`` fact: a value outside its plausibility bounds, withheld."""

from __future__ import annotations

from cdss import units
from cdss.derive.factset import Context
from cdss.derive.facttype import FactType
from cdss.derive.facttype import field as f
from cdss.kb.schema import Text

IMPLAUSIBLE = FactType("implausible", True, {
    "field": f("string", ""),
    "value": f("number", ""),
    "low": f("number", ""),
    "high": f("number", ""),
    "unit": f("string", ""),
    "label_zh": f("string", "", description="the field's name for a clinician (its path "
                  "when knowledge/field_labels.yaml has none)"),
    "label_en": f("string", ""),
}, "a value outside its plausibility bounds (withheld from other rules)")


def implausible(ctx: Context, path: str, value: float, low: float, high: float,
                unit: str, name: Text | None = None) -> None:
    """One ``implausible`` fact for the value at input ``path``, named as a clinician
    names it: ``name`` (a lab's analyte), else its field label, else its path."""
    label = name or ctx.kb.labels.label(path)
    ctx.fs.add(IMPLAUSIBLE, path, {"field": path, "value": round(value, 2), "low": low,
                                   "high": high, "unit": units.shown(unit),
                                   "label_zh": label.zh if label else path,
                                   "label_en": label.en if label else path})


def plausible(ctx: Context, path: str, value: float | None, unit: str) -> float | None:
    """``value`` when within the knowledge's bounds for ``path`` (or without bounds);
    else None, with an ``implausible`` fact and the field marked missing."""
    bound = ctx.kb.plausibility.vitals.get(path)
    if value is None or bound is None:
        return value
    if bound.low <= value <= bound.high:
        return value
    implausible(ctx, path, value, bound.low, bound.high, bound.unit or unit)
    ctx.fs.missing[path] = (f"{path} (implausible)",)
    return None
