"""The durable backend checks on the caller's thread (issue #17); states are made and
deleted on its worker thread (issue #12).

A check's durable-rules calls can now be interrupted between any two of them. The host
marks the state under way before it asserts anything and clean only after the facts
are retracted, so an interrupted check leaves a dirty state, which the worker deletes.
These tests pin what that design rests on: deleting a state is safe whatever an
interrupted check left in it; a check left under way is never reused; checks from many
threads, and in a forked child, stay correct. Anything that could crash runs in a fresh
interpreter (a crash must fail a test, not kill the runner).
"""

from __future__ import annotations

import textwrap
import threading
from pathlib import Path

import pytest

import cdss
from cdss.backends.durable import emit
from cdss.backends.durable.host import _fact_text
from cdss.derive import build_facts
from cdss.rulelang import ir

from conftest import DURABLE_TEST_BODY, run_isolated

PRELUDE = """
import json, os, threading
import durable_rules_engine as C
from cdss.backends.durable.host import DurableHost
backend = DurableHost.instance()
""" + DURABLE_TEST_BODY + """
body["two"] = {"all": [{"m": {"t": "c"}}], "run": "two"}
backend.register("caller", body)
handle = backend._host.get_ruleset("caller")._handle
J = json.dumps
def run(*facts):
    return backend.run("caller", list(facts))
EXPECTED = [("one", {"m": "c9"}), ("two", {"m": "c9"}), ("pair", {"a": "a", "b": "b"})]
"""


def _ok(code: str, timeout: float = 300) -> str:
    result = run_isolated(PRELUDE + textwrap.dedent(code), timeout=timeout)
    assert result.returncode == 0, (
        f"exit {result.returncode} (negative: killed by signal)\n{result.stdout[-2000:]}"
        f"\n{result.stderr[-2000:]}")
    assert "OK" in result.stdout, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize("left", [
    "sentinel_in_flight", "fact_waiting", "join_waiting", "rule_in_flight",
    "second_action_in_flight", "half_retracted", "retracted_while_waiting"])
def test_deleting_a_state_is_safe_whatever_an_interrupted_check_left(left: str) -> None:
    # each way a check can stop between two durable-rules calls, 2,000 times, then the
    # state is deleted as the worker deletes a dirty one; the ruleset still matches
    _ok(f"""
    left = {left!r}
    for i in range(2000):
        sid = f"x{{i}}"
        r = C.assert_fact(handle, J({{"sid": sid, "id": "__sentinel__", "t": "__sentinel__"}}))
        C.start_action_for_state(handle, r[1])
        if left != "sentinel_in_flight":
            C.complete_and_start_action(handle, r[1])  # as a made state is: sentinel done
        if left == "fact_waiting":
            C.assert_fact(handle, J({{"sid": sid, "id": "c1", "t": "c"}}))
        elif left == "join_waiting":
            C.assert_fact(handle, J({{"sid": sid, "id": "a", "t": "a", "x": 1}}))
            C.assert_fact(handle, J({{"sid": sid, "id": "b", "t": "b", "x": 1}}))
        elif left in ("rule_in_flight", "second_action_in_flight"):
            r = C.assert_fact(handle, J({{"sid": sid, "id": "c1", "t": "c"}}))
            assert C.start_action_for_state(handle, r[1])
            if left == "second_action_in_flight":
                assert C.complete_and_start_action(handle, r[1])
        elif left == "half_retracted":
            texts = [J({{"sid": sid, "id": "a", "t": "a", "x": 1}}),
                     J({{"sid": sid, "id": "b", "t": "b", "x": 1}})]
            for t in texts:
                C.assert_fact(handle, t)
            C.retract_fact(handle, texts[0])
        elif left == "retracted_while_waiting":
            t = J({{"sid": sid, "id": "c1", "t": "c"}})
            C.assert_fact(handle, t)
            C.retract_fact(handle, t)
        C.delete_state(handle, sid)
    assert run({{"t": "c", "id": "c9"}}, {{"t": "a", "id": "a", "x": 1}},
               {{"t": "b", "id": "b", "x": 1}}) == EXPECTED
    print("OK")
    """)


