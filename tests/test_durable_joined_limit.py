"""Issue #17: durable-rules does not share a condition that compares with an earlier
pattern's field, so `cdss rules lint` counts such a condition once per rule.

Measured: 65 rules whose second pattern is the identical ``key == w and rx != a.rx``
fail with error 303 on a fact with key ``w``; 64 pass. Interaction rows grow that way
(one drug as the ``b`` of many rows); the lint used to say "ok" for such a set.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

import cdss
from cdss._resources import knowledge_dir
from cdss.backends.durable import emit, limits
from cdss.kb import load_knowledge
from cdss.receipt import fixed_clock

from _encounters import without_backend

RAW = textwrap.dedent("""
    import sys
    from durable import engine as de
    n = int(sys.argv[1])
    class H(de.Host):
        def _run(self): return None
        def get_action(self, name): return lambda c: None
    body = {"s": {"all": [{"m": {"t": "s"}}], "run": "s"}}
    for i in range(n):
        body[f"r{i}"] = {"all": [
            {"a": {"$and": [{"t": "x"}, {"$ex": {"rx": 1}}, {"k": f"p{i}"}]}},
            {"b": {"$and": [{"t": "x"}, {"$and": [{"k": "w"}, {"$neq": {"rx": {"a": "rx"}}}]}]}}],
            "run": f"r{i}"}
    h = H(); h.register_rulesets({"rs": body})
    for fact in ({"id": "s", "t": "s"}, {"id": "f2", "t": "x", "k": "p3", "rx": 2},
                 {"id": "f1", "t": "x", "k": "w", "rx": 1}):
        try:
            h.assert_fact("rs", {"sid": "1", **fact})
        except de.MessageNotHandledException:
            pass
    print("ok")
""")


@pytest.mark.parametrize(("rules", "fails"), [(64, False), (65, True)])
def test_durable_counts_each_joined_condition(rules: int, fails: bool) -> None:
    out = subprocess.run([sys.executable, "-c", RAW, str(rules)], capture_output=True,
                         text=True)
    assert ("error code: 303" in out.stderr) is fails, out.stderr[-300:]
    assert (out.stdout.strip() == "ok") is not fails


def _grown(tmp: Path, rows: int, target: str = "aspirin") -> Path:
    """The bundled knowledge with ``rows`` interaction rows ``<drug> + target``."""
    root = tmp / "knowledge"
    shutil.copytree(knowledge_dir(), root)
    kb = load_knowledge()
    paired = {frozenset((i.a, i.b)) for i in kb.interactions}
    row = yaml.safe_load((root / "interactions" / "core.yaml").read_text("utf-8"))[
        "interactions"][0]
    extra = [{**row, "id": f"x_{d}", "a": d, "b": target} for d in sorted(kb.drugs)
             if d != target and frozenset((d, target)) not in paired][:rows]
    assert len(extra) == rows
    (root / "interactions" / "x.yaml").write_text(
        yaml.safe_dump({"interactions": extra}, allow_unicode=True), "utf-8")
    return root


def test_a_set_past_the_joined_limit_is_split_into_rulesets(tmp_path: Path) -> None:
    """Issue #17: as knowledge grows, the durable backend splits the rules into rulesets
    within durable-rules' limits instead of failing; the reports do not change."""
    root = _grown(tmp_path, 62)
    clock = fixed_clock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    python = cdss.Engine(backend="python", knowledge_dir=root, clock=clock)
    assert limits.validate(python.rules) == []
    with pytest.raises(emit.LimitProblem, match="could be true at once"):
        emit.check_limits([(r.id, r.patterns) for r in python.rules])  # one ruleset
    durable = cdss.Engine(knowledge_dir=root, clock=clock)
    assert len(durable._backend.ruleset_names) == 2
    kb = load_knowledge()
    paired = {frozenset((i.a, i.b)) for i in kb.interactions}
    late = [d for d in sorted(kb.drugs)
            if d != "aspirin" and frozenset((d, "aspirin")) not in paired][:62][-3:]
    encounter = {"id": "e", "time": "2026-11-20T09:30:00+08:00", "patient": {"id": "p"},
                 "prescriptions": [{"drug": d, "route": "oral"} for d in
                                   ("aspirin", *late)]}
    by_durable, by_python = durable.check(encounter), python.check(encounter)
    fired = {s.rule_id for s in by_durable.suggestions}
    assert {f"dosing.interaction.x_{d}" for d in late} <= fired  # rows in the 2nd ruleset
    assert without_backend(by_durable) == without_backend(by_python)


def test_lint_accepts_a_set_under_it(tmp_path: Path) -> None:
    root = _grown(tmp_path, 40)
    assert limits.validate(cdss.Engine(backend="python", knowledge_dir=root).rules) == []
    assert cdss.Engine(knowledge_dir=root).check(
        {"id": "e", "time": "2026-11-20T09:30:00+08:00", "patient": {"id": "p"},
         "prescriptions": [{"drug": "aspirin", "dose": "100 mg", "frequency": "qd",
                            "route": "oral"},
                           {"drug": "acarbose", "dose": "50 mg", "frequency": "tid",
                            "route": "oral"}]})


def test_partition_keeps_each_ruleset_within_the_limits() -> None:
    from cdss.rulelang import ir

    rules = [(f"r{i}", (ir.Pattern("v", "vitals", ir.Compare("gt", "sbp", ir.Value(i))),))
             for i in range(100)]
    parts = emit.partition(rules)
    assert [len(p) for p in parts] == [emit.MAX_SIMULTANEOUS_CONDITIONS, 40]
    assert sorted(i for p in parts for i in p) == list(range(100))
    for part in parts:
        emit.check_limits([rules[i] for i in part])  # each within the limits
    # keyed by an equality, conditions of different values are never true together
    keyed = [(f"k{i}", (ir.Pattern("r", "rx_key", ir.All((
        ir.Compare("eq", "key", ir.Value(f"d{i}")),
        ir.Compare("eq", "at_dose", ir.Value(True))))),)) for i in range(100)]
    assert len(emit.partition(keyed)) == 1
