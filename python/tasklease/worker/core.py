"""Worker: wires the services of one worker process and runs its shutdown in order.

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

import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Optional

import psycopg

from .. import __version__
from ..db import resolve_dsn
from ..metrics import Metrics, serve
from ..pooling import Pooling, check_listen
from .claimer import Claimer
from .completer import Completer
from .events import info, kv, log, one_line
from .heartbeat import Heartbeat
from .identity import Incarnation, claim_name
from .inflight import InFlight
from .leases import DeadlineWatch, LeaseKeeper
from .link import GiveUp, Link, is_transient
from .listener import Listener
from .outcomes import Outcome
from .reaper import Reaper
from .signals import SignalSafeEvent
from .slots import Slots
from .task import Task
from .timing import (
    WORK_STATEMENT_TIMEOUT_S,
    ConnectionBounds,
    Intervals,
    check_options,
    default_renew_every_s,
)

SETTINGS_SQL = ("SELECT tasklease._setting('lease_s'), tasklease._setting('worker_ttl_s'),"
                " tasklease._setting('reap_interval_s')")
RECOVER_SQL = "SELECT tasklease.recover_owner(%s)"
RELEASE_SQL = "SELECT tasklease.release_owner(%s, %s)"
STOPPED_SQL = "SELECT tasklease.worker_stopped(%s, %s)"
WORK_BOUNDS = ConnectionBounds(WORK_STATEMENT_TIMEOUT_S)
JOIN_S = 5.0
# After a claim that a notification caused came back short, claim again this much later:
# a task whose enqueue skipped its NOTIFY (another one was sent within notify_window_ms)
# and that committed just after that claim is then picked up now, not at the next poll.
RECHECK_S = 0.02


class Worker:
    """Runs handler(task) for tasks of queue (all queues when None) until stopped.

    No I/O happens before run().  run() returns 0 after a graceful stop; it raises
    WorkerNameInUse when a live worker holds the explicit name, InvalidWorkerConfig
    when the intervals break the rule of tasklease.worker.timing, and PoolerMisconfigured
    when LISTEN cannot work where pooling says it should (tasklease.pooling).
    pooler, listen_dsn and listen default to the environment (Pooling.resolve).
    """

    def __init__(
        self,
        dsn: Optional[str],
        handler: Callable[[Task], Any],
        *,
        queue: Optional[str] = None,
        concurrency: int = 1,
        name: Optional[str] = None,
        lease_s: Optional[int] = None,
        renew_every_s: Optional[float] = None,
        heartbeat_s: float = 5.0,
        poll_interval_s: float = 1.0,
        grace_s: float = 30.0,
        metrics_port: Optional[int] = None,
        install_signals: bool = True,
        pooler: Optional[str] = None,
        listen_dsn: Optional[str] = None,
        listen: Optional[bool] = None,
    ) -> None:
        check_options(concurrency, lease_s, renew_every_s, heartbeat_s, grace_s)
        self.pooling = Pooling.resolve(pooler, listen_dsn, listen)
        self.dsn = resolve_dsn(dsn)
        self.handler = handler
        self.queue = queue
        self.concurrency = concurrency
        self.name = name
        self.lease_s = lease_s
        self.renew_every_s = renew_every_s
        self.heartbeat_s = heartbeat_s
        self.poll_interval_s = poll_interval_s
        self.grace_s = grace_s
        self.metrics_port = metrics_port
        self.install_signals = install_signals
        self.me = Incarnation(str(uuid.uuid4()), socket.gethostname(), os.getpid())
        self.metrics = Metrics()
        self.intervals: Optional[Intervals] = None
        self._stopping = SignalSafeEvent()  # set by the signal handler (signals.py)
        self._wake = SignalSafeEvent()
        self._notified = False  # set by the listener with _wake: a task may be waiting
        self._recheck_at: Optional[float] = None
        # Held by the one thread using the work connection (self._main) at a time: the
        # main thread, or a slot thread storing its outcome (_drive).
        self._exchanging = threading.Lock()
        self._fatal: Optional[Exception] = None
        self._reap_interval_s = 5.0
        self._give_up = GiveUp()
        self._signals = 0
        self._main: Optional[Link] = None
        self._http: Any = None
        self._lease_services: list[Any] = []
        self._services: list[Any] = []

    @property
    def incarnation(self) -> str:
        return self.me.id

    @property
    def host(self) -> str:
        return self.me.host

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
        self.intervals = self._intervals()
        listen = self.pooling.listen_target(self.dsn)
        if listen is not None:  # before taking a name: a LISTEN that cannot work is an error
            check_listen(listen, "worker", self.pooling, self._notify,
                         **ConnectionBounds(self.intervals.liveness_timeout_s).libpq_params())
        registered = time.monotonic()
        self.name = claim_name(self._main, self.name, self.me, self._info())
        self._main.rename(self.name)  # not a reconnect: no event=reconnected at start
        self.metrics.worker = self.name
        recovered = self._main.once(lambda c: c.execute(RECOVER_SQL, (self.name,)).fetchone()[0])
        self.metrics.inc("recovered", recovered)
        iv = self.intervals
        log.info(kv("started", worker=self.name, incarnation=self.me.id, host=self.me.host,
                    pid=self.me.pid, queue=self.queue or "*", concurrency=self.concurrency,
                    lease_s=iv.lease_s, renew_every_s=f"{iv.renew_every_s:g}",
                    heartbeat_s=f"{iv.heartbeat_s:g}", worker_ttl_s=iv.worker_ttl_s,
                    margin_s=f"{iv.margin_s:g}", recovered=recovered,
                    pooler=self.pooling.pooler, listen=self.pooling.describe_listen(self.dsn)))
        if self.metrics_port is not None:
            self._http = serve(self.metrics, self.metrics_port)
        self._wire(registered)

    def _notify(self, channel: str, payload: str) -> None:
        """The LISTEN check's NOTIFY, sent on the main connection."""
        assert self._main is not None
        self._main.once(lambda c: c.execute("SELECT pg_notify(%s, %s)", (channel, payload)))

    def _intervals(self) -> Intervals:
        assert self._main is not None
        lease_setting, ttl, reap_s = self._main.once(lambda c: c.execute(SETTINGS_SQL).fetchone())
        self._reap_interval_s = float(reap_s)
        self.lease_s = self.lease_s or lease_setting
        self.renew_every_s = self.renew_every_s or default_renew_every_s(self.lease_s)
        return Intervals(self.lease_s, self.renew_every_s, ttl, self.heartbeat_s).check()

    def _wire(self, registered: float) -> None:
        """Build and start the services, each with its own connection."""
        assert self._main is not None and self.name is not None and self.intervals is not None
        iv, name = self.intervals, self.name
        liveness = ConnectionBounds(iv.liveness_timeout_s)
        self._inflight = InFlight(name, self.metrics)
        self._claimer = Claimer(self._main, name, self.queue, int(iv.lease_s), self._give_up)
        self._completer = Completer(self._main, name, self._inflight, self.metrics,
                                    self._give_up, self._on_outcome)
        self._slots = Slots(self.handler, self.concurrency, self._deliver, name)
        self._heartbeat = Heartbeat(self._link("heartbeat", liveness), name, iv.heartbeat_s,
                                    self._info, registered, iv.worker_ttl_s)
        self._lease_services = [
            LeaseKeeper(self._link("renew", liveness), name, iv.lease_s, iv.renew_every_s,
                        self._inflight, self.metrics),
            DeadlineWatch(self._inflight, lambda: self._heartbeat.acked_sent,
                          lambda: self._heartbeat.worker_ttl_s, iv.margin_s, iv.tick_s),
        ]
        self._services = [
            self._heartbeat,
            Reaper(self._link("reaper", WORK_BOUNDS), name, self._reap_interval_s, self.metrics),
        ]
        listen = self.pooling.listen_target(self.dsn)
        if listen is not None:  # else poll only, every poll_interval_s
            self._services.append(Listener(
                Link(listen, name, "listen", self.metrics, liveness, self.pooling.for_listen()),
                name, self.queue, self._on_notify))
        self._slots.start()
        for s in self._lease_services + self._services:
            s.start()

    def _link(self, role: str, bounds: ConnectionBounds) -> Link:
        return Link(self.dsn, self.name or "worker", role, self.metrics, bounds, self.pooling)

    def _info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"queue": self.queue, "concurrency": self.concurrency,
                                "version": __version__}
        if self._services:
            info["in_flight"] = len(self._inflight)
        return info

    # --------------------------------------------------------------- main loop
    def _on_notify(self) -> None:
        """The listener's wake-up: a task of our queue was enqueued or given back."""
        self._notified = True
        self._wake.set()

    def _on_outcome(self) -> None:
        """An outcome was put in the completer's queue: the slot that put it stores it
        (_deliver); only the shutdown, which waits for them, needs waking."""
        if self._stopping.is_set():
            self._wake.set()

    def _deliver(self, outcome: Outcome) -> None:
        """A slot's handler ended: store the outcome and claim the next tasks now, on this
        slot thread, unless another thread is already exchanging (it looks again)."""
        self._completer.put(outcome)
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
            next_poll = now + self.poll_interval_s  # busy slots claim when they are done
            if asked:
                if notified and got < asked:
                    self._recheck_at = now + RECHECK_S
                elif self._recheck_at is not None and self._recheck_at <= now:
                    self._recheck_at = None
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
            n = 0 if self._stopping.is_set() else self._slots.free()
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

    def _fail(self, exc: Exception) -> None:
        """An error the worker cannot go on after: the main thread raises it."""
        if self._fatal is None:
            self._fatal = exc
        self._wake.set()

    def _dispatch(self, task: Task, how: str) -> None:
        self._inflight.add(task)
        self.metrics.inc("claimed")
        info(how, worker=self.name, task=task.id, token=task.lease_token, queue=task.queue,
             attempt=task.attempts)
        self._slots.submit(task)

    # ---------------------------------------------------------------- shutdown
    def _shutdown(self) -> None:
        log.info(kv("stopping", worker=self.name, in_flight=len(self._inflight),
                    grace_s=self.grace_s))
        end = time.monotonic() + self.grace_s
        self._give_up.at = end + max(10.0, self.grace_s)
        while len(self._inflight) and time.monotonic() < end:
            self._wake.clear()
            with self._exchanging:
                self._completer.flush()
            if len(self._inflight):
                self._wake.wait(min(0.2, max(end - time.monotonic(), 0.0)))
        self._slots.close()
        with self._exchanging:
            self._completer.flush()
        self._stop_services(self._lease_services)  # no renewal races the release
        self._release()
        self._stop_services(self._services)
        self._slots.stop()
        self._record_stop()

    @staticmethod
    def _stop_services(services: list[Any]) -> None:
        for s in services:
            s.stop()
        for s in services:
            s.join(JOIN_S)

    def _release(self) -> None:
        """release_owner: abandon the tasks whose handler ran, give back the rest free."""
        with self._exchanging:
            self._release_held()

    def _release_held(self) -> None:
        assert self._main is not None
        left = self._inflight.take_all()
        if not left:
            return
        # Started: still running, or returned too late for its outcome to be stored.
        running = [t.id for t in left if t.started]
        for t in left:
            t.lease_lost.set()
        try:
            n = self._main.retry(lambda c: c.execute(
                RELEASE_SQL, (self.name, running)).fetchone()[0], self._give_up)
        except Exception as exc:  # noqa: BLE001 - the leases are left to the reaper
            log.error(kv("release_failed", worker=self.name, tasks=len(left),
                         error=one_line(exc)))
            return
        self.metrics.inc("released", n)
        self.metrics.inc("abandoned", len(running))
        log.info(kv("released", worker=self.name, tasks=n,
                    ids=",".join(str(t.id) for t in left),
                    abandoned=",".join(str(i) for i in running) or None))

    def _record_stop(self) -> None:
        assert self._main is not None
        try:
            self._main.retry(lambda c: c.execute(STOPPED_SQL, (self.name, self.me.id)),
                             self._give_up)
        except Exception as exc:  # noqa: BLE001 - the TTL will tell instead
            log.error(kv("stop_unrecorded", worker=self.name, error=one_line(exc)))
        margin = self.metrics.margin_min
        log.info(kv("stopped", worker=self.name, completed=self.metrics.value("completed"),
                    failed=self.metrics.value("failed"),
                    lost_leases=self.metrics.value("lost_leases"),
                    min_lease_margin_s=None if margin is None else f"{margin:.2f}"))

    # ----------------------------------------------------------------- signals
    def _install_signals(self) -> dict:
        if not self.install_signals or threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, self._on_signal)
        return previous

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._signals += 1
        if self._signals > 1:
            os.write(2, f"tasklease: second signal {signum}: exiting now\n".encode())
            os._exit(128 + signum)
        log.info(kv("signal", worker=self.name, signal=signal.Signals(signum).name,
                    grace_s=self.grace_s))
        self.stop()