def test_a_check_left_under_way_is_never_reused() -> None:
    # an interrupt that lands after a check's last durable call but before it is marked
    # clean leaves the state "under way" (here: a fact left in it, as an interrupted
    # check would): the next check must start in a fresh state, and the old one go
    _ok("""
    assert run({"t": "c", "id": "c0"}) == [("one", {"m": "c0"}), ("two", {"m": "c0"})]
    sid = backend._kept["caller"]
    made = backend.created
    r = C.assert_fact(handle, J({"sid": sid, "id": "a", "t": "a", "x": 1}))
    backend._checking = (sid, "caller")
    assert run({"t": "b", "id": "b", "x": 1}) == [], "a fact of the interrupted check joined"
    assert backend._kept["caller"] != sid and backend.created == made + 1
    assert backend.live_states() == 0 and backend.states_in_engine("caller") == 1
    print("OK")
    """)


def test_a_check_runs_on_the_callers_thread() -> None:
    # no hand-off to the worker between checks (it cost ~0.1 ms a check): the actions
    # run on the thread that called check
    _ok("""
    threads = []
    backend.register("where", {"s": {"all": [{"m": {"t": "__sentinel__"}}],
                                     "run": "__sentinel__"},
                               "w": {"all": [{"m": {"t": "w"}}], "run": "w"}},
                     actions={"w": lambda bound: threads.append(threading.get_ident())})
    for i in range(3):
        assert backend.run("where", [{"t": "w", "id": f"w{i}"}]) == [("w", {"m": f"w{i}"})]
    def other():
        backend.run("where", [{"t": "w", "id": "w"}])
    t = threading.Thread(target=other)
    t.start(); t.join()
    assert threads[:3] == [threading.get_ident()] * 3 and threads[3] == t.ident, threads
    print("OK")
    """)


def test_a_forked_child_checks_even_if_a_thread_held_the_lock() -> None:
    _ok("""
    assert run({"t": "c", "id": "c0"}) == [("one", {"m": "c0"}), ("two", {"m": "c0"})]
    held, release = threading.Event(), threading.Event()
    def hold():
        with backend._check_lock:
            held.set()
            release.wait()
    t = threading.Thread(target=hold)
    t.start(); held.wait()
    pid = os.fork()
    if pid == 0:  # the child: no thread holds the lock here
        ok = run({"t": "c", "id": "c9"}, {"t": "a", "id": "a", "x": 1},
                 {"t": "b", "id": "b", "x": 1}) == EXPECTED
        os._exit(0 if ok and backend.live_states() == 0 else 1)
    release.set(); t.join()
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
    assert run({"t": "c", "id": "c9"}, {"t": "a", "id": "a", "x": 1},
               {"t": "b", "id": "b", "x": 1}) == EXPECTED
    print("OK")
    """, timeout=60)


def test_a_check_started_inside_a_check_is_refused_not_deadlocked() -> None:
    # an action (here) or a signal handler that checks while its thread is inside a check:
    # waiting for the lock would wait forever, taking it would mix the two checks' facts
    _ok("""
    from cdss.errors import RuleEvaluationError
    def nested(bound):
        backend.run("caller", [{"t": "c", "id": "inner"}])
    backend.register("nesting", {"s": {"all": [{"m": {"t": "__sentinel__"}}],
                                       "run": "__sentinel__"},
                                 "n": {"all": [{"m": {"t": "n"}}], "run": "nested"}},
                     actions={"nested": nested})
    try:
        backend.run("nesting", [{"t": "n", "id": "n1"}])
        raise AssertionError("the nested check was not refused")
    except RuleEvaluationError as exc:
        assert "inside another" in str(exc), exc
    assert backend.live_states() == 0
    assert run({"t": "c", "id": "c9"}, {"t": "a", "id": "a", "x": 1},
               {"t": "b", "id": "b", "x": 1}) == EXPECTED
    print("OK")
    """, timeout=60)


