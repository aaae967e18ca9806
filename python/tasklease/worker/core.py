"""Worker: wires the services of one worker process and runs its shutdown in order.
What it shares with the AsyncWorker (the options, the intervals, the heartbeat, lease
keeper, deadline watch and reaper, the log lines, the signal handlers) is WorkerBase
(common.py); the work connection, the slots and the main loop are its own.

Start: read the settings, check the intervals, claim a name (register_worker), recover what
a previous life of that name held, then start the slots, the lease keeper, the deadline
watch, the heartbeat, the reaper and the listener.  The main thread then runs the loop
until stopped.  The work connection is used by one thread at a time (the _exchanging lock):
a slot whose handler ended stores the outcome and claims for the free slots itself, in one
transaction (Completer.exchange), and hands the claimed tasks to the slots (itself
included: no thread hand-off between one task and the next); the main thread does the same
when a notification or the poll timer says a task may be waiting, and raises any error
the worker cannot go on after.

Wake-ups: enqueue sends at most one NOTIFY per queue per notify_window_ms, so a task
committed just after the claim that a notification caused may have no notification of
its own: after such a claim comes back short, the loop claims once more RECHECK_S later.
Polling every poll_interval_s stays the fallback for everything else.

Stop (SIGTERM, SIGINT or stop()): stop claiming; let running handlers finish for grace_s
while the main thread stores their outcomes; then no handler starts any more, the last outcomes are
stored, and release_owner gives back the rest: a task whose handler is still running (or
returned too late for its outcome to be stored) is abandoned, at the cost of its crash
budget; one whose handler never started is given back free.  Then the
background services end and the worker row is marked stopped.  A second signal exits at
once, leaving every lease to the reaper as after a crash.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any, Optional

import psycopg

from ..pooling import check_listen
from .ahead import RELEASE_TASKS_SQL
from .claimer import Claimer
from .common import (
    RECOVER_SQL,
    RELEASE_SQL,
    SETTINGS_SQL,
    STOPPED_SQL,
    WORK_BOUNDS,
    WorkerBase,
    next_recheck,
    stop_services,
)
from .completer import Completer
from .events import kv, log, one_line
from .identity import claim_name
from .link import Link, is_transient
from .listener import Listener
from .outcomes import Outcome
from .signals import SignalSafeEvent
from .slots import Slots
from .task import Task
from .timing import ConnectionBounds


class Worker(WorkerBase):
    """Runs handler(task) for tasks of queue (all queues when None) until stopped.

    No I/O happens before run().  run() returns 0 after a graceful stop; it raises
    WorkerNameInUse when a live worker holds the explicit name, InvalidWorkerConfig
    when the intervals break the rule of tasklease.worker.timing, and PoolerMisconfigured
    when LISTEN cannot work where pooling says it should (tasklease.pooling).
    pooler, listen_dsn and listen default to the environment (Pooling.resolve).
    The constructor's options are WorkerBase's (common.py).
    """

    def _prepare(self, handler: Any) -> None:
        """Any callable is run (on the slot threads); the state of the main loop."""
        self._stopping = SignalSafeEvent()  # set by the signal handler (signals.py)
        self._wake = SignalSafeEvent()
        self._recheck_at: Optional[float] = None
        # Held by the one thread using the work connection (self._main) at a time: the
        # main thread, or a slot thread storing its outcome (_drive).
        self._exchanging = threading.Lock()
        self._fatal: Optional[Exception] = None
        self._main: Optional[Link] = None

    # ------------------------------------------------------------------ public
    def stop(self) -> None:
        """Ask the worker to stop claiming and shut down gracefully (thread-safe)."""
        self._stopping.set()
        self._wake.set()

    def run(self) -> int:
        previous = self._install_signals()
        try:
            self._start()
            try:
                self._loop()
            finally:
                self._shutdown()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self._http is not None:
                self._http.shutdown()
            if self._main is not None:
                self._main.close()
        return 0

    # ----------------------------------------------------------------- startup
    def _start(self) -> None:
        self._main = Link(self.dsn, "worker", "main", self.metrics, WORK_BOUNDS, self.pooling)
        self._set_intervals(self._main.once(lambda c: c.execute(SETTINGS_SQL).fetchone()))
        assert self.intervals is not None
        listen = self.pooling.listen_target(self.dsn)
        if listen is not None:  # before taking a name: a LISTEN that cannot work is an error
            check_listen(listen, "worker", self.pooling, self._notify,
                         **ConnectionBounds(self.intervals.liveness_timeout_s).libpq_params())
        registered = time.monotonic()
        self.name = claim_name(self._main, self.name, self.me, self._info())
        self._main.rename(self.name)  # not a reconnect: no event=reconnected at start
        self.metrics.worker = self.name
        recovered = self._main.once(lambda c: c.execute(RECOVER_SQL, (self.name,)).fetchone()[0])
        self._started(recovered, registered)

    def _notify(self, channel: str, payload: str) -> None:
        """The LISTEN check's NOTIFY, sent on the main connection."""
        assert self._main is not None
        self._main.once(lambda c: c.execute("SELECT pg_notify(%s, %s)", (channel, payload)))

    def _wire(self, registered: float) -> None:
        """Build and start the services, each with its own connection."""
        assert self._main is not None and self.name is not None and self.intervals is not None
        liveness = self._wire_threads(registered)
        name = self.name
        self._claimer = Claimer(self._main, name, self.queue, int(self.intervals.lease_s),
                                self._give_up)
        self._completer = Completer(self._main, name, self._inflight, self.metrics,
                                    self._give_up, self._on_outcome)
        self._slots = Slots(self.handler, self.concurrency, self._deliver, name,
                            self._waiting, self._ahead.record)
        self._submit = self._slots.submit
        listen = self.pooling.listen_target(self.dsn)
        if listen is not None:  # else poll only, every poll_interval_s
            self._services.append(Listener(
                Link(listen, name, "listen", self.metrics, liveness, self.pooling.for_listen()),
                name, self.queue, self._on_notify))
        self._slots.start()
        for s in self._lease_services + self._services:
            s.start()

    # --------------------------------------------------------------- main loop
    def _on_outcome(self) -> None:
        """An outcome was put in the completer's queue: the slot that put it stores it
        (_deliver); only the shutdown, which waits for them, needs waking."""
        if self._stopping.is_set():
            self._wake.set()

    def _deliver(self, outcome: Outcome) -> None:
        """A slot's handler ended: store the outcome and claim the next tasks now, on this
        slot thread, unless another thread is already exchanging (it looks again).  While
        tasks claimed ahead wait for a slot, the slot goes on with the next one and the
        main thread exchanges meanwhile: the outcomes of the tasks the slots run during
        that round trip go to the database together, with the next claim."""
        self._completer.put(outcome)
        if len(self._waiting):
            self._wake.set()
        else:
            self._drive()

    def _drive(self) -> None:
        """Exchange while outcomes are pending, never waiting for the work connection: the
        thread that holds it looks for pending outcomes again after letting go, so an
        outcome put while it was busy is stored by it or by the thread that put it."""
        while self._exchanging.acquire(blocking=False):
            try:
                self._exchange()
            finally:
                self._exchanging.release()
            if not self._completer.pending():
                return

    def _loop(self) -> None:
        next_poll = time.monotonic()
        while not self._stopping.is_set():
            self._wake.clear()
            notified, self._notified = self._notified, False
            if self._fatal is not None:
                raise self._fatal
            now = time.monotonic()
            with self._exchanging:
                asked, got = self._exchange()
            if self._completer.pending():
                self._drive()  # outcomes a slot put while this thread held the connection
            next_poll = now + self.poll_interval_s  # busy slots claim when they are done
            self._recheck_at = next_recheck(self._recheck_at, now, asked, got, notified)
            deadline = next_poll if self._recheck_at is None else min(next_poll,
                                                                       self._recheck_at)
            self._wake.wait(max(deadline - time.monotonic(), 0.0))

    def _exchange(self) -> tuple[int, int]:
        """With the work connection held (_exchanging): adopt lost claims after a
        reconnect, store the pending outcomes and claim for the free slots in one
        transaction, hand the claimed tasks to the slots; (asked, claimed)."""
        n = 0
        try:
            if self._claimer.reconnected():
                # A commit acknowledged just before a crash may be lost: leases the database
                # says we hold but we do not track are run again (at-least-once).
                for task in self._claimer.adopt(self._inflight.ids()):
                    self._dispatch(task, "adopt")
            back = self._to_give_back()
            if back:
                self._give_back_now(back)
            n = 0 if self._stopping.is_set() else self._slots.free() + self._ahead.depth()
            sent = time.monotonic()
            rows = self._completer.exchange(self._claimer.statement(n) if n > 0 else None)
        except psycopg.Error as exc:
            if not is_transient(exc):
                self._fail(exc)
                return 0, 0
            log.warning(kv("claim_failed", worker=self.name, error=one_line(exc)))
            return n, 0
        except Exception as exc:  # noqa: BLE001 - ends the worker from its main thread
            self._fail(exc)
            return 0, 0
        for task in self._claimer.tasks(rows, sent):
            self._dispatch(task, "claim")
        return n, len(rows)

    def _give_back_now(self, tasks: list[Task]) -> None:
        """release_tasks for claimed-ahead tasks no slot will start (withdrawn)."""
        assert self._main is not None
        try:
            ids = self._main.retry(lambda c: [r[0] for r in c.execute(
                RELEASE_TASKS_SQL, self._give_back_args(tasks)).fetchall()], self._give_up)
        except Exception as exc:  # noqa: BLE001 - left to the shutdown's release_owner
            self._give_back_failed(tasks, exc, self._main.is_connection_error(exc))
            return
        self._gave_back(tasks, ids)

    def _fail(self, exc: Exception) -> None:
        """An error the worker cannot go on after: the main thread raises it."""
        if self._fatal is None:
            self._fatal = exc
        self._wake.set()

    # ---------------------------------------------------------------- shutdown
    def _shutdown(self) -> None:
        end = self._grace_end()
        while len(self._inflight) and time.monotonic() < end:
            self._wake.clear()
            with self._exchanging:
                self._completer.flush()
            if len(self._inflight):
                self._wake.wait(min(0.2, max(end - time.monotonic(), 0.0)))
        self._slots.close()
        with self._exchanging:
            self._completer.flush()
        stop_services(self._lease_services)  # no renewal races the release
        self._release()
        stop_services(self._services)
        self._slots.stop()
        self._record_stop()

    def _release(self) -> None:
        """release_owner: abandon the tasks whose handler ran, give back the rest free."""
        assert self._main is not None
        with self._exchanging:
            left, running = self._to_release()
            if not left:
                return
            try:
                n = self._main.retry(lambda c: c.execute(
                    RELEASE_SQL, (self.name, running)).fetchone()[0], self._give_up)
            except Exception as exc:  # noqa: BLE001 - the leases are left to the reaper
                log.error(kv("release_failed", worker=self.name, tasks=len(left),
                             error=one_line(exc)))
                return
            self._released(left, running, n)

    def _record_stop(self) -> None:
        assert self._main is not None
        try:
            self._main.retry(lambda c: c.execute(STOPPED_SQL, (self.name, self.me.id)),
                             self._give_up)
        except Exception as exc:  # noqa: BLE001 - the TTL will tell instead
            log.error(kv("stop_unrecorded", worker=self.name, error=one_line(exc)))
        margin = self.metrics.margin_min
        self._log_stopped(min_lease_margin_s=None if margin is None else f"{margin:.2f}")
