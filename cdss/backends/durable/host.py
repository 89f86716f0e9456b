"""The durable-rules host: the only module that imports ``durable``.

Built to the embedding recipe of the reference notes, because durable-rules can
kill the host process on ordinary inputs:

* one host per process, with its two timer threads never started (``_run``);
* every action is recorded by us, copying the matched fact ids, and never raises
  (an exception inside a durable action would be swallowed into the state);
* each ruleset has one state (sid) at a time, used by one check at a time (a lock):
  a check asserts its facts into it and retracts them afterwards (no 32-bit sid-hash
  collisions between encounters). Making a state costs durable-rules ~0.11 ms, a
  third of a whole check, so a state is kept while checks leave it clean;
* states are made, and deleted, only on one private worker thread, where no signal
  or asynchronous exception can land: a state is made with a sentinel fact whose
  no-op rule fires at once, so every state has had an action started (deleting a
  state in which none was started segfaults: hazard 1);
* checks run on the caller's thread (a hand-off to the worker cost ~0.1 ms a check).
  An interrupt may land between two durable-rules calls: the state is then marked
  dirty before it is touched and clean only when its facts are retracted, so an
  interrupted (or failed) check leaves a dirty state, which the worker deletes and
  replaces; its KeyboardInterrupt reaches the caller unchanged. Deleting a state
  whatever an interrupted check left in it (facts, actions waiting, started or
  half-way) was measured safe (tests/test_durable_caller_thread.py);
* facts are asserted one at a time, each with its own ``id`` (batches lose matches;
  content-hashed ids collide), holding only the fields some rule reads.

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

    A check runs on the caller's thread, one at a time (``_check_lock``), in the
    ruleset's kept state. States are made and deleted on one private worker thread:
    Python delivers signals (KeyboardInterrupt) only to the main thread and
    asynchronous exceptions only to the thread they name, so no interrupt can land
    between asserting a new state's sentinel and starting its action (issue #12: one
    interrupt in six used to leak a state, and 1,024 leaked states stop the engine).
    An interrupted check leaves its state dirty (``_dirty``); the worker deletes it.
    """

    _instance: DurableHost | None = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.RLock()
        #: one check at a time, on the caller's thread (made again in a forked child); an
        #: RLock only so that a check started again by the thread holding it (from a
        #: signal handler) is refused instead of waiting for itself forever
        self._check_lock = threading.RLock()
        self._host = _Host(self)
        self._registered: set[str] = set()
        self._sids = itertools.count(1)
        self._matches: list[Match] | None = None
        self._errors: list[str] = []
        self._interrupt: BaseException | None = None
        #: sids whose state exists in durable-rules (the leak counter: see live_states)
        self._live: set[str] = set()
        #: per ruleset, the sid of its kept state: its sentinel fired, usable while it is
        #: not dirty
        self._kept: dict[str, str] = {}
        #: sid -> ruleset of the states a check may have left facts or actions in: never
        #: used again (no longer in ``_kept``), deleted by the worker (``_reap``)
        self._dirty: dict[str, str] = {}
        #: sids of states in which no action was ever started (a ruleset without our
        #: sentinel rule): deleting one would kill the process (hazard 1)
        self._unsafe: set[str] = set()
        #: (sid, ruleset) of the check under way: a check that ends without clearing it
        #: was interrupted, and the next holder of ``_check_lock`` marks its state dirty
        self._checking: tuple[str, str] | None = None
        #: per ruleset, each rule's action name (the ``run`` of its body)
        self._action_of: dict[str, dict[str, str]] = {}
        #: per ruleset, per fact type, the fields some rule reads (None: every field)
        self._fields: dict[str, dict[str, tuple[str, ...]] | None] = {}
        self.created = 0
        self.deleted = 0
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._start_lock = threading.Lock()
        self._worker_pid = 0
        #: extra actions by name, for tests that need an action to fail
        self._actions: dict[str, Callable[[dict[str, Any]], None]] = {}
        if hasattr(os, "register_at_fork"):  # a lock held by another thread at fork
            os.register_at_fork(after_in_child=self._after_fork)

    @classmethod
    def instance(cls) -> DurableHost:
        """The process-wide backend, created on first use."""
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _after_fork(self) -> None:
        """In a forked child: no other thread exists, so no check is under way."""
        self._check_lock = threading.RLock()

    # ---- the worker thread -----------------------------------------------------
    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the worker thread and return (or raise) its outcome."""
        job = self._post(fn, *args)
        try:
            job.done.acquire()  # interruptible; the worker does not depend on it
        except BaseException:
            job.cancelled = True  # not started yet: skipped; started: finishes cleanly
            raise
        if job.error is not None:
            raise job.error
        return job.result

    def _post(self, fn: Callable[..., Any], *args: Any) -> _Job:
        """Hand ``fn(*args)`` to the worker thread (started lazily, again after a fork)."""
        job = _Job(fn, args)
        if self._worker_pid != os.getpid():
            with self._start_lock:
                if self._worker_pid != os.getpid():
                    self._jobs = queue.SimpleQueue()
                    threading.Thread(target=self._work, args=(self._jobs,),
                                     name="cdss-durable", daemon=True).start()
                    self._worker_pid = os.getpid()
        self._jobs.put(job)
        return job

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
                 actions: dict[str, Callable[[dict[str, Any]], None]] | None = None,
                 fields: dict[str, tuple[str, ...]] | None = None) -> None:
        """Register a ruleset once; registering the same name again is a no-op.

        ``fields``: per fact type, the fields its rules read (with ``t`` and ``id``);
        a fact is asserted with those alone, and a fact of a type not listed is not
        asserted (no rule of the ruleset could match it). None: every fact, whole.
        """
        with self._lock:
            if name in self._registered:
                return
            self._actions.update(actions or {})
            # registration deletes every "run" key of the dict it is given
            self._host.register_rulesets({name: copy.deepcopy(body)})
            # durable names an action's message by its rule; we record the action
            self._action_of[name] = {rule: spec["run"] for rule, spec in body.items()
                                     if isinstance(spec.get("run"), str)}
            self._fields[name] = fields
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
        for :meth:`_check` to raise, an interrupt for :meth:`_assert`."""
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
        """Assert ``facts`` in the ruleset's state and return every match, in firing
        order; the state is clean again afterwards, or dirty and replaced.

        A KeyboardInterrupt or SystemExit (from the caller, or from an action)
        propagates unchanged. A check started by a thread already inside one (a signal
        handler that checks, an action that checks) raises ``RuleEvaluationError``: it
        would otherwise wait for itself, or mix its facts with the other check's.
        """
        self._refuse_reentry()
        with self._check_lock:
            self._settle()
            sid = self._kept.get(name)
            if sid is None or sid in self._dirty:
                sid = self._call(self._make, name)
            return self._check(name, sid, facts)

    def live_states(self) -> int:
        """States made and neither deleted nor kept clean for the next check (the
        leak counter: zero between checks; for tests and the soak benchmark). Dirty
        states are deleted first, and the work already handed to the worker awaited."""
        return self._between_checks(self._count_leaks)

    def kept_states(self) -> int:
        """The states kept, clean, for the next check (at most one per ruleset)."""
        return self._between_checks(lambda: len(self._kept))

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

        return self._between_checks(count)

    def _between_checks(self, fn: Callable[[], int]) -> int:
        """``fn()`` on the worker, with no check under way and the dirty states deleted
        first (the counters above)."""
        self._refuse_reentry()
        with self._check_lock:
            self._settle()
            return self._call(lambda: self._reap() or fn())

    def _refuse_reentry(self) -> None:
        """Raise if this thread is inside a check already (a signal handler or an action
        that checks): under the lock it would wait for itself; with it, it would mix its
        facts with the other check's, or delete that check's state."""
        if self._check_lock._is_owned():  # (RLock's own test: this thread holds it)
            raise RuleEvaluationError(None, "a durable-rules check was started inside "
                                      "another on the same thread (from a signal handler "
                                      "or an action); run it after that check returns")

    def _settle(self) -> None:
        """Under ``_check_lock``: a check still marked under way was interrupted (no
        other can be running), so its state is dirty."""
        checking = self._checking
        if checking is not None:
            self._drop(*checking)
            self._checking = None

    def _drop(self, sid: str, name: str) -> None:
        """Under ``_check_lock``: mark a state dirty, no longer the one kept. Only the
        holder of the lock changes ``_kept`` (the worker adds a new state to it), so the
        next check cannot pick a state the worker is deleting."""
        self._dirty[sid] = name
        if self._kept.get(name) == sid:
            del self._kept[name]

    def _check(self, name: str, sid: str, facts: list[dict[str, Any]]) -> list[Match]:
        """One check, on the caller's thread, under ``_check_lock``.

        The state is marked under way before anything is asserted and clean only after
        every retraction left it as it was (no action pending). Anything else (an
        error, an interrupt, an action left after the retractions) marks it dirty: the
        worker deletes it and the next check starts in a fresh one.
        """
        self._checking = (sid, name)  # from here on, an interrupt leaves it dirty
        ruleset = self._host.get_ruleset(name)  # once per check, not once per fact
        self._matches, self._errors, self._interrupt = [], [], None
        asserted: list[str] = []
        clean = False
        try:
            fields = self._fields.get(name)
            for fact in facts:
                text = _fact_text(fact, sid, fields)
                if text is not None:
                    self._assert(ruleset, text)
                    asserted.append(text)
            if self._errors:  # (an interrupt was raised by _assert already)
                raise RuleEvaluationError(self._errors[0].split(":", 1)[0],
                                          "; ".join(self._errors))
            found = self._matches
            clean = self._retract(ruleset._handle, asserted)
            return found
        finally:
            self._matches = None
            self._interrupt = None
            if clean:
                self._checking = None
            else:  # (``_checking`` is cleared last: an interrupt here is settled later)
                self._drop(sid, name)
                self._checking = None
                self._post(self._reap)

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

    # ---- states: made and deleted on the worker thread -------------------------
    def _make(self, name: str) -> str:
        """On the worker: delete the dirty states, then return the ruleset's usable
        kept state, made (its sentinel asserted and its action run) if there is none."""
        self._reap()
        sid = self._kept.get(name)
        if sid is not None and sid not in self._dirty:
            return sid  # made by an earlier request (its caller was interrupted)
        sid = str(next(self._sids))
        self._live.add(sid)
        handle = self._host.get_ruleset(name)._handle
        acted = False
        try:
            result = _engine_c.assert_fact(
                handle, json.dumps({"sid": sid, "id": SENTINEL_TYPE, "t": SENTINEL_TYPE}))
            state = 0 if result[0] == 3 else result[1]
            started = _engine_c.start_action_for_state(handle, state)
            acted = bool(started)
            message = started[1] if started else None
            while message:
                message = _engine_c.complete_and_start_action(handle, state)
        except Exception as exc:
            self._release(name, sid, acted)
            raise RuleEvaluationError(None, f"durable-rules failed making a state: {exc}"
                                      ) from exc
        if not acted:  # a ruleset without our sentinel rule (tests): never deleted
            self._unsafe.add(sid)
        self.created += 1
        self._kept[name] = sid
        return sid

    def _reap(self) -> None:
        """On the worker: delete every dirty state (each had its sentinel's action run:
        safe to delete whatever a check left in it; see ``_unsafe`` for the others)."""
        for sid, name in list(self._dirty.items()):
            self._release(name, sid, acted=sid not in self._unsafe)
            self._dirty.pop(sid, None)

    def _count_leaks(self) -> int:
        return len(self._live.difference(self._kept.values()))

    def _release(self, name: str, sid: str, acted: bool) -> None:
        """Delete the state of ``sid`` if it exists and deleting it is safe.

        durable-rules segfaults when deleting a state in which no action was ever
        started: unless ``acted``, an action is started here if one is waiting (a
        state whose sentinel never fired is left, counted by :meth:`live_states`).
        """
        handle = self._host.get_ruleset(name)._handle
        try:
            _engine_c.get_state(handle, sid)
        except Exception:  # no state was created (error 309)
            self._live.discard(sid)
            return
        if not acted:
            try:
                acted = _engine_c.start_action(handle) is not None
            except Exception:
                acted = False
        if not acted:
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


