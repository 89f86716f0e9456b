"""The durable-rules host: the only module that imports ``durable``.

Built to the embedding recipe of the reference notes, because durable-rules can
kill the host process on ordinary inputs:

* one host per process, with its two timer threads never started (``_run``);
* every action is our recorder, which copies the matched fact ids and never raises
  (an exception inside a durable action would be swallowed into the state);
* each check runs in its own fresh sid, on the one worker thread below, so one sid
  is live at a time (no 32-bit sid-hash collisions between encounters);
* a sentinel fact that always fires a no-op rule is asserted first, and the state
  is deleted in ``finally`` whatever happened (deleting a state in which no action
  was started segfaults: the sentinel's action is started first if need be);
* every durable-rules call runs on one private worker thread, where no signal or
  asynchronous exception can interrupt it: an interrupted check leaks nothing and
  its KeyboardInterrupt reaches the caller unchanged;
* facts are asserted one at a time, each with its own ``id`` (batches lose matches;
  content-hashed ids collide).

durable's private API, used here and nowhere else (durable-rules 2.0.28 is pinned and
unmaintained, so these cannot move under us; a new version must re-check each):

* ``Host._run`` (overridden: no timer threads) and ``Host.get_action`` (overridden:
  every action is our recorder);
* ``Ruleset._handle``, the C handle, for the C functions of ``durable_rules_engine``:
  ``assert_fact`` (without the exception objects of ``Host.assert_fact``),
  ``get_state``, ``start_action`` and ``delete_state`` (safe state deletion);
* ``Ruleset.do_actions`` (run the actions synchronously) and ``c._m``, the facts an
  action matched.
"""

from __future__ import annotations

import _thread
import copy
import itertools
import json
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

import durable_rules_engine as _engine_c
from durable import engine as _durable

from cdss.backends.base import Match
from cdss.backends.durable.emit import LIST_PLACEHOLDER
from cdss.backends.durable.ruleset import SENTINEL_ACTION, SENTINEL_TYPE
from cdss.errors import RuleEvaluationError


class _Host(_durable.Host):
    """A durable Host without background threads whose actions all record."""

    def __init__(self, backend: DurableHost) -> None:
        self._backend = backend
        super().__init__()

    def _run(self) -> None:  # no timer threads: actions run inside assert_fact
        return None

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        return self._backend.recorder(action_name)


class _Job:
    """One piece of durable-rules work handed to the backend's worker thread.

    ``done`` is a bare lock, held until the worker releases it: the worker never
    waits for anything the caller holds (an ``Event`` would make it take a lock that
    an interrupted caller can leave held, and hang).
    """

    __slots__ = ("args", "cancelled", "done", "error", "fn", "result")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args
        self.done = _thread.allocate_lock()
        self.done.acquire()
        self.result: Any = None
        self.error: BaseException | None = None
        self.cancelled = False


