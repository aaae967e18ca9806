"""Worker processes against the test cluster: throughput with exactly-once witness, handler
failures with retries, name collisions, graceful SIGTERM, metrics.  The graceful stop runs
with both worker flavours (``flavour``); the asyncio worker's second signal is tested where
it matters most, with a handler blocking its loop (test_async_worker.py)."""

from __future__ import annotations

import signal
import socket
import urllib.request

import pytest
from handlers import (
    FLAVOURS,
    HANDLERS,
    WorkerProcess,
    enqueue_many,
    reset_witness,
    status_counts,
    wait_until,
    worker_alive,
)


@pytest.fixture
def workers(dsn, conn, tmp_path):
    """start(*args) starts a worker process; all are killed at the end of the test."""
    reset_witness(conn)
    started: list[WorkerProcess] = []

    def start(*args: str, flavour: str = "threads") -> WorkerProcess:
        w = WorkerProcess(dsn, *args, log_dir=tmp_path, handler=HANDLERS[flavour]["work"])
        started.append(w)
        return w

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.kill()


def test_four_workers_complete_2000_tasks_exactly_once(conn, workers):
    ids = enqueue_many(conn, [{"n": i} for i in range(2000)])
    procs = [
        workers("--name", f"bulk-{i}", "--concurrency", "4", "--lease-s", "30")
        for i in range(4)
    ]
    wait_until(lambda: status_counts(conn).get("completed", 0) == 2000, timeout=120,
               interval=0.5, what="2000 completed tasks")
    assert status_counts(conn) == {"completed": 2000}
    witness = conn.execute(
        "SELECT count(*), count(DISTINCT task_id) FROM public.tl_witness"
    ).fetchone()
    assert witness == (2000, 2000), "each task ran exactly once"
    mismatched = conn.execute(
        """
        SELECT count(*) FROM tasklease.tasks AS t
        JOIN public.tl_witness AS w ON w.task_id = t.id
        WHERE (t.result->>'token')::bigint <> t.lease_token OR w.lease_token <> t.lease_token
            OR t.attempts <> 1 OR t.id <> ALL(%s)
        """,
        (ids,),
    ).fetchone()[0]
    assert mismatched == 0
    assert conn.execute("SELECT count(*) FROM tasklease.reaper_log").fetchone()[0] == 0
    owners = conn.execute("SELECT count(DISTINCT owner_id) FROM tasklease.tasks").fetchone()[0]
    assert owners >= 2, "the work was shared"
    assert [p.stop() for p in procs] == [0, 0, 0, 0]
    states = conn.execute(
        "SELECT DISTINCT state FROM tasklease.worker_status WHERE owner_id LIKE 'bulk-%'"
    ).fetchall()
    assert states == [("stopped",)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_failing_handler_is_retried_with_backoff_then_failed(conn, workers, settings):
    settings("retry_base_s", 1)
    bad = enqueue_many(conn, [{"fail": "boom-42"}], max_attempts=3)[0]
    good = enqueue_many(conn, [{"n": 1}])[0]
    port = _free_port()
    w = workers("--name", "failer", "--concurrency", "2", "--metrics-port", str(port))
    wait_until(
        lambda: conn.execute("SELECT status = 'failed' FROM tasklease.tasks WHERE id = %s",
                             (bad,)).fetchone()[0],
        timeout=30, what="the failing task to be failed",
    )
    status, attempts, error, finished = conn.execute(
        "SELECT status::text, attempts, last_error, finished_at IS NOT NULL "
        "FROM tasklease.tasks WHERE id = %s", (bad,)
    ).fetchone()
    assert (status, attempts, finished) == ("failed", 3, True)
    assert "RuntimeError" in error and "boom-42" in error
    assert conn.execute(
        "SELECT status::text FROM tasklease.tasks WHERE id = %s", (good,)
    ).fetchone()[0] == "completed"
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    lines = metrics.decode().splitlines()
    assert 'tasklease_failed_total{worker="failer"} 3' in lines
    assert 'tasklease_completed_total{worker="failer"} 1' in lines
    assert w.stop() == 0


def test_a_live_name_is_refused_with_exit_code_3(conn, workers):
    first = workers("--name", "dup")
    wait_until(lambda: worker_alive(conn, "dup"), what="worker dup to register")
    incarnation = conn.execute(
        "SELECT incarnation FROM tasklease.workers WHERE owner_id = 'dup'"
    ).fetchone()[0]
    second = workers("--name", "dup")
    assert second.wait(timeout=60) == 3
    assert first.proc.poll() is None
    assert conn.execute(
        "SELECT incarnation FROM tasklease.workers WHERE owner_id = 'dup'"
    ).fetchone()[0] == incarnation, "the refused worker did not take the name"
    assert first.stop() == 0


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_sigterm_finishes_short_tasks_and_abandons_the_running_rest(conn, workers, flavour):
    short, long_ = enqueue_many(conn, [{"sleep": 1}, {"sleep_first": 120}])
    w = workers("--name", "term", "--concurrency", "2", "--grace-s", "4", flavour=flavour)
    wait_until(
        lambda: conn.execute(
            "SELECT count(*) = 2 FROM tasklease.tasks WHERE status = 'running'"
        ).fetchone()[0],
        what="both tasks running",
    )
    w.signal(signal.SIGTERM)
    assert w.wait(timeout=30) == 0
    rows = dict(
        (r[0], r[1:])
        for r in conn.execute(
            "SELECT id, status::text, attempts, requeue_count, owner_id FROM tasklease.tasks"
        )
    )
    assert rows[short] == ("completed", 1, 0, "term")
    assert rows[long_] == ("queued", 1, 1, None), "its handler still ran: a crash requeue"
    log = conn.execute(
        "SELECT action, reason, owner_id, actor FROM tasklease.reaper_log WHERE task_id = %s",
        (long_,),
    ).fetchall()
    assert log == [("requeued", "abandoned", "term", "release_owner")]
    assert conn.execute(
        "SELECT state FROM tasklease.worker_status WHERE owner_id = 'term'"
    ).fetchone()[0] == "stopped"


def test_a_second_signal_exits_at_once_without_releasing(conn, workers):
    (task_id,) = enqueue_many(conn, [{"sleep_first": 120}])
    w = workers("--name", "impatient", "--grace-s", "120")
    wait_until(lambda: conn.execute(
        "SELECT status = 'running' FROM tasklease.tasks WHERE id = %s", (task_id,)).fetchone()[0],
        what="the task to run")
    w.signal(signal.SIGTERM)
    wait_until(lambda: "event=stopping" in w.log(), what="the graceful stop to begin")
    w.signal(signal.SIGTERM)
    assert w.wait(timeout=30) not in (0, None)
    status, owner = conn.execute(
        "SELECT status::text, owner_id FROM tasklease.tasks WHERE id = %s", (task_id,)
    ).fetchone()
    assert (status, owner) == ("running", "impatient"), "left for the reaper, as after a crash"
