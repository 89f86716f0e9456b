"""What a site layer changes, what upstream changes touch it, and its impact on past visits.

* :func:`layer_diff`: for each layer of a site, the rules it turns off or on, re-levels or
  makes interrupt more or less, against the layers under it, and its knowledge changes.
* :func:`upstream_changes`: which rules and knowledge rows changed between two versions
  of the bundled content (``--upstream-rules`` / ``--upstream-knowledge``: the folders the
  layers were written against) among those a layer overrides.
* :func:`impact`: past encounters replayed under two configurations: alerts per rule,
  severity and physician, before and after (``cdss site impact``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdss.engine import Engine
from cdss.errors import CdssError
from cdss.kb import load_knowledge
from cdss.rulelang import compile_all
from cdss.site import load_site

#: the state of one rule under a configuration: (runs, severity, stop)
RuleState = tuple[bool, str, str]


def _states(engine: Engine, all_ids: Iterable[str]) -> dict[str, RuleState]:
    running = {r.id: r for r in engine.rules}
    out: dict[str, RuleState] = {}
    for rule_id in all_ids:
        rule = running.get(rule_id)
        if rule is None:
            out[rule_id] = (False, "", "")
        else:
            severity = rule.spec.severity
            out[rule_id] = (True, severity, engine.alerting.stop(rule_id, severity))
    return out


def _describe(rule_id: str, before: RuleState, after: RuleState) -> str:
    if before[0] and not after[0]:
        return f"{rule_id}: off (was {before[1]}, stop {before[2]})"
    if after[0] and not before[0]:
        return f"{rule_id}: on ({after[1]}, stop {after[2]})"
    parts = []
    if before[1] != after[1]:
        parts.append(f"severity {before[1]} -> {after[1]}")
    if before[2] != after[2]:
        parts.append(f"stop {before[2]} -> {after[2]}")
    return f"{rule_id}: " + ", ".join(parts)


@dataclass(frozen=True)
class LayerDiff:
    """What one layer changes against the layers under it."""

    level: str
    path: str
    rules: list[str]
    knowledge: list[str]
    hiding: list[str]

    def to_text(self) -> str:
        lines = [f"{self.level} ({self.path})"]
        lines += [f"  rule  {line}" for line in self.rules]
        lines += [f"  shown {line}" for line in self.hiding]
        lines += [f"  knowledge {line}" for line in self.knowledge]
        if len(lines) == 1:
            lines.append("  no change")
        return "\n".join(lines)


def _prefix_site(folder: Path, levels: Iterable[str], into: Path) -> Path | None:
    into.mkdir(parents=True, exist_ok=True)
    copied = False
    for level in levels:
        source = folder / f"{level}.yaml"
        if source.is_file():
            shutil.copy(source, into / source.name)
            copied = True
    return into if copied else None


def layer_diff(site: str | Path, *, rules_dir: str | Path | None = None,
               knowledge_dir: str | Path | None = None) -> list[LayerDiff]:
    """Each layer of the site against the layers under it (national content first)."""
    folder = Path(site)
    loaded = load_site(folder)  # validates every layer first
    all_ids = [r.id for r in Engine(rules_dir=rules_dir, knowledge_dir=knowledge_dir,
                                    statuses=("draft", "research", "testing", "production",
                                              "expired")).rules]
    out: list[LayerDiff] = []
    with tempfile.TemporaryDirectory(prefix="cdss-site-diff-") as tmp:
        below: Engine = Engine(rules_dir=rules_dir, knowledge_dir=knowledge_dir)
        present = [layer.level for layer in loaded.layers]
        for i, level in enumerate(present):
            prefix = _prefix_site(folder, present[: i + 1], Path(tmp) / level)
            engine = Engine(rules_dir=rules_dir, knowledge_dir=knowledge_dir, site=prefix)
            before, after = _states(below, all_ids), _states(engine, all_ids)
            rules = [_describe(r, before[r], after[r]) for r in all_ids
                     if before[r] != after[r]]
            knowledge = [f"{c.path}: {c.what} ({c.reason})" for c in engine.site_changes
                         if c.level == level]
            hiding = [f"{cat}/{kind or '*'} from {floor} ({change.reason})"
                      for (cat, kind), (floor, change)
                      in engine.alerting.rules.min_severity.items() if change.level == level]
            out.append(LayerDiff(level, str(folder / f"{level}.yaml"), rules, knowledge,
                                 hiding))
            below = engine
    return out


# ------------------------------------------------------------------ upstream changes
def _rule_specs(rules_dir: Path, knowledge_dir: Path | None) -> dict[str, Any]:
    kb = load_knowledge(knowledge_dir)
    compiled, problems = compile_all(rules_dir, kb)
    if problems:
        raise problems[0]
    return {r.id: r.spec.model_dump(mode="json", by_alias=True) for r in compiled}


def _rows(knowledge_dir: Path | None) -> dict[str, Any]:
    kb = load_knowledge(knowledge_dir)
    rows: dict[str, Any] = {}
    for table in ("interactions", "duplicates", "allergy_cross", "contraindications",
                  "indications"):
        for row in getattr(kb, table):
            rows[f"{table}:{row.id}"] = row.model_dump(mode="json")
    for drug in kb.drugs.values():
        rows[f"drugs:{drug.id}"] = drug.model_dump(mode="json")
    for programme in kb.followup:
        rows[f"followup:{programme.id}"] = programme.model_dump(mode="json")
    return rows


def _touched(site_dir: Path) -> dict[str, list[str]]:
    """What each layer overrides: rule ids and knowledge rows (``table:id``)."""
    out: dict[str, list[str]] = {}
    for loaded in load_site(site_dir).layers:
        r, k = loaded.layer.rules, loaded.layer.knowledge
        keys = [f"rule:{c.rule}" for group in (r.disable, r.enable, r.severity, r.stop)
                for c in group]
        keys += [f"{c.table}:{c.id}" for c in k.disable]
        keys += [f"duplicates:{c.duplicate}" for c in k.duplicate_allowances]
        keys += [f"drugs:{c.drug}" for c in (*k.names, *k.formulary)]
        keys += [f"followup:{c.programme}" for c in k.followup]
        out[loaded.level] = keys
    return out


def upstream_changes(site: str | Path, old_rules: str | Path,
                     old_knowledge: str | Path | None = None, *,
                     rules_dir: str | Path | None = None,
                     knowledge_dir: str | Path | None = None) -> dict[str, list[str]]:
    """For each layer, the things it overrides that changed between the old bundled
    content (the folders it was written against) and the current one."""
    from cdss._resources import knowledge_dir as bundled_knowledge
    from cdss._resources import rules_dir as bundled_rules

    now_rules = Path(rules_dir) if rules_dir else bundled_rules()
    now_knowledge = Path(knowledge_dir) if knowledge_dir else bundled_knowledge()
    old_k = Path(old_knowledge) if old_knowledge else now_knowledge
    old_specs = _rule_specs(Path(old_rules), old_k)
    new_specs = _rule_specs(now_rules, now_knowledge)
    old_rows, new_rows = _rows(old_k), _rows(now_knowledge)
    out: dict[str, list[str]] = {}
    for level, keys in _touched(Path(site)).items():
        lines = []
        for key in dict.fromkeys(keys):
            kind, _, name = key.partition(":")
            old, new = ((old_specs.get(name), new_specs.get(name)) if kind == "rule"
                        else (old_rows.get(key), new_rows.get(key)))
            if old == new:
                continue
            what = ("removed upstream" if new is None else "new upstream" if old is None
                    else "changed upstream: " + ", ".join(sorted(
                        k for k in set(old) | set(new) if old.get(k) != new.get(k))))
            lines.append(f"{key}: {what}")
        out[level] = lines
    return out


# ------------------------------------------------------------------ impact
@dataclass
class ImpactResult:
    """Alerts of the same encounters under two configurations."""

    checked: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    before: Counter = field(default_factory=Counter)
    after: Counter = field(default_factory=Counter)

    def table(self, by: str = "rule") -> list[tuple[str, int, int, int]]:
        """(key, before, after, change) per rule, severity or physician (changes first)."""
        keys = {k[1] for k in (*self.before, *self.after) if k[0] == by}
        rows = [(k, self.before[(by, k)], self.after[(by, k)],
                 self.after[(by, k)] - self.before[(by, k)]) for k in keys]
        return sorted(rows, key=lambda r: (-abs(r[3]), r[0]))

    def to_text(self) -> str:
        lines = [f"{self.checked} encounters replayed, {len(self.errors)} could not be read"]
        for by in ("severity", "rule", "physician"):
            rows = self.table(by)
            if not rows:
                continue
            width = max(len(by), *(len(r[0]) for r in rows))
            lines += ["", f"{by:{width}}  before  after  change"]
            lines += [f"{k:{width}}  {b:6d}  {a:5d}  {c:+6d}" for k, b, a, c in rows]
        lines += [f"error {where}: {message}" for where, message in self.errors[:20]]
        return "\n".join(lines)

    def to_pandas(self, by: str = "rule") -> Any:
        import pandas as pd

        return pd.DataFrame(self.table(by), columns=[by, "before", "after", "change"])

    def plot(self, by: str = "rule", top: int = 15) -> Any:
        """A bar chart of the largest changes (matplotlib; for Jupyter)."""
        import matplotlib.pyplot as plt

        rows = self.table(by)[:top]
        fig, ax = plt.subplots(figsize=(8, 0.4 * len(rows) + 1))
        ax.barh([r[0] for r in rows][::-1], [r[3] for r in rows][::-1])
        ax.set_xlabel("change in alerts (after - before)")
        ax.set_title(f"Impact by {by}")
        fig.tight_layout()
        return fig

    def _repr_html_(self) -> str:
        return self.to_pandas().to_html(escape=True)


def _lines(source: str | Path) -> Iterator[tuple[str, str]]:
    with Path(source).open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                yield f"line {n}", line


def impact(before: Engine, after: Engine, source: str | Path) -> ImpactResult:
    """Replay a JSONL file of encounters under two engines and count their alerts."""
    result = ImpactResult()
    for where, line in _lines(source):
        try:
            enc = before.parse(line)
            physician = (enc.record.physician if enc.record is not None else None) or "—"
            found = (before.findings(line, evidence=False), after.findings(line, evidence=False))
        except (CdssError, ValueError) as exc:
            result.errors.append((where, str(exc).splitlines()[0][:200]))
            continue
        result.checked += 1
        for counter, suggestions in zip((result.before, result.after), found, strict=True):
            for s in suggestions:
                counter[("rule", s.rule_id)] += 1
                counter[("severity", s.severity)] += 1
                counter[("physician", physician)] += 1
    return result


def site_engine(spec: str | None, **options: Any) -> Engine:
    """An engine for ``--before`` / ``--after``: a site folder, or ``national``."""
    if spec in (None, "", "national"):
        return Engine(**options)
    return Engine(site=spec, **options)