class DurableHost:
    """One per process (see :meth:`instance`); thread-safe.

    Every call into durable-rules runs on one private worker thread. Python delivers
    signals (KeyboardInterrupt) only to the main thread and asynchronous exceptions
    only to the thread they name, so no interrupt can land between two durable calls:
    an interrupted caller stops waiting and gets its KeyboardInterrupt unchanged,
    while the worker finishes the check and deletes its state (issue #12: one
    interrupt in six used to leak a state, and 1,024 leaked states stop the engine).
    """

    _instance: DurableHost | None = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._host = _Host(self)
        self._registered: set[str] = set()
        self._sids = itertools.count(1)
        self._matches: list[Match] | None = None
        self._errors: list[str] = []
        self._interrupt: BaseException | None = None
        self._acted = False
        #: sids whose state exists in durable-rules (the leak counter: see live_states)
        self._live: set[str] = set()
        self.created = 0
        self.deleted = 0
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._start_lock = threading.Lock()
        self._worker_pid = 0
        #: extra actions by name, for tests that need an action to fail
        self._actions: dict[str, Callable[[dict[str, Any]], None]] = {}

    @classmethod
    def instance(cls) -> DurableHost:
        """The process-wide backend, created on first use."""
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    # ---- the worker thread -----------------------------------------------------
    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the worker thread and return (or raise) its outcome."""
        job = _Job(fn, args)
        if self._worker_pid != os.getpid():  # started lazily (and again after a fork)
            with self._start_lock:
                if self._worker_pid != os.getpid():
                    self._jobs = queue.SimpleQueue()
                    threading.Thread(target=self._work, args=(self._jobs,),
                                     name="cdss-durable", daemon=True).start()
                    self._worker_pid = os.getpid()
        self._jobs.put(job)
        try:
            job.done.acquire()  # interruptible; the worker does not depend on it
        except BaseException:
            job.cancelled = True  # not started yet: skipped; started: finishes cleanly
            raise
        if job.error is not None:
            raise job.error
        return job.result

    @staticmethod
    def _work(jobs: queue.SimpleQueue[_Job]) -> None:
        while True:
            job = jobs.get()
            if not job.cancelled:
                try:
                    job.result = job.fn(*job.args)
                except BaseException as exc:  # handed back to the caller
                    job.error = exc
            job.done.release()
            del job

    # ---- registration ----------------------------------------------------------
    def register(self, name: str, body: dict[str, Any],
                 actions: dict[str, Callable[[dict[str, Any]], None]] | None = None) -> None:
        """Register a ruleset once; registering the same name again is a no-op."""
        with self._lock:
            if name in self._registered:
                return
            self._actions.update(actions or {})
            # registration deletes every "run" key of the dict it is given
            self._host.register_rulesets({name: copy.deepcopy(body)})
            self._registered.add(name)

    # ---- actions ---------------------------------------------------------------
    def recorder(self, action_name: str) -> Callable[[Any], None]:
        extra = self._actions.get(action_name)

        def record(c: Any) -> None:
            self._acted = True
            try:
                if action_name == SENTINEL_ACTION:
                    return
                bound = {name: fact["id"] for name, fact in c._m.items()}
                if extra is not None:
                    extra(bound)
                if self._matches is not None:
                    self._matches.append((action_name, bound))
            except Exception as exc:  # durable would swallow it: record, raise later
                self._errors.append(f"{action_name}: {type(exc).__name__}: {exc}")
            except BaseException as exc:  # KeyboardInterrupt, SystemExit: raised by run
                if self._interrupt is None:
                    self._interrupt = exc

        return record

    # ---- checking --------------------------------------------------------------
    def run(self, name: str, facts: list[dict[str, Any]]) -> list[Match]:
        """Assert ``facts`` in a fresh state and return every match, in firing order.

        The state is deleted whatever happens; a KeyboardInterrupt or SystemExit (from
        the caller, or from an action) propagates unchanged.
        """
        return self._call(self._run, name, facts)

    def live_states(self) -> int:
        """States created and not yet deleted (zero between checks; for tests and the
        soak benchmark). Waits for the work already handed to the worker."""
        return self._call(lambda: len(self._live))

    def states_in_engine(self, name: str) -> int:
        """How many of the sids this backend ever used still have a state in
        durable-rules itself (asked of durable-rules, not of our bookkeeping)."""

        def count() -> int:
            handle = self._host.get_ruleset(name)._handle
            last = next(self._sids)
            n = 0
            for sid in range(1, last):
                try:
                    _engine_c.get_state(handle, str(sid))
                    n += 1
                except Exception:  # error 309: no such state
                    pass
            return n

        return self._call(count)

    def _run(self, name: str, facts: list[dict[str, Any]]) -> list[Match]:
        """One check, on the worker thread (which alone runs checks: no lock needed)."""
        sid = str(next(self._sids))
        self._matches, self._errors, self._interrupt, self._acted = [], [], None, False
        self._live.add(sid)
        try:
            ruleset = self._host.get_ruleset(name)  # once per check, not once per fact
            self._assert(ruleset, {"sid": sid, "id": SENTINEL_TYPE, "t": SENTINEL_TYPE})
            for fact in facts:
                self._assert(ruleset, _engine_fact(fact, sid))
            state = self._host.get_state(name, sid)
            if state.get("exception"):
                self._errors.append(str(state["exception"]))
            if self._interrupt is not None:
                raise self._interrupt
            if self._errors:
                raise RuleEvaluationError(self._errors[0].split(":", 1)[0],
                                          "; ".join(self._errors))
            return list(self._matches)
        finally:
            self._matches = None
            self._interrupt = None
            self._release(name, sid)

    def _release(self, name: str, sid: str) -> None:
        """Delete the state of ``sid`` if it exists and deleting it is safe.

        durable-rules segfaults when deleting a state in which no action was ever
        started; the sentinel rule fires for every state we create, so its action is
        started here if nothing has run yet (a ruleset without our sentinel can leave
        a state behind: that is counted by :meth:`live_states`, never deleted).
        """
        handle = self._host.get_ruleset(name)._handle
        try:
            _engine_c.get_state(handle, sid)
        except Exception:  # no state was created (error 309)
            self._live.discard(sid)
            return
        self.created += 1
        if not self._acted:
            try:
                self._acted = _engine_c.start_action(handle) is not None
            except Exception:
                self._acted = False
        if not self._acted:
            return  # a leaked state beats a crashed host
        try:
            _engine_c.delete_state(handle, sid)
        except Exception:  # not expected: counted by live_states
            return
        self._live.discard(sid)
        self.deleted += 1

    def _assert(self, ruleset: Any, fact: dict[str, Any]) -> None:
        """``Host.assert_fact`` without its exception objects.

        durable's Python layer signals "this fact matched nothing" (the common case) by
        building an exception whose message JSON-encodes the fact again; this does what
        ``Host._handle_function`` does with the result codes instead (1: not handled,
        2: already observed, 3: nothing to run), then runs the actions synchronously.
        """
        try:
            result = _engine_c.assert_fact(ruleset._handle, _to_json(fact))
        except Exception as exc:
            raise RuleEvaluationError(None, f"durable-rules failed on fact {fact.get('id')!r}: "
                                      f"{exc}") from exc
        code = result[0]
        if code == 1:
            return  # the fact matched no condition: normal
        if code == 2:
            raise RuleEvaluationError(None, f"fact {fact.get('id')!r} was asserted twice")
        failures: list[BaseException] = []

        def done(error: BaseException | None, _state: Any) -> None:
            if isinstance(error, Exception):
                failures.append(error)
            elif error is not None and self._interrupt is None:
                self._interrupt = error  # an interrupt is not an engine failure

        ruleset.do_actions(0 if code == 3 else result[1], done)
        if self._interrupt is not None:
            raise self._interrupt
        if failures:
            raise RuleEvaluationError(None, f"durable-rules failed running actions for fact "
                                      f"{fact.get('id')!r}: {failures[0]}")


#: ``json.dumps(fact, ensure_ascii=False)`` without building an encoder per fact
_to_json = json.JSONEncoder(ensure_ascii=False).encode


def _engine_fact(fact: dict[str, Any], sid: str) -> dict[str, Any]:
    out = {"sid": sid}
    for key, value in fact.items():
        # durable-rules: "all items" of an empty list is false; see LIST_PLACEHOLDER
        out[key] = [*value, LIST_PLACEHOLDER] if isinstance(value, list) else value
    return out