def _json_chunks() -> Callable[[Any, int], Any]:
    """Compact ``json.dumps(obj, ensure_ascii=False)`` in chunks (``"".join`` them):
    CPython's C encoder called directly (``JSONEncoder.encode`` adds two Python calls a
    fact, a fifth of a fact's cost here), the pure-Python one where there is none."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython has it
        encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        return lambda obj, _level: (encode(obj),)
    return make(None, None, json.encoder.encode_basestring, None, ":", ",",
                False, False, True)


_chunks = _json_chunks()


_ABSENT = object()


def _fact_text(fact: dict[str, Any], sid: str,
               fields: dict[str, tuple[str, ...]] | None) -> str | None:
    """A fact as durable-rules is given it (JSON, in state ``sid``), with only the fields
    its ruleset reads; None for a fact of a type no rule of the ruleset matches."""
    if fields is None:
        return "".join(_chunks(_engine_fact(fact, sid), 0))
    keep = fields.get(fact["t"])
    if keep is None:
        return None
    out: dict[str, Any] = {"sid": sid}
    for key in keep:
        value = fact.get(key, _ABSENT)
        if value is _ABSENT:
            continue
        # durable-rules: "all items" of an empty list is false; see LIST_PLACEHOLDER
        out[key] = [*value, LIST_PLACEHOLDER] if isinstance(value, list) else value
    return "".join(_chunks(out, 0))


def _engine_fact(fact: dict[str, Any], sid: str) -> dict[str, Any]:
    """A whole fact in state ``sid``, lists with their placeholder."""
    out = {"sid": sid}
    for key, value in fact.items():
        out[key] = [*value, LIST_PLACEHOLDER] if isinstance(value, list) else value
    return out