def test_a_signal_handler_that_checks_never_hangs_the_engine() -> None:
    _ok("""
    import random, signal, time
    import cdss
    from cdss.errors import RuleEvaluationError
    engine = cdss.Engine()
    enc = {"id": "e", "time": "2026-11-20T09:00:00",
           "patient": {"id": "p", "sex": "male", "birth_date": "1950-01-01"},
           "vitals": {"sbp": 190, "dbp": 100}}
    t0 = time.perf_counter()
    for _ in range(20):
        expected = engine.check(enc).to_dict()["suggestions"]
    mean = (time.perf_counter() - t0) / 20
    outcomes = {"nested ok": 0, "refused": 0}
    def handler(signum, frame):
        try:
            engine.check(enc)
            outcomes["nested ok"] += 1
        except RuleEvaluationError as exc:
            assert "inside another" in str(exc), exc
            outcomes["refused"] += 1
            raise
    signal.signal(signal.SIGALRM, handler)
    random.seed(3)
    for i in range(600):
        try:
            try:
                signal.setitimer(signal.ITIMER_REAL, random.uniform(1e-6, 1.2 * mean))
                got = engine.check(enc).to_dict()["suggestions"]
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            assert got == expected
        except RuleEvaluationError as exc:
            assert "inside another" in str(exc), exc
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    assert outcomes["refused"] > 0 and outcomes["nested ok"] > 0, outcomes
    assert engine._backend.host.live_states() == 0
    assert engine.check(enc).to_dict()["suggestions"] == expected
    print("OK", outcomes)
    """, timeout=120)


def test_checks_from_many_threads_equal_the_compiled_backend() -> None:
    durable, compiled = cdss.Engine(backend="durable"), cdss.Engine(backend="compiled")
    samples = sorted((Path(cdss.__file__).parent / "samples").glob("*.json"))
    fact_sets = [durable.ruleset.relevant(build_facts(durable.parse(p.read_text("utf-8")),
                                                      durable.kb).facts) for p in samples]
    expected = [compiled.matches(f) for f in fact_sets]
    assert sum(map(bool, expected)) > len(expected) // 2
    wrong: list[int] = []

    def work(offset: int) -> None:
        for k in range(60):
            i = (offset + k) % len(fact_sets)
            if durable.matches(fact_sets[i]) != expected[i]:
                wrong.append(i)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
    assert durable._backend.host.live_states() == 0  # type: ignore[attr-defined]


# ---- facts hold only the fields some rule reads -------------------------------------

def test_fields_by_type_has_what_conditions_and_joins_read_with_t_and_id() -> None:
    a = ir.Pattern("a", "rx", ir.Compare("eq", "key", ir.Value("x")))
    b = ir.Pattern("b", "labs", ir.Compare("gt", "egfr", ir.Ref("a", "max_daily")))
    c = ir.Pattern("c", "rx", ir.Compare("gt", "dose", ir.SameFact("max_dose")))
    fields = emit.fields_by_type([(a, b), (c,)])
    assert fields == {"rx": ("dose", "id", "key", "max_daily", "max_dose", "t"),
                      "labs": ("egfr", "id", "t")}


def test_a_fact_is_asserted_with_the_fields_read_and_lists_with_their_placeholder(
) -> None:
    fields = {"rx": ("groups", "id", "key", "t")}
    fact = {"t": "rx", "id": "rx#0", "key": "x", "groups": [], "dose": 5, "name": "中"}
    assert _fact_text(fact, "7", fields) == (
        '{"sid":"7","groups":["' + emit.LIST_PLACEHOLDER + '"],"id":"rx#0","key":"x",'
        '"t":"rx"}')
    assert _fact_text({"t": "rx", "id": "r", "key": None}, "7", fields) == (
        '{"sid":"7","id":"r","key":null,"t":"rx"}'), "absent stays absent, None stays None"
    assert _fact_text({"t": "labs", "id": "l"}, "7", fields) is None, "no rule reads labs"
    assert '"dose":5' in (_fact_text(fact, "7", None) or ""), "no field list: whole fact"
