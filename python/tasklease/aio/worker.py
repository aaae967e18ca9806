"""AsyncWorker: runs async def handlers on the caller's event loop; wires the services of
one asyncio worker and runs its shutdown in order, by the rules of the threaded Worker
(tasklease/worker/core.py): the same start, the same stop, the same log lines; the options,
the intervals, the thread services and those log lines are its base class's
(tasklease/worker/common.py).

Start: read the settings, check the intervals, check that LISTEN works where it should,
claim a name (register_worker), recover what a previous life of that name held, then start
the lease keeper, the deadline watch, the heartbeat, the loop watch and the listener.  The
claim loop then stores the outcomes that came in and claims for the idle handler slots, in
one statement on the main connection (AsyncCompleter.exchange), until stopped.

Stop (SIGTERM, SIGINT or stop()): stop claiming; let running handlers finish for grace_s
while their outcomes are stored; then no handler starts any more, the last outcomes are
stored, and release_owner gives back the rest (a handler still running is abandoned, one
that never started is given back free).  Then the background services end, the handlers
still running are cancelled (their tasks are given back already), and the worker row is
marked stopped.  A second signal exits at once, even while a handler blocks the loop,
leaving every lease to the reaper as after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import signal
import time
from collections.abc import Awaitable
from typing import Any, Callable, Optional

import psycopg

from ..db import is_transient
from ..errors import InvalidWorkerConfig
from ..worker.ahead import RELEASE_TASKS_SQL
from ..worker.common import (
    RECOVER_SQL,
    RELEASE_SQL,
    SETTINGS_SQL,
    STOPPED_SQL,
    WORK_BOUNDS,
    WorkerBase,
    next_recheck,
    stop_services,
)
from ..worker.events import kv, log, one_line
from ..worker.identity import claim_name
from ..worker.link import Link
from ..worker.task import Task
from ..worker.timing import LOOP_LAG_LIMIT_S, ConnectionBounds
from .claimer import AsyncClaimer
from .completer import AsyncCompleter
from .link import AsyncLink, fetchall, fetchone
from .listener import AsyncListener, check_listen
from .loopwatch import LoopWatch
from .runner import Runner

CANCEL_WAIT_S = 5.0
SYNC_REFUSED = (
    "AsyncWorker runs async def handlers, and {name} is not one: run it with tasklease.Worker "
    "(`tasklease worker` picks it for a plain function), or make it an async def that calls "
    "the blocking part with `await asyncio.to_thread(...)`")


class Wake:
    """The claim loop's wake-up: set() on the loop (a stored outcome, a notification, a
    stop); wait(timeout) returns once set or after timeout.  A future and a timer per wait,
    cheaper than asyncio.wait_for on an Event, which the loop pays once per claim."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._set = False
        self._waiter: Optional[asyncio.Future] = None

    def set(self) -> None:
        self._set = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set

    async def wait(self, timeout: float) -> None:
        if self._set:
            return
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_later(max(timeout, 0.0), _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None


def _resolve(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


def is_async_handler(handler: Any) -> bool:
    """Whether handler is a coroutine function (also through functools.partial, a bound
    method, or an object whose __call__ is an async def)."""
    if inspect.iscoroutinefunction(handler):
        return True
    call = getattr(handler, "__call__", None)  # noqa: B004 - an object's async __call__
    return (call is not None and not inspect.isroutine(handler)
            and inspect.iscoroutinefunction(call))


class AsyncWorker(WorkerBase):
    """Runs await handler(task) for tasks of queue (all queues when None), at most
    concurrency at a time, until stopped; the asyncio twin of tasklease.Worker.

    A sync handler is refused (InvalidWorkerConfig): use tasklease.Worker for it.  No I/O
    happens before run().  run() returns 0 after a graceful stop and raises what
    Worker.run() raises.  task.lease_lost is an asyncio.Event (await task.lease_lost.wait()).
    """

    _runtime = "asyncio"

    def __init__(
        self,
        dsn: Optional[str],
        handler: Callable[[Task], Awaitable[Any]],
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
        loop_lag_limit_s: float = LOOP_LAG_LIMIT_S,
        prefetch: Optional[int] = None,
    ) -> None:
        super().__init__(dsn, handler, queue=queue, concurrency=concurrency, name=name,
                         lease_s=lease_s, renew_every_s=renew_every_s, heartbeat_s=heartbeat_s,
                         poll_interval_s=poll_interval_s, grace_s=grace_s,
                         metrics_port=metrics_port, install_signals=install_signals,
                         pooler=pooler, listen_dsn=listen_dsn, listen=listen,
                         prefetch=prefetch)
        self.loop_lag_limit_s = loop_lag_limit_s

    def _prepare(self, handler: Any) -> None:
        if not is_async_handler(handler):
            raise InvalidWorkerConfig(SYNC_REFUSED.format(
                name=getattr(handler, "__qualname__", None) or repr(handler)))
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._stop_asked = False
        self._main: Optional[AsyncLink] = None
        self._listener: Optional[AsyncListener] = None
        self._watch: Optional[LoopWatch] = None

    # ------------------------------------------------------------------ public
    def stop(self) -> None:
        """Ask the worker to stop claiming and shut down gracefully (from any thread, a
        signal handler, or the loop itself)."""
        self._stop_asked = True
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to stop
                self._loop.call_soon_threadsafe(self._on_stop)

    def _on_stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> int:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._wake = Wake(self._loop)
        if self._stop_asked:
            self._on_stop()
        previous = self._install_signals()
        try:
            await self._start()
            try:
                await self._claim_loop()
            finally:
                await self._shutdown()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self._http is not None:
                await asyncio.to_thread(self._http.shutdown)
            if self._main is not None:
                await self._main.close()
        return 0

    # ----------------------------------------------------------------- startup
    async def _start(self) -> None:
        self._main = AsyncLink(self.dsn, "worker", "main", self.metrics, WORK_BOUNDS,
                               self.pooling)
        self._set_intervals(await self._main.once(lambda c: fetchone(c, SETTINGS_SQL)))
        assert self.intervals is not None
        listen = self.pooling.listen_target(self.dsn)
        if listen is not None:  # before taking a name: a LISTEN that cannot work is an error
            await check_listen(listen, "worker", self.pooling, self._notify,
                               **ConnectionBounds(self.intervals.liveness_timeout_s)
                               .libpq_params())
        registered = time.monotonic()
        boot = Link(self.dsn, "worker", "start", self.metrics, WORK_BOUNDS, self.pooling)
        try:  # the name rules of tasklease.worker.identity, on a connection of their own
            self.name = await asyncio.to_thread(claim_name, boot, self.name, self.me,
                                                self._info())
        finally:
            await asyncio.to_thread(boot.close)
        await self._main.rename(self.name)
        self.metrics.worker = self.name
        recovered = (await self._main.once(lambda c: fetchone(c, RECOVER_SQL, (self.name,))))[0]
        self._started(recovered, registered)

    async def _notify(self, channel: str, payload: str) -> None:
        """The LISTEN check's NOTIFY, sent on the main connection."""
        assert self._main is not None
        await self._main.once(lambda c: c.execute("SELECT pg_notify(%s, %s)",
                                                  (channel, payload)))

    def _wire(self, registered: float) -> None:
        """Build and start the services: claims, handlers, outcomes and LISTEN on the loop
        (no thread hand-off between a claim and the next); renewals, deadlines, heartbeat,
        the worker's share of the reaper and the loop watch on threads of their own, each
        with its own connection, so that a handler blocking the loop stops none of them."""
        assert self._main is not None and self.name is not None and self.intervals is not None
        assert self._loop is not None
        liveness = self._wire_threads(registered)
        name, loop = self.name, self._loop
        self._claimer = AsyncClaimer(self._main, name, self.queue, int(self.intervals.lease_s),
                                     self._give_up, loop)
        self._completer = AsyncCompleter(self._main, name, self._inflight, self.metrics,
                                         self._give_up, self._wake.set)
        self._runner = Runner(self.handler, self._completer.put, name, self.concurrency,
                              self._waiting, self._ahead.record)
        self._submit = self._runner.submit
        self._watch = LoopWatch(loop, self._inflight, self.metrics, name, self.loop_lag_limit_s)
        self._services.append(self._watch)
        listen = self.pooling.listen_target(self.dsn)
        if listen is not None:  # else poll only, every poll_interval_s
            self._listener = AsyncListener(
                AsyncLink(listen, name, "listen", self.metrics, liveness,
                          self.pooling.for_listen()),
                name, self.queue, self._on_notify)
            self._listener.start()
        for s in self._lease_services + self._services:
            s.start()

    def _info(self) -> dict[str, Any]:
        info = super()._info()
        if self._watch is not None:
            blocked = self._watch.blocked_s(time.monotonic())
            if blocked is not None:
                info["loop_blocked_s"] = round(blocked, 3)
        return info

    # ------------------------------------------------------------- claim loop
    async def _claim_loop(self) -> None:
        """Store the outcomes that came in and claim for the free slots, in one exchange,
        whenever an outcome, a notification or the poll timer says so."""
        recheck_at: Optional[float] = None  # the re-check after a wake-up (next_recheck)
        while not self._stopping.is_set():
            self._wake.clear()
            notified, self._notified = self._notified, False
            now = time.monotonic()
            asked, got = await self._exchange()
            if self._completer.pending() or (got and got == asked):
                continue  # outcomes came in meanwhile, or the slots filled: at it again
            recheck_at = next_recheck(recheck_at, now, asked, got, notified)
            wait = self.poll_interval_s if recheck_at is None else min(
                self.poll_interval_s, max(recheck_at - now, 0.0))
            await self._wake.wait(wait)

    async def _exchange(self) -> tuple[int, int]:
        """Adopt lost claims after a reconnect, store the pending outcomes and claim for
        the free slots in one transaction, start the claimed tasks; (asked, claimed)."""
        if self._claimer.reconnected():
            # A commit acknowledged just before a crash may be lost: leases the database
            # says we hold but we do not track are run again (at-least-once).
            for task in await self._claimer.adopt(self._inflight.ids()):
                self._dispatch(task, "adopt")
        back = self._to_give_back()
        if back:
            await self._give_back_now(back)
        n = 0 if self._stopping.is_set() else (
            self.concurrency + self._ahead.depth() - self._runner.busy())
        sent = time.monotonic()
        try:
            rows = await self._completer.exchange(
                self._claimer.statement(n) if n > 0 else None)
        except psycopg.Error as exc:
            if not is_transient(exc):
                raise
            log.warning(kv("claim_failed", worker=self.name, error=one_line(exc)))
            return n, 0
        for task in self._claimer.tasks(rows, sent):
            self._dispatch(task, "claim")
        return n, len(rows)

    async def _give_back_now(self, tasks: list[Task]) -> None:
        """release_tasks for claimed-ahead tasks no handler will start (withdrawn)."""
        assert self._main is not None
        try:
            rows = await self._main.retry(lambda c: fetchall(
                c, RELEASE_TASKS_SQL, self._give_back_args(tasks)), self._give_up)
        except Exception as exc:  # noqa: BLE001 - left to the shutdown's release_owner
            self._give_back_failed(tasks, exc, self._main.is_connection_error(exc))
            return
        self._gave_back(tasks, [r[0] for r in rows])

    # ---------------------------------------------------------------- shutdown
    async def _shutdown(self) -> None:
        end = self._grace_end()
        while len(self._inflight) and time.monotonic() < end:
            self._wake.clear()
            await self._completer.flush()
            if len(self._inflight):
                await self._wake.wait(min(0.2, max(end - time.monotonic(), 0.0)))
        self._runner.close()
        await self._completer.flush()
        await asyncio.to_thread(stop_services, self._lease_services)  # no renewal races it
        await self._release()
        if self._listener is not None:
            await self._listener.stop()
        await asyncio.to_thread(stop_services, self._services)
        left = await self._runner.cancel(CANCEL_WAIT_S)
        if left:
            log.warning(kv("handlers_left_running", worker=self.name, handlers=left))
        await self._record_stop()

    async def _release(self) -> None:
        """release_owner: abandon the tasks whose handler ran, give back the rest free."""
        assert self._main is not None
        left, running = self._to_release()
        if not left:
            return
        try:
            n = (await self._main.retry(lambda c: fetchone(
                c, RELEASE_SQL, (self.name, running)), self._give_up))[0]
        except Exception as exc:  # noqa: BLE001 - the leases are left to the reaper
            log.error(kv("release_failed", worker=self.name, tasks=len(left),
                         error=one_line(exc)))
            return
        self._released(left, running, n)

    async def _record_stop(self) -> None:
        assert self._main is not None
        try:
            await self._main.retry(lambda c: c.execute(STOPPED_SQL, (self.name, self.me.id)),
                                   self._give_up)
        except Exception as exc:  # noqa: BLE001 - the TTL will tell instead
            log.error(kv("stop_unrecorded", worker=self.name, error=one_line(exc)))
        self._log_stopped()
