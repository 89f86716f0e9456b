"""The durable backend keeps one state per ruleset between checks (issue #17).

Making a durable-rules state costs about a third of a check, so a check asserts its
facts into the kept state and retracts them afterwards. Nothing of one encounter may
reach the next: these tests fail if a retraction leaves a fact, or a half-joined match,
behind. Code that registers its own ruleset runs in a fresh process (a durable crash
must fail a test, not kill the runner).
"""

from __future__ import annotations

import random
import textwrap

from golden.reports import encounters

import cdss
from cdss.derive import build_facts

from conftest import DURABLE_TEST_BODY, run_isolated

PRELUDE = """
from cdss.backends.durable.host import DurableHost
from cdss.errors import RuleEvaluationError
backend = DurableHost.instance()
""" + DURABLE_TEST_BODY + """
body["bad"] = {"all": [{"m": {"t": "bad"}}], "run": "bad"}
def bad(bound):
    raise ValueError("an action failed")
backend.register("reuse", body, actions={"bad": bad})
def run(*facts):
    return backend.run("reuse", list(facts))
"""


def _ok(code: str) -> None:
    result = run_isolated(PRELUDE + textwrap.dedent(code), timeout=300)
    assert result.returncode == 0, (
        f"exit {result.returncode} (negative: killed by signal)\n{result.stderr[-2000:]}")
    assert "OK" in result.stdout, result.stdout + result.stderr


def test_a_fact_of_one_check_never_joins_a_fact_of_the_next() -> None:
    _ok("""
    a = {"t": "a", "id": "a1", "x": 1}
    b = {"t": "b", "id": "b1", "x": 1}
    assert run(a) == []                     # half a match, then retracted
    assert run(b) == [], "a fact of the last check joined"
    assert run(a, b) == [("pair", {"a": "a1", "b": "b1"})]
    assert run(b) == [] and run(a) == []
    assert run({"t": "c", "id": "c1"}) == [("one", {"m": "c1"})]
    assert run({"t": "c", "id": "c1"}) == [("one", {"m": "c1"})], "same id again"
    assert backend.kept_states() == 1 and backend.live_states() == 0
    assert backend.states_in_engine("reuse") == 1
    print("OK")
    """)


def test_a_failed_check_deletes_its_state_and_the_next_starts_fresh() -> None:
    _ok("""
    a = {"t": "a", "id": "a1", "x": 1}
    assert run(a) == [] and backend.kept_states() == 1
    made = backend.created
    try:
        run(a, {"t": "bad", "id": "x"})
        raise AssertionError("the action's error was swallowed")
    except RuleEvaluationError as exc:
        assert "an action failed" in str(exc)
    assert backend.kept_states() == 0 and backend.live_states() == 0
    assert backend.states_in_engine("reuse") == 0
    assert run({"t": "b", "id": "b1", "x": 1}) == [], "the failed check's fact joined"
    assert backend.created == made + 1 and backend.kept_states() == 1
    print("OK")
    """)


def test_every_golden_encounter_in_shuffled_order_matches_the_compiled_backend() -> None:
    # one durable state carries the facts of hundreds of encounters in turn, in an
    # order unlike the file's: each must match exactly what the compiled backend finds
    durable, compiled = cdss.Engine(backend="durable"), cdss.Engine(backend="compiled")
    fact_sets = [durable.ruleset.relevant(build_facts(durable.parse(enc), durable.kb).facts)
                 for _, enc in encounters()]
    order = list(range(len(fact_sets)))
    random.Random(17).shuffle(order)
    matched = 0
    for i in order:
        found = durable.matches(fact_sets[i])
        assert found == compiled.matches(fact_sets[i]), i
        matched += bool(found)
    assert matched > len(order) // 2  # the comparison is not between empty lists
    assert durable._backend.host.live_states() == 0  # type: ignore[attr-defined]
