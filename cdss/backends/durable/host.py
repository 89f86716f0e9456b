"""The durable-rules host: the only module that imports ``durable``.

Built to the embedding recipe of the reference notes, because durable-rules can
kill the host process on ordinary inputs:

* one host per process, with its two timer threads never started (``_run``);
* every action is recorded by us, copying the matched fact ids, and never raises
  (an exception inside a durable action would be swallowed into the state);
* each ruleset has one state (sid) at a time, used by one check at a time on the one
  worker thread below (no 32-bit sid-hash collisions between encounters): a check
  asserts its facts into it and retracts them afterwards, and the state is kept for
  the next check only when the retractions left no action waiting (the rule language
  has no absence of a fact, so none can). Making a state costs durable-rules ~0.11 ms,
  a third of a whole check; a state is made again only after a check that failed;
* a state is made with a sentinel fact that always fires a no-op rule, and deleted in
  ``finally`` whenever its check failed (deleting a state in which no action was
  started segfaults: the sentinel's action is started first if need be);
* every durable-rules call runs on one private worker thread, where no signal or
  asynchronous exception can interrupt it: an interrupted check leaks nothing and
  its KeyboardInterrupt reaches the caller unchanged;
* facts are asserted one at a time, each with its own ``id`` (batches lose matches;
  content-hashed ids collide).

durable's private API, used here and nowhere else (durable-rules 2.0.28 is pinned and
unmaintained, so these cannot move under us; a new version must re-check each):

* ``Host._run`` (overridden: no timer threads) and ``Host.get_action`` (overridden:
  every action records);
* ``Ruleset._handle``, the C handle, for the C functions of ``durable_rules_engine``:
  ``assert_fact`` and ``retract_fact`` (without the exception objects of
  ``Host.assert_fact``), ``start_action_for_state`` and ``complete_and_start_action``
  (the actions run here, without ``Ruleset.do_actions``' closures, which parse the
  state and write it back for every action: ours never change it), ``get_state``,
  ``start_action`` and ``delete_state`` (safe state deletion).
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
        #: per ruleset, the sid of its kept state: clean (no fact but the sentinel), ready
        #: for the next check; a state is made per check only after a failure
        self._kept: dict[str, str] = {}
        #: the sids whose state was made (its sentinel asserted) and counted in ``created``
        self._made: set[str] = set()
        #: per ruleset, each rule's action name (the ``run`` of its body)
        self._action_of: dict[str, dict[str, str]] = {}
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
            # durable names an action's message by its rule; we record the action
            self._action_of[name] = {rule: spec["run"] for rule, spec in body.items()
                                     if isinstance(spec.get("run"), str)}
            self._registered.add(name)

    # ---- actions ---------------------------------------------------------------
    def recorder(self, action_name: str) -> Callable[[Any], None]:
        """durable's action for ``action_name`` (registration asks for one per rule);
        our checks start actions themselves (``_assert``) and record them directly."""
        def record(c: Any) -> None:
            self._record(action_name, c._m)

        return record

    def _record(self, action_name: str, message: Any) -> None:
        """Record one match (its facts by pattern name); never raises: an error is kept
        for :meth:`_run` to raise, an interrupt for :meth:`_assert`."""
        self._acted = True
        try:
            if action_name == SENTINEL_ACTION:
                return
            bound = {name: fact["id"] for name, fact in message.items()}
            extra = self._actions.get(action_name)
            if extra is not None:
                extra(bound)
            if self._matches is not None:
                self._matches.append((action_name, bound))
        except Exception as exc:  # recorded, raised after the check
            self._errors.append(f"{action_name}: {type(exc).__name__}: {exc}")
        except BaseException as exc:  # KeyboardInterrupt, SystemExit: raised by run
            if self._interrupt is None:
                self._interrupt = exc

    # ---- checking --------------------------------------------------------------
    def run(self, name: str, facts: list[dict[str, Any]]) -> list[Match]:
        """Assert ``facts`` in a fresh state and return every match, in firing order.

        The state is deleted whatever happens; a KeyboardInterrupt or SystemExit (from
        the caller, or from an action) propagates unchanged.
        """
        return self._call(self._run, name, facts)

    def live_states(self) -> int:
        """States created and neither deleted nor kept clean for the next check (the
        leak counter: zero between checks; for tests and the soak benchmark). Waits for
        the work already handed to the worker."""
        return self._call(lambda: len(self._live.difference(self._kept.values())))

    def kept_states(self) -> int:
        """The states kept, clean, for the next check (at most one per ruleset)."""
        return self._call(lambda: len(self._kept))

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
        """One check, on the worker thread (which alone runs checks: no lock needed).

        The facts go into the ruleset's kept state (made, with its sentinel, when there
        is none) and are retracted afterwards; the state is kept for the next check only
        when every retraction left it as it was (no action pending). Anything else (an
        error, an interrupt, an action left after the retractions) deletes it: the next
        check starts in a fresh one.
        """
        self._matches, self._errors, self._interrupt = [], [], None
        ruleset = self._host.get_ruleset(name)  # once per check, not once per fact
        sid = self._kept.pop(name, None)
        self._acted = sid is not None  # a kept state's sentinel has fired
        if sid is None:
            sid = str(next(self._sids))
            self._live.add(sid)
        keep = False
        asserted: list[str] = []
        try:
            if sid not in self._made:
                self._assert(ruleset, json.dumps(
                    {"sid": sid, "id": SENTINEL_TYPE, "t": SENTINEL_TYPE}))
                self._made.add(sid)
                self.created += 1
            for fact in facts:
                text = _to_json(_engine_fact(fact, sid))
                self._assert(ruleset, text)
                asserted.append(text)
            if self._errors:  # (an interrupt was raised by _assert already)
                raise RuleEvaluationError(self._errors[0].split(":", 1)[0],
                                          "; ".join(self._errors))
            found = self._matches
            keep = self._retract(ruleset._handle, asserted)
            return found
        finally:
            self._matches = None
            self._interrupt = None
            if keep:
                self._kept[name] = sid
            else:
                self._release(name, sid)

    def _retract(self, handle: Any, asserted: list[str]) -> bool:
        """Retract this check's facts from the kept state; whether it is clean again (every
        retraction accepted and no action waiting: the rule language has no absence of
        a fact, so a retraction never makes a rule true)."""
        try:
            for text in asserted:
                if _engine_c.retract_fact(handle, text)[0] not in (0, 1):
                    return False
            return not _engine_c.start_action(handle)
        except Exception:  # a refused retraction: the state is dropped, not trusted
            return False

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
            self._made.discard(sid)
            return
        if sid not in self._made:
            self.created += 1
        self._made.discard(sid)
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

    def _assert(self, ruleset: Any, text: str) -> None:
        """Assert one fact (its JSON text) and run the actions it starts, recording each.

        ``Host.assert_fact`` without its exception objects, and ``Ruleset.do_actions``
        without its Python layer: durable's layer signals "this fact matched nothing"
        (the common case) by building an exception whose message JSON-encodes the fact
        again, and wraps every action in a closure whose state it parses and writes back
        (our actions never change the state). The result codes are read as
        ``Host._handle_function`` reads them (1: not handled, 2: already observed, 3:
        nothing to run); each action's message (``{action: {pattern: fact}}``) is
        recorded, then completed, until durable has no action left.
        """
        try:
            result = _engine_c.assert_fact(ruleset._handle, text)
        except Exception as exc:
            raise RuleEvaluationError(None, f"durable-rules failed on fact {_id_of(text)!r}: "
                                      f"{exc}") from exc
        code = result[0]
        if code == 1:
            return  # the fact matched no condition: normal
        if code == 2:
            raise RuleEvaluationError(None, f"fact {_id_of(text)!r} was asserted twice")
        handle, state = ruleset._handle, (0 if code == 3 else result[1])
        action_of = self._action_of.get(ruleset._name, {})
        try:
            started = _engine_c.start_action_for_state(handle, state)
            message = started[1] if started else None
            while message:
                self._acted = True
                for rule_name, bound in json.loads(message).items():
                    self._record(action_of.get(rule_name, rule_name), bound)
                message = _engine_c.complete_and_start_action(handle, state)
        except Exception as exc:
            raise RuleEvaluationError(None, f"durable-rules failed running actions for fact "
                                      f"{_id_of(text)!r}: {exc}") from exc
        if self._interrupt is not None:
            raise self._interrupt


def _id_of(text: str) -> Any:
    """The id of a fact given as JSON text (for error messages only)."""
    try:
        return json.loads(text).get("id")
    except ValueError:
        return None


#: ``json.dumps(fact, ensure_ascii=False)`` without building an encoder per fact
_to_json = json.JSONEncoder(ensure_ascii=False).encode


def _engine_fact(fact: dict[str, Any], sid: str) -> dict[str, Any]:
    out = {"sid": sid}
    for key, value in fact.items():
        # durable-rules: "all items" of an empty list is false; see LIST_PLACEHOLDER
        out[key] = [*value, LIST_PLACEHOLDER] if isinstance(value, list) else value
    return out
