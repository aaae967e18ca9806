"""What only the asyncio worker has: sync handlers refused, the library API on the caller's
loop, lease_lost as an asyncio.Event set from other threads, a handler that blocks the loop
(seen, said, and its lease kept), a second signal while the loop is blocked.  What both
flavours share (faults, chaos, PgBouncer) is parametrised in the other test files."""

from __future__ import annotations

import asyncio
import functools
import signal
import socket
import threading
import time
import urllib.request

import pytest
import tasklease
from faults import LEASE_LOST_DDL
from handlers import WorkerProcess, enqueue_many, reset_witness, status_counts, wait_until
from tasklease.aio import LoopEvent, is_async_handler
from tasklease.errors import InvalidWorkerConfig


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name.split("{")[0]] = float(value)
    return out


@pytest.fixture
def workers(dsn, conn, tmp_path, settings):
    reset_witness(conn)
    conn.execute(LEASE_LOST_DDL)
    settings("requeue_backoff_s", 0)
    started: list[WorkerProcess] = []

    def start(*args: str, handler: str = "faults:aact") -> WorkerProcess:
        w = WorkerProcess(dsn, *args, log_dir=tmp_path, handler=handler)
        started.append(w)
        return w

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.kill()


# ------------------------------------------------------------------ handlers
def test_sync_handlers_are_refused_and_async_ones_recognised(dsn):
    def plain(task):
        return None

    async def coro(task, extra=None):
        return None

    class Callable:
        async def __call__(self, task):
            return None

        async def method(self, task):
            return None

    for handler in (plain, lambda task: coro(task), functools.partial(plain)):
        assert not is_async_handler(handler)
        with pytest.raises(InvalidWorkerConfig, match="tasklease.Worker"):
            tasklease.AsyncWorker(dsn, handler)
    for handler in (coro, functools.partial(coro, extra=1), Callable(), Callable().method):
        assert is_async_handler(handler)
        tasklease.AsyncWorker(dsn, handler)  # accepted; no I/O before run()


def test_the_command_line_picks_the_flavour_by_the_handler(conn, workers):
    enqueue_many(conn, [{"n": 1}, {"n": 2}])
    a = workers("--name", "async-cli", handler="handlers:aecho")
    wait_until(lambda: status_counts(conn) == {"completed": 2}, what="both tasks completed")
    assert "runtime=asyncio" in a.log()
    assert a.stop() == 0
    enqueue_many(conn, [{"n": 3}])
    t = workers("--name", "thread-cli", handler="handlers:echo")
    wait_until(lambda: status_counts(conn) == {"completed": 3}, what="the third completed")
    assert "event=started worker=thread-cli" in t.log() and "runtime=asyncio" not in t.log()
    assert t.stop() == 0


# ------------------------------------------------------------------ the library
def test_an_async_worker_runs_on_the_callers_loop_with_an_async_client(dsn, conn):
    """AsyncClient enqueues, AsyncWorker runs 30 tasks on the same loop (concurrency 8, so
    handlers overlap), lease_lost is an asyncio.Event, stop() from a handler ends run()."""
    seen: list[tuple[int, bool]] = []
    running = {"now": 0, "most": 0}

    async def main() -> int:
        async def handler(task):
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])
            await asyncio.sleep(0.05)
            running["now"] -= 1
            seen.append((task.payload["n"], isinstance(task.lease_lost, asyncio.Event)))
            if len(seen) == 30:
                worker.stop()
            return {"n": task.payload["n"]}

        async with tasklease.AsyncClient(dsn) as client:
            await client.enqueue_many([{"n": i} for i in range(30)], queue="inproc")
            worker = tasklease.AsyncWorker(dsn, handler, queue="inproc", concurrency=8,
                                           name="inproc", install_signals=False, grace_s=10)
            code = await worker.run()
            stats = await client.stats()
        assert stats.count("completed", "inproc") == 30
        return code

    assert asyncio.run(main()) == 0
    assert sorted(n for n, _ in seen) == list(range(30))
    assert all(is_event for _, is_event in seen)
    assert running["most"] > 1, "handlers ran concurrently"
    assert conn.execute("SELECT state FROM tasklease.worker_status WHERE owner_id = 'inproc'"
                        ).fetchone()[0] == "stopped"


def test_lease_lost_set_from_another_thread_wakes_the_loop():
    async def main() -> tuple[bool, float]:
        event = LoopEvent(asyncio.get_running_loop())
        seen_at_once = []

        def from_thread() -> None:
            time.sleep(0.05)
            event.set()
            seen_at_once.append(event.is_set())

        thread = threading.Thread(target=from_thread)
        thread.start()
        await asyncio.wait_for(event.wait(), 5)
        await asyncio.to_thread(thread.join, 5)
        return seen_at_once == [True], event.is_set()

    assert asyncio.run(main()) == (True, True)


# ------------------------------------------------------------------ a blocked loop
def test_a_handler_that_blocks_the_loop_is_seen_and_its_lease_kept(conn, workers):
    """The handler sleeps 6 s without awaiting, with 2 s leases: the renewals (on their
    thread) keep the lease, the loop watch logs loop_blocked and loop_unblocked, the metrics
    and the worker row say so, and the task completes on its first lease."""
    (task_id,) = enqueue_many(conn, [{"do": "block", "block_s": 6}])
    port = _free_port()
    w = workers("--name", "blocker", "--lease-s", "2", "--heartbeat-s", "0.5",
                "--metrics-port", str(port))
    wait_until(lambda: "event=loop_blocked" in w.log(), timeout=30, what="loop_blocked")
    blocked = wait_until(lambda: conn.execute(
        "SELECT info->'loop_blocked_s' FROM tasklease.workers WHERE owner_id = 'blocker'"
    ).fetchone()[0], timeout=5, what="the heartbeat to carry loop_blocked_s")
    assert float(blocked) > 0
    during = _metrics(port)
    assert during["tasklease_loop_lag_seconds"] >= 1.0
    assert during["tasklease_leases_at_risk"] == 1
    wait_until(lambda: status_counts(conn) == {"completed": 1}, timeout=30, what="completed")
    after = _metrics(port)
    status, attempts, requeues, result = conn.execute(
        "SELECT status::text, attempts, requeue_count, result FROM tasklease.tasks "
        "WHERE id = %s", (task_id,)).fetchone()
    assert (status, attempts, requeues, result) == ("completed", 1, 0, {"blocked_s": 6.0})
    assert after["tasklease_loop_blocked_total"] == 1
    assert after["tasklease_lost_leases_total"] == 0
    assert after["tasklease_renew_seconds_count"] >= 3, "renewed while the loop was blocked"
    assert after["tasklease_leases_at_risk"] == 0
    log = w.log()
    assert f"at_risk={task_id}" in log and "event=loop_unblocked worker=blocker" in log
    assert w.stop() == 0


def test_a_second_signal_exits_at_once_while_the_loop_is_blocked(conn, workers):
    (task_id,) = enqueue_many(conn, [{"do": "block", "block_s": 120}])
    w = workers("--name", "stuck-loop", "--grace-s", "120")
    wait_until(lambda: "event=loop_blocked" in w.log(), timeout=30, what="the loop to block")
    w.signal(signal.SIGTERM)
    time.sleep(0.5)
    w.signal(signal.SIGTERM)
    assert w.wait(timeout=15) == 128 + signal.SIGTERM
    assert conn.execute("SELECT status::text, owner_id FROM tasklease.tasks WHERE id = %s",
                        (task_id,)).fetchone() == ("running", "stuck-loop"), \
        "left for the reaper, as after a crash"
