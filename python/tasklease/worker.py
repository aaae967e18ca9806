"""The worker shim: claim, run, renew, complete; every rule lives in the SQL functions.

Threads of one worker process, each with its own connection(s):
  main        claims (claim_tasks, one call for all idle slots), stores outcomes
              (complete_tasks in batches, fail_task), registration, release at shutdown
  slots       `concurrency` daemon threads that run the handler; no database I/O
  renewer     one renew_leases call per tick for every lease in flight; keeps a local
              monotonic deadline per lease and sets Task.lease_lost when a lease is gone
  heartbeat   heartbeat() every heartbeat_s, so a stuck handler never stops it
  listener    LISTEN tasklease; wakes the main loop (polling every poll_interval_s
              remains the fallback)
A lost connection is re-opened with exponential backoff and jitter; outcomes are
kept until stored.  Log lines are key=value (logger "tasklease.worker").
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue as queue_mod
import random
import signal
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional, TypeVar

import psycopg
from psycopg.types.json import Jsonb

from . import __version__
from .db import connect, resolve_dsn, translate_errors
from .errors import WorkerNameInUse
from .metrics import Metrics, serve

log = logging.getLogger("tasklease.worker")
T = TypeVar("T")

MAX_SLOTS = 64  # default names try <host>-0 .. <host>-63
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.1, 5.0


def kv(event: str, **fields: Any) -> str:
    """One structured log line: event=... key=value ..., values quoted when needed."""
    parts = [f"event={event}"]
    for key, value in fields.items():
        text = "-" if value is None else str(value)
        if not text or any(c in text for c in ' "=\n\t'):
            text = json.dumps(text)
        parts.append(f"{key}={text}")
    return " ".join(parts)


def backoff_delays(base: float = BACKOFF_MIN_S, cap: float = BACKOFF_MAX_S):
    """Exponential backoff with full jitter: an endless iterator of delays in seconds."""
    n = 0
    while True:
        yield random.uniform(base, min(cap, base * 2**n))
        n = min(n + 1, 30)


@dataclass(eq=False)
class Task:
    """What a handler receives.  lease_lost is set when the lease is known or presumed gone:
    the handler should then stop its side effects; its outcome may be refused."""

    id: int
    queue: str
    payload: Any
    attempts: int
    lease_token: int
    lease_lost: threading.Event = field(default_factory=threading.Event, repr=False)
    deadline: float = field(default=0.0, repr=False)  # time.monotonic() the lease ends
    gone: bool = field(default=False, repr=False)  # the database no longer has our lease
    finished: bool = field(default=False, repr=False)  # the handler has returned


@dataclass
class _Outcome:
    task: Task
    ok: bool
    result: Optional[str] = None  # JSON text, or None for SQL NULL
    error: str = ""


def _is_connection_error(exc: BaseException, conn: Optional[psycopg.Connection]) -> bool:
    if isinstance(exc, psycopg.InterfaceError):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    return conn is None or conn.closed or conn.broken


class _Link:
    """One dedicated autocommit connection, re-opened with backoff when it breaks."""

    def __init__(self, dsn: str, app: str, metrics: Metrics, role: str) -> None:
        self.dsn, self.app, self.metrics, self.role = dsn, app, metrics, role
        self.conn: Optional[psycopg.Connection] = None
        self.reconnects = 0
        self._ever_connected = False

    def _ensure(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            self.conn = connect(
                self.dsn, self.app, connect_timeout=10,
                keepalives=1, keepalives_idle=10, keepalives_interval=3, keepalives_count=3,
            )
            if self._ever_connected:
                self.reconnects += 1
                self.metrics.inc("reconnects")
                log.info(kv("reconnected", worker=self.app, connection=self.role))
            self._ever_connected = True
        return self.conn

    def drop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
            self.conn = None

    def once(self, fn: Callable[[psycopg.Connection], T]) -> T:
        """fn(conn) on a live connection; a connection error drops it and propagates."""
        conn = None
        try:
            conn = self._ensure()
            with translate_errors():
                return fn(conn)
        except psycopg.Error as exc:
            if _is_connection_error(exc, conn):
                self.drop()
            raise

    def retry(self, fn: Callable[[psycopg.Connection], T], give_up: Callable[[], bool]) -> T:
        """fn(conn), retried after connection errors (backoff, jitter) until give_up()."""
        delays = backoff_delays()
        while True:
            try:
                return self.once(fn)
            except psycopg.Error as exc:
                if not _is_connection_error(exc, self.conn) or give_up():
                    raise
                delay = next(delays)
                log.warning(kv("connection_lost", worker=self.app, connection=self.role,
                               retry_in_s=f"{delay:.2f}", error=_one_line(exc)))
                time.sleep(delay)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Worker:
    """Runs handler(task) for tasks of queue (all queues when None) until stopped.

    No I/O happens before run().  run() returns 0 after a graceful stop; it raises
    WorkerNameInUse when a live worker holds the explicit name.
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
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if lease_s is not None and lease_s < 1:
            raise ValueError("lease_s must be at least 1 second")
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
        self.host = socket.gethostname()
        self.incarnation = str(uuid.uuid4())
        self.metrics = Metrics()
        self._stopping = threading.Event()  # stop claiming, drain, release
        self._threads_stop = threading.Event()  # end renewer, heartbeat, listener
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._inflight: dict[int, Task] = {}
        self._outcomes: queue_mod.Queue[_Outcome] = queue_mod.Queue()
        self._work: queue_mod.Queue[Optional[Task]] = queue_mod.Queue()
        self._threads: list[threading.Thread] = []
        self._signals = 0
        self._give_up_at: Optional[float] = None
        self._main: Optional[_Link] = None
        self._http = None

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
                self._main.drop()
        return 0

    # ----------------------------------------------------------------- startup
    def _start(self) -> None:
        self._main = _Link(self.dsn, "worker", self.metrics, "main")
        if self.lease_s is None:
            self.lease_s = self._main.once(
                lambda c: c.execute("SELECT tasklease._setting('lease_s')").fetchone()[0]
            )
        if self.renew_every_s is None:
            self.renew_every_s = max(self.lease_s / 3.0, 0.2)
        self.name = self._claim_name()
        self._main.app = self.name
        self._main.drop()  # reopen with application_name tasklease:<name>
        self.metrics.worker = self.name
        recovered = self._main.once(
            lambda c: c.execute("SELECT tasklease.recover_owner(%s)", (self.name,)).fetchone()[0]
        )
        self.metrics.inc("recovered", recovered)
        log.info(kv("started", worker=self.name, incarnation=self.incarnation, host=self.host,
                    pid=os.getpid(), queue=self.queue or "*", concurrency=self.concurrency,
                    lease_s=self.lease_s, recovered=recovered))
        if self.metrics_port is not None:
            self._http = serve(self.metrics, self.metrics_port)
        for i in range(self.concurrency):
            self._spawn(f"slot-{i}", self._slot_loop)
        self._spawn("renewer", self._renew_loop)
        self._spawn("heartbeat", self._heartbeat_loop)
        self._spawn("listener", self._listen_loop)

    def _spawn(self, what: str, target: Callable[[], None]) -> None:
        t = threading.Thread(target=target, name=f"tasklease-{what}", daemon=True)
        t.start()
        self._threads.append(t)

    def _claim_name(self) -> str:
        if self.name:
            self._register(self.name)
            return self.name
        for slot in range(MAX_SLOTS):
            candidate = f"{self.host}-{slot}"
            try:
                self._register(candidate)
                return candidate
            except WorkerNameInUse:
                continue
        raise WorkerNameInUse(f"all worker names {self.host}-0..{MAX_SLOTS - 1} are in use")

    def _register(self, name: str) -> None:
        """register_worker, with takeover when the previous life ran here under a dead pid."""
        assert self._main is not None
        row = self._main.once(lambda c: c.execute(
            "SELECT host, pid, incarnation, alive FROM tasklease.worker_status "
            "WHERE owner_id = %s", (name,)).fetchone())
        takeover = bool(
            row and row[0] == self.host and row[1] and row[1] != os.getpid()
            and not _pid_alive(row[1])
        )
        if takeover:
            log.info(kv("takeover", worker=name, previous_pid=row[1], previous_incarnation=row[2]))
        info = Jsonb({"queue": self.queue, "concurrency": self.concurrency,
                      "version": __version__})
        self._main.once(lambda c: c.execute(
            "SELECT 1 FROM tasklease.register_worker(%s, %s, %s, %s, %s, %s)",
            (name, self.incarnation, self.host, os.getpid(), info, takeover)))

    # --------------------------------------------------------------- main loop
    def _give_up(self) -> bool:
        return self._give_up_at is not None and time.monotonic() > self._give_up_at

    def _loop(self) -> None:
        seen = self._main.reconnects if self._main else 0
        while not self._stopping.is_set():
            self._wake.clear()
            self._flush()
            if self._main is not None and self._main.reconnects != seen:
                # A commit acknowledged just before a crash may be lost: leases the database
                # says we hold but we do not track are run again (at-least-once).
                seen = self._main.reconnects
                for task in self._adopt(set()):
                    self._dispatch(task, "adopt")
            idle = self.concurrency - self._in_flight_count()
            got = self._claim(idle) if idle > 0 and not self._stopping.is_set() else 0
            if got and got == idle:
                continue  # every slot is busy now; the next wake is an outcome
            self._wake.wait(self.poll_interval_s)

    def _in_flight_count(self) -> int:
        with self._lock:
            return len(self._inflight)

    def _claim(self, n: int) -> int:
        assert self._main is not None and self.lease_s is not None
        t0 = time.monotonic()
        rows = self._main.retry(lambda c: c.execute(
            "SELECT id, queue, payload, attempts, lease_token "
            "FROM tasklease.claim_tasks(%s, %s, %s, %s)",
            (self.name, n, self.queue, self.lease_s)).fetchall(), self._give_up)
        # A claim whose reply was lost with the connection is adopted by the loop.
        tasks = [Task(r[0], r[1], r[2], r[3], r[4], deadline=t0 + self.lease_s) for r in rows]
        for task in tasks:
            self._dispatch(task, "claim")
        return len(tasks)

    def _adopt(self, known: set[int]) -> list[Task]:
        """After a reconnect: leases we hold but do not track (a claim whose reply was lost)."""
        assert self._main is not None
        t0 = time.monotonic()
        rows = self._main.retry(lambda c: c.execute(
            "SELECT id, queue, payload, attempts, lease_token, "
            "extract(epoch FROM lease_expires_at - now())::float8 "
            "FROM tasklease.owned_tasks(%s)", (self.name,)).fetchall(), self._give_up)
        with self._lock:
            known = known | set(self._inflight)
        return [Task(r[0], r[1], r[2], r[3], r[4], deadline=t0 + max(r[5] or 0.0, 0.0))
                for r in rows if r[0] not in known]

    def _dispatch(self, task: Task, how: str) -> None:
        with self._lock:
            self._inflight[task.id] = task
            self.metrics.set_in_flight(len(self._inflight))
        self.metrics.inc("claimed")
        log.info(kv(how, worker=self.name, task=task.id, token=task.lease_token,
                    queue=task.queue, attempt=task.attempts))
        self._work.put(task)

    # ------------------------------------------------------------------- slots
    def _slot_loop(self) -> None:
        while True:
            task = self._work.get()
            if task is None:
                return
            self._outcomes.put(self._execute(task))
            self._wake.set()

    def _execute(self, task: Task) -> _Outcome:
        try:
            value = self.handler(task)
            outcome = _Outcome(task, True, None if value is None else json.dumps(value))
        except Exception as exc:  # noqa: BLE001 - any handler error becomes fail_task
            tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
            error = f"{type(exc).__name__}: {exc}\n{''.join(tb[-3:])}".strip()
            outcome = _Outcome(task, False, error=error)
        task.finished = True
        return outcome

    # ---------------------------------------------------------------- outcomes
    def _drain(self) -> list[_Outcome]:
        out: list[_Outcome] = []
        while True:
            try:
                out.append(self._outcomes.get_nowait())
            except queue_mod.Empty:
                return out

    def _flush(self) -> None:
        outcomes = self._drain()
        if not outcomes:
            return
        keep = []
        for o in outcomes:
            if o.task.gone:  # renewal found the lease gone: the database would refuse it
                log.info(kv("outcome_dropped", worker=self.name, task=o.task.id,
                            token=o.task.lease_token, reason="lease_lost"))
            else:
                keep.append(o)
        self._complete([o for o in keep if o.ok])
        for o in keep:
            if not o.ok:
                self._fail(o)
        self._forget([o.task for o in outcomes])

    def _forget(self, tasks: list[Task]) -> None:
        with self._lock:
            for t in tasks:
                self._inflight.pop(t.id, None)
            self.metrics.set_in_flight(len(self._inflight))

    def _complete(self, done: list[_Outcome]) -> None:
        if not done:
            return
        assert self._main is not None
        ids = [o.task.id for o in done]
        tokens = [o.task.lease_token for o in done]
        results = [o.result for o in done]
        before = self._main.reconnects
        accepted = set(self._main.retry(lambda c: [r[0] for r in c.execute(
            "SELECT * FROM tasklease.complete_tasks(%s, %s, %s, %s::text[]::jsonb[])",
            (self.name, ids, tokens, results)).fetchall()], self._give_up))
        refused = [o for o in done if o.task.id not in accepted]
        if refused and self._main.reconnects != before:
            # A first attempt may have committed before the connection broke.
            accepted |= set(self._main.retry(lambda c: [r[0] for r in c.execute(
                "SELECT * FROM tasklease.completed_by(%s, %s, %s)",
                (self.name, [o.task.id for o in refused],
                 [o.task.lease_token for o in refused])).fetchall()], self._give_up))
        for o in done:
            if o.task.id in accepted:
                self.metrics.inc("completed")
                log.info(kv("completed", worker=self.name, task=o.task.id,
                            token=o.task.lease_token))
            else:
                self._lost(o.task, "complete_refused")

    def _fail(self, o: _Outcome) -> None:
        assert self._main is not None
        status = self._main.retry(lambda c: c.execute(
            "SELECT tasklease.fail_task(%s, %s, %s, %s)",
            (o.task.id, self.name, o.task.lease_token, o.error)).fetchone()[0], self._give_up)
        if status is None:
            self._lost(o.task, "fail_refused")
            return
        self.metrics.inc("failed")
        log.warning(kv("failed", worker=self.name, task=o.task.id, token=o.task.lease_token,
                       attempt=o.task.attempts, status=status,
                       error=o.error.splitlines()[0] if o.error else ""))

    def _lost(self, task: Task, reason: str) -> None:
        first = not task.lease_lost.is_set()
        task.lease_lost.set()
        if first:
            self.metrics.inc("lost_leases")
        if first or reason != "deadline":
            log.warning(kv("lease_lost", worker=self.name, task=task.id,
                           token=task.lease_token, reason=reason))

    # ----------------------------------------------------------------- renewer
    def _renew_loop(self) -> None:
        assert self.renew_every_s is not None
        link = _Link(self.dsn, self.name or "worker", self.metrics, "renew")
        delays = backoff_delays()
        delay = self.renew_every_s
        try:
            while not self._threads_stop.wait(delay):
                if self._renew_once(link):
                    delays, delay = backoff_delays(), self.renew_every_s
                else:
                    delay = min(self.renew_every_s, next(delays))
                self._check_deadlines()
        finally:
            link.drop()

    def _renew_once(self, link: _Link) -> bool:
        with self._lock:
            tasks = [t for t in self._inflight.values() if not t.gone]
        if not tasks:
            return True
        t0 = time.monotonic()
        try:
            rows = link.once(lambda c: c.execute(
                "SELECT task_id FROM tasklease.renew_leases(%s, %s, %s, %s)",
                (self.name, [t.id for t in tasks], [t.lease_token for t in tasks],
                 self.lease_s)).fetchall())
        except psycopg.Error as exc:
            log.warning(kv("renew_failed", worker=self.name, tasks=len(tasks),
                           error=_one_line(exc)))
            return False
        self.metrics.observe_renew(time.monotonic() - t0)
        held = {r[0] for r in rows}
        assert self.lease_s is not None
        for t in tasks:
            if t.id in held:
                t.deadline = t0 + self.lease_s
            elif not t.finished:  # a finished one may just have been completed
                t.gone = True
                self._lost(t, "renewal_refused")
        return True

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        with self._lock:
            late = [t for t in self._inflight.values()
                    if not t.gone and not t.finished and t.deadline < now]
        for t in late:
            if not t.lease_lost.is_set():
                self._lost(t, "deadline")

    # --------------------------------------------------------------- heartbeat
    def _heartbeat_loop(self) -> None:
        link = _Link(self.dsn, self.name or "worker", self.metrics, "heartbeat")
        delays = backoff_delays()
        delay = 0.0
        try:
            while not self._threads_stop.wait(delay):
                info = Jsonb({"queue": self.queue, "concurrency": self.concurrency,
                              "in_flight": self._in_flight_count(), "version": __version__})
                try:
                    link.once(lambda c, info=info: c.execute(
                        "SELECT tasklease.heartbeat(%s, %s)", (self.name, info)))
                    delays, delay = backoff_delays(), self.heartbeat_s
                except psycopg.Error as exc:
                    delay = min(self.heartbeat_s, next(delays))
                    log.warning(kv("heartbeat_failed", worker=self.name, error=_one_line(exc)))
        finally:
            link.drop()

    # ---------------------------------------------------------------- listener
    def _listen_loop(self) -> None:
        link = _Link(self.dsn, self.name or "worker", self.metrics, "listen")
        delays = backoff_delays()
        while not self._threads_stop.is_set():
            try:
                conn = link.once(lambda c: c)
                conn.execute("LISTEN tasklease")
                self._wake.set()  # notifications may have been missed while away
                delays = backoff_delays()
                while not self._threads_stop.is_set():
                    for note in conn.notifies(timeout=1.0):
                        if self.queue is None or note.payload == self.queue:
                            self._wake.set()
            except psycopg.Error as exc:
                link.drop()
                log.warning(kv("listen_failed", worker=self.name, error=_one_line(exc)))
                self._threads_stop.wait(next(delays))
        link.drop()

    # ---------------------------------------------------------------- shutdown
    def _shutdown(self) -> None:
        log.info(kv("stopping", worker=self.name, in_flight=self._in_flight_count(),
                    grace_s=self.grace_s))
        end = time.monotonic() + self.grace_s
        self._give_up_at = end + max(10.0, self.grace_s)
        while self._in_flight_count() and time.monotonic() < end:
            self._wake.clear()
            self._flush()
            if self._in_flight_count():
                self._wake.wait(min(0.2, max(end - time.monotonic(), 0.0)))
        self._flush()
        self._release()
        self._threads_stop.set()
        for t in self._threads:
            if not t.name.startswith("tasklease-slot"):
                t.join(timeout=5)
        for _ in range(self.concurrency):
            self._work.put(None)
        assert self._main is not None
        try:
            self._main.retry(lambda c: c.execute(
                "SELECT tasklease.worker_stopped(%s, %s)", (self.name, self.incarnation)),
                self._give_up)
        except psycopg.Error as exc:
            log.error(kv("stop_unrecorded", worker=self.name, error=_one_line(exc)))
        log.info(kv("stopped", worker=self.name, completed=self.metrics.value("completed"),
                    failed=self.metrics.value("failed"),
                    lost_leases=self.metrics.value("lost_leases")))

    def _release(self) -> None:
        with self._lock:
            left = list(self._inflight.values())
        if not left:
            return
        for t in left:
            t.gone = True
            t.lease_lost.set()
        assert self._main is not None
        try:
            n = self._main.retry(lambda c: c.execute(
                "SELECT tasklease.release_owner(%s)", (self.name,)).fetchone()[0],
                self._give_up)
        except psycopg.Error as exc:
            log.error(kv("release_failed", worker=self.name, tasks=len(left),
                         error=_one_line(exc)))
            return
        self.metrics.inc("released", n)
        log.info(kv("released", worker=self.name, tasks=n,
                    ids=",".join(str(t.id) for t in left)))

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
