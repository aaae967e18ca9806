"""WorkerBase: what the threaded Worker (core.py) and the AsyncWorker (aio/worker.py) share,
so that the two run by one set of rules: the options and their checks, the intervals read
from the settings, the services that run on threads with connections of their own in both
(heartbeat, lease keeper, deadline watch, reaper), the worker's info, the log lines of the
start, each claim, the release and the stop, and the signal handlers.

No I/O here: each flavour reads the settings, registers, claims, releases and records the
stop on its own connections (sync or async) and hands the rows to these methods.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Optional

from .. import __version__
from ..db import resolve_dsn
from ..metrics import Metrics, serve
from ..pooling import Pooling
from .ahead import Ahead, Waiting
from .events import kv, log, one_line
from .heartbeat import Heartbeat
from .identity import Incarnation
from .inflight import InFlight
from .leases import DeadlineWatch, LeaseKeeper
from .link import GiveUp, Link
from .reaper import Reaper
from .task import Task
from .timing import (
    WORK_STATEMENT_TIMEOUT_S,
    ConnectionBounds,
    Intervals,
    check_options,
    default_renew_every_s,
)

SETTINGS_SQL = ("SELECT tasklease._setting('lease_s'), tasklease._setting('worker_ttl_s'),"
                " tasklease._setting('reap_interval_s'), tasklease._setting('max_batch')")
RECOVER_SQL = "SELECT tasklease.recover_owner(%s)"
RELEASE_SQL = "SELECT tasklease.release_owner(%s, %s)"
STOPPED_SQL = "SELECT tasklease.worker_stopped(%s, %s)"
WORK_BOUNDS = ConnectionBounds(WORK_STATEMENT_TIMEOUT_S)
JOIN_S = 5.0
# After a claim that a notification caused came back short, claim again this much later:
# a task whose enqueue skipped its NOTIFY (another one was sent within notify_window_ms)
# and that committed just after that claim is then picked up now, not at the next poll.
RECHECK_S = 0.02


def next_recheck(at: Optional[float], now: float, asked: int, got: int,
                 notified: bool) -> Optional[float]:
    """When to claim again before the next poll (None: no sooner), after a claim at now
    for asked tasks that got got: RECHECK_S later when a notification caused it and it
    came back short; a re-check that was due is done by this claim."""
    if asked <= 0:
        return at
    if notified and got < asked:
        return now + RECHECK_S
    return None if at is not None and at <= now else at


class WorkerBase:
    """The options, identity, metrics and thread services of a worker; Worker and
    AsyncWorker add the claims, the handlers and the storing of outcomes."""

    # Named in the started line and the worker's info (None: the threaded worker); an
    # "asyncio" worker also measures its event loop (Metrics(loop=True)).
    _runtime: Optional[str] = None

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
        prefetch: Optional[int] = None,
    ) -> None:
        check_options(concurrency, lease_s, renew_every_s, heartbeat_s, grace_s, prefetch)
        self._prepare(handler)
        self.pooling = Pooling.resolve(pooler, listen_dsn, listen)
        self.dsn = resolve_dsn(dsn)
        self.handler = handler
        self.queue = queue
        self.concurrency = concurrency
        # Tasks claimed beyond the free slots while handlers are short (worker/ahead.py).
        self.prefetch = max(concurrency, 8) if prefetch is None else prefetch
        self._ahead = Ahead(self.prefetch)
        self._waiting = Waiting()
        self._give_back: list[Task] = []  # withdrawn, not given back yet
        self.name = name
        self.lease_s = lease_s
        self.renew_every_s = renew_every_s
        self.heartbeat_s = heartbeat_s
        self.poll_interval_s = poll_interval_s
        self.grace_s = grace_s
        self.metrics_port = metrics_port
        self.install_signals = install_signals
        self.me = Incarnation(str(uuid.uuid4()), socket.gethostname(), os.getpid())
        self.metrics = Metrics(loop=self._runtime == "asyncio")
        self.intervals: Optional[Intervals] = None
        self._notified = False  # set with _wake by the listener: a task may be waiting
        self._reap_interval_s = 5.0
        self._give_up = GiveUp()
        self._signals = 0
        self._http: Any = None
        self._lease_services: list[Any] = []
        self._services: list[Any] = []

    def _prepare(self, handler: Any) -> None:
        """The flavour's own check of the handler and its own state: __init__ calls it once
        the options are checked, before anything else."""
        raise NotImplementedError

    @property
    def incarnation(self) -> str:
        return self.me.id

    @property
    def host(self) -> str:
        return self.me.host

    # ----------------------------------------------------------------- startup
    def _set_intervals(self, settings: tuple) -> None:
        """From SETTINGS_SQL's row: the reaper's interval, lease_s and renew_every_s unless
        given, and the intervals, checked (InvalidWorkerConfig)."""
        lease_setting, ttl, reap_s, max_batch = settings
        self._reap_interval_s = float(reap_s)
        # A claim asks for at most max_batch tasks (TL003 beyond).
        self._ahead.prefetch = max(0, min(self.prefetch, max_batch - self.concurrency))
        self.lease_s = self.lease_s or lease_setting
        self.renew_every_s = self.renew_every_s or default_renew_every_s(self.lease_s)
        self.intervals = Intervals(self.lease_s, self.renew_every_s, ttl,
                                   self.heartbeat_s).check()

    def _started(self, recovered: int, registered: float) -> None:
        """Named and recovered: say so, serve the metrics, wire the services."""
        assert self.intervals is not None
        self.metrics.inc("recovered", recovered)
        iv = self.intervals
        runtime = {"runtime": self._runtime} if self._runtime else {}
        log.info(kv("started", worker=self.name, incarnation=self.me.id, host=self.me.host,
                    pid=self.me.pid, queue=self.queue or "*", concurrency=self.concurrency,
                    lease_s=iv.lease_s, renew_every_s=f"{iv.renew_every_s:g}",
                    heartbeat_s=f"{iv.heartbeat_s:g}", worker_ttl_s=iv.worker_ttl_s,
                    margin_s=f"{iv.margin_s:g}", recovered=recovered,
                    pooler=self.pooling.pooler, listen=self.pooling.describe_listen(self.dsn),
                    **runtime))
        if self.metrics_port is not None:
            self._http = serve(self.metrics, self.metrics_port)
        self._wire(registered)

    def _wire_threads(self, registered: float) -> ConnectionBounds:
        """The tasks in flight, and the services on threads with connections of their own:
        the lease keeper and the deadline watch (_lease_services, stopped before the
        release), the heartbeat and the worker's share of the reaper (_services).  Not
        started yet; returns the bounds of the liveness connections."""
        assert self.name is not None and self.intervals is not None
        iv, name = self.intervals, self.name
        liveness = ConnectionBounds(iv.liveness_timeout_s)
        self._inflight = InFlight(name, self.metrics)
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
        return liveness

    def _link(self, role: str, bounds: ConnectionBounds) -> Link:
        return Link(self.dsn, self.name or "worker", role, self.metrics, bounds, self.pooling)

    def _info(self) -> dict[str, Any]:
        """The worker's info in tasklease.workers (at registration, then each heartbeat)."""
        info: dict[str, Any] = {"queue": self.queue, "concurrency": self.concurrency,
                                "prefetch": self.prefetch, "version": __version__}
        if self._runtime:
            info["runtime"] = self._runtime
        if self._services:
            info["in_flight"] = len(self._inflight)
        return info

    # ------------------------------------------------------------------ claims
    def _on_notify(self) -> None:
        """The listener's wake-up: a task of our queue was enqueued or given back."""
        self._notified = True
        self._wake.set()

    def _dispatch(self, task: Task, how: str) -> None:
        """A claimed (or adopted) task: in flight from now, and handed to a handler."""
        self._inflight.add(task)
        self.metrics.inc("claimed")
        if log.isEnabledFor(logging.INFO):  # a line per task: not formatted for nothing
            log.info(kv(how, worker=self.name, task=task.id, token=task.lease_token,
                        queue=task.queue, attempt=task.attempts))
        self._submit(task)

    def _to_give_back(self) -> list[Task]:
        """The tasks claimed ahead to give back now: those left from a give-back that
        failed, and all waiting ones once the oldest has waited too long (withdrawn: no
        slot starts them)."""
        stale = self._waiting.withdraw_stale(time.monotonic())
        if stale:
            log.warning(kv("claimed_ahead_stuck", worker=self.name, tasks=len(stale),
                           ids=",".join(str(t.id) for t in stale)))
        tasks, self._give_back = self._give_back + stale, []
        return tasks

    def _give_back_args(self, tasks: list[Task]) -> tuple:
        return (self.name, [t.id for t in tasks], [t.lease_token for t in tasks])

    def _give_back_failed(self, tasks: list[Task], error: Exception, again: bool) -> None:
        """release_tasks failed: tried again at the next claim if again (a lost
        connection), else left, never started, to the shutdown's release_owner."""
        if again:
            self._give_back.extend(tasks)
        log.error(kv("give_back_failed", worker=self.name, tasks=len(tasks),
                     error=one_line(error)))

    def _gave_back(self, tasks: list[Task], ids: list[int]) -> None:
        """release_tasks gave back ids (the others' leases were no longer ours)."""
        self._inflight.forget(tasks)
        for t in tasks:
            t.lease_lost.set()
        self.metrics.inc("given_back", len(ids))
        log.info(kv("given_back", worker=self.name, tasks=len(ids),
                    ids=",".join(str(i) for i in ids)))

    # ---------------------------------------------------------------- shutdown
    def _grace_end(self) -> float:
        """The stop begins: when the grace period ends (retries of lost connections give up
        a while after it)."""
        log.info(kv("stopping", worker=self.name, in_flight=len(self._inflight),
                    grace_s=self.grace_s))
        end = time.monotonic() + self.grace_s
        self._give_up.at = end + max(10.0, self.grace_s)
        return end

    def _to_release(self) -> tuple[list[Task], list[int]]:
        """The tasks still held, each told its lease is lost, and the ids of those whose
        handler started (still running, or returned too late for its outcome to be
        stored): release_owner abandons those and gives the rest back free."""
        left = self._inflight.take_all()
        running = [t.id for t in left if t.started]
        for t in left:
            t.lease_lost.set()
        return left, running

    def _released(self, left: list[Task], running: list[int], n: int) -> None:
        self.metrics.inc("released", n)
        self.metrics.inc("abandoned", len(running))
        log.info(kv("released", worker=self.name, tasks=n,
                    ids=",".join(str(t.id) for t in left),
                    abandoned=",".join(str(i) for i in running) or None))

    def _log_stopped(self, **extra: Any) -> None:
        log.info(kv("stopped", worker=self.name, completed=self.metrics.value("completed"),
                    failed=self.metrics.value("failed"),
                    lost_leases=self.metrics.value("lost_leases"), **extra))

    # ----------------------------------------------------------------- signals
    def _install_signals(self) -> dict:
        """signal.signal (not loop.add_signal_handler for an AsyncWorker: the handler then
        runs even while a handler blocks the loop, so a second signal always exits)."""
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


def stop_services(services: list[Any]) -> None:
    for s in services:
        s.stop()
    for s in services:
        s.join(JOIN_S)
