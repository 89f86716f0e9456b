"""Override analytics for reviewers: override rate by rule, site and reason.

``override_rates(store, by="rule_id")`` gives one row per group with ``n`` (feedback
items), ``overridden``, ``accepted`` and ``override_rate``; a pandas DataFrame when
pandas is installed (``as_frame=None``), else a list of dicts.
``plot_override_rates`` draws it with matplotlib (``pip install 'cdss[jupyter]'``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

#: groupable columns of the joined feedback rows
GROUPS = ("rule_id", "site", "reason_code", "service", "indicator")
NONE = "(none)"


def _rows(source: Any) -> list[dict[str, Any]]:
    return source.rows() if hasattr(source, "rows") else list(source)


def override_rates(source: Any, by: str | Iterable[str] = "rule_id", *,
                   as_frame: bool | None = None) -> Any:
    """Override rate per group of ``by`` (one or more of :data:`GROUPS`), highest
    count first. ``source``: a ``FeedbackStore`` or its ``rows()``."""
    keys = (by,) if isinstance(by, str) else tuple(by)
    bad = [k for k in keys if k not in GROUPS]
    if bad:
        raise ValueError(f"cannot group by {bad}; choose from {GROUPS}")
    counts: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in _rows(source):
        group = tuple(str(row.get(k) or NONE) for k in keys)
        c = counts[group]
        c[0] += 1
        c[1] += row.get("outcome") == "overridden"
        c[2] += row.get("outcome") == "accepted"
    table = [{**dict(zip(keys, g, strict=True)), "n": n, "overridden": o, "accepted": a,
              "override_rate": round(o / n, 4)}
             for g, (n, o, a) in sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0]))]
    if as_frame is False:
        return table
    try:
        import pandas as pd
    except ImportError:
        if as_frame:
            raise
        return table
    return pd.DataFrame(table, columns=[*keys, "n", "overridden", "accepted",
                                        "override_rate"])


def plot_override_rates(source: Any, by: str = "rule_id", *, top: int = 20,
                        lang: str = "en", ax: Any = None) -> Any:
    """A horizontal bar chart of the override rate of the ``top`` groups by count."""
    import matplotlib.pyplot as plt

    table = override_rates(source, by, as_frame=False)[:top]
    if ax is None:
        _fig, ax = plt.subplots(figsize=(8, 0.35 * max(len(table), 3) + 1))
    labels = [f"{r[by]} (n={r['n']})" for r in table]
    ax.barh(labels[::-1], [r["override_rate"] for r in table][::-1], color="#b26a00")
    ax.set_xlim(0, 1)
    ax.set_xlabel("override rate" if lang == "en" else "忽略率")
    ax.set_title(f"Override rate by {by}" if lang == "en" else f"按 {by} 的提示忽略率")
    return ax
