"""Handlers for worker tests (imported by worker subprocesses as ``handlers:...``) and the
helpers the worker tests share: starting worker processes, a witness table, polling.

The witness: every execution of ``handlers.work`` that reaches its end inserts
(task_id, lease_token, pid, attempt) into ``public.tl_witness`` through its own connection
(DSN from TASKLEASE_WITNESS_DSN), so tests can count executions independently of the queue.

Payload keys understood by ``work``: ``sleep`` (seconds, every attempt), ``sleep_first``
(seconds, first attempt only), ``fail`` (raise RuntimeError with this text), ``fail_first``
(raise RuntimeError with this text on the first attempt only).

``awork`` and ``aecho`` are the same as async def handlers (they run on an AsyncWorker:
``tasklease worker handlers:awork``); ``HANDLERS[flavour]`` names the pair of a flavour.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, TypeVar

import psycopg

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
WITNESS_ENV = "TASKLEASE_WITNESS_DSN"
T = TypeVar("T")

_local = threading.local()


def _witness_conn() -> Optional[psycopg.Connection]:
    dsn = os.environ.get(WITNESS_ENV)
    if not dsn:
        return None
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(dsn, autocommit=True, application_name="tasklease-test:witness")
        _local.conn = conn
    return conn


def _record(task: Any) -> None:
    for _ in range(50):  # the witness connection may be cut by a chaos test: retry
        try:
            conn = _witness_conn()
            if conn is not None:
                conn.execute(
                    "INSERT INTO public.tl_witness (task_id, lease_token, pid, attempt) "
                    "VALUES (%s, %s, %s, %s)",
                    (task.id, task.lease_token, os.getpid(), task.attempts),
                )
            return
        except psycopg.OperationalError:
            _local.conn = None
            time.sleep(0.2)
    raise RuntimeError("witness: database unreachable")


def work(task: Any) -> dict:
    """The test handler: sleeps and fails as the payload says, records itself, returns
    who ran it."""
    payload = task.payload if isinstance(task.payload, dict) else {}
    if payload.get("sleep_first") and task.attempts == 1:
        time.sleep(float(payload["sleep_first"]))
    if payload.get("sleep"):
        time.sleep(float(payload["sleep"]))
    if "fail" in payload:
        raise RuntimeError(str(payload["fail"]))
    if "fail_first" in payload and task.attempts == 1:
        raise RuntimeError(str(payload["fail_first"]))
    _record(task)
    return {"pid": os.getpid(), "token": task.lease_token, "attempt": task.attempts}


def echo(task: Any) -> Any:
    """Returns the payload (no witness, no database)."""
    return task.payload


async def awork(task: Any) -> dict:
    """work() for an AsyncWorker: awaits its sleeps; the witness row is written from a
    thread (a blocking connection), so the loop stays free."""
    payload = task.payload if isinstance(task.payload, dict) else {}
    if payload.get("sleep_first") and task.attempts == 1:
        await asyncio.sleep(float(payload["sleep_first"]))
    if payload.get("sleep"):
        await asyncio.sleep(float(payload["sleep"]))
    if "fail" in payload:
        raise RuntimeError(str(payload["fail"]))
    if "fail_first" in payload and task.attempts == 1:
        raise RuntimeError(str(payload["fail_first"]))
    await asyncio.to_thread(_record, task)
    return {"pid": os.getpid(), "token": task.lease_token, "attempt": task.attempts}


async def aecho(task: Any) -> Any:
    return task.payload


# The handlers of each worker flavour (tests parametrised over both use these names).
FLAVOURS = ("threads", "asyncio")
HANDLERS = {"threads": {"work": "handlers:work", "echo": "handlers:echo", "act": "faults:act"},
            "asyncio": {"work": "handlers:awork", "echo": "handlers:aecho",
                        "act": "faults:aact"}}


# ------------------------------------------------------------------ test helpers
WITNESS_DDL = """
CREATE TABLE IF NOT EXISTS public.tl_witness (
    task_id bigint NOT NULL,
    lease_token bigint NOT NULL,
    pid int NOT NULL,
    attempt int NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""


def reset_witness(conn: psycopg.Connection) -> None:
    conn.execute(WITNESS_DDL)
    conn.execute("TRUNCATE public.tl_witness")


def wait_until(
    probe: Callable[[], T], timeout: float = 30.0, interval: float = 0.1, what: str = "condition"
) -> T:
    """Poll probe() until it returns a truthy value (returned); AssertionError at timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class WorkerProcess:
    """A ``python -m tasklease worker handlers:work ...`` subprocess; stderr goes to a file."""

    def __init__(self, dsn: str, *args: str, log_dir: Path, handler: str = "handlers:work",
                 witness_dsn: Optional[str] = None):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(HERE), str(REPO_ROOT / "python"), env.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep)
        env[WITNESS_ENV] = witness_dsn or dsn
        env.pop("TASK_LEASE_S", None)
        self.log_path = log_dir / f"worker-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in wait()/stop()
        cmd = [sys.executable, "-m", "tasklease", "worker", handler, "--dsn", dsn, *args]
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=str(HERE)
        )
        self.pid = self.proc.pid

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.returncode is not None:
                self._log.close()

    def kill(self) -> None:
        """SIGKILL and reap (a zombie's pid would still look alive to os.kill(pid, 0))."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log.close()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait for the exit code (SIGKILL if it does not exit in time)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise


def worker_alive(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT alive FROM tasklease.worker_status WHERE owner_id = %s", (name,)
    ).fetchone()
    return bool(row and row[0])


def status_counts(conn: psycopg.Connection) -> dict[str, int]:
    return {
        str(s): int(n)
        for s, n in conn.execute("SELECT status::text, count(*) FROM tasklease.tasks GROUP BY 1")
    }


def enqueue_many(conn: psycopg.Connection, payloads: list, queue: str = "default",
                 max_attempts: Optional[int] = None) -> list[int]:
    from psycopg.types.json import Jsonb

    rows = conn.execute(
        "SELECT * FROM tasklease.enqueue_many(%s::jsonb[], %s, now(), 0, %s)",
        ([Jsonb(p) for p in payloads], queue, max_attempts),
    ).fetchall()
    return [r[0] for r in rows]
