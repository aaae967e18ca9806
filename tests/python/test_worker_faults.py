"""The worker when the handler is the fault: unstorable results, unprintable exceptions,
BaseException, a handler that never returns; a heartbeat that cannot commit; intervals that
cannot work; workers started at the same instant; a fresh start is not a reconnect.

Handlers: tests/python/faults.py (``faults:act``, the payload's ``do`` says what it does;
``faults:aact`` the same as an async def, which runs on an AsyncWorker).  The tests of what
a handler does run with both worker flavours (``flavour``).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request

import psycopg
import pytest
from faults import LEASE_LOST_DDL
from handlers import (
    FLAVOURS,
    HANDLERS,
    HERE,
    REPO_ROOT,
    WorkerProcess,
    enqueue_many,
    reset_witness,
    status_counts,
    wait_until,
)

UNSTORABLE = "result is not storable as jsonb: "
both_flavours = pytest.mark.parametrize("flavour", FLAVOURS)


@pytest.fixture
def workers(dsn, conn, tmp_path, settings):
    """start(*args, handler=...) starts a worker process; all are killed at the end."""
    reset_witness(conn)
    conn.execute(LEASE_LOST_DDL)
    conn.execute("TRUNCATE public.tl_lease_lost")
    settings("requeue_backoff_s", 0)
    settings("retry_base_s", 1)
    started: list[WorkerProcess] = []

    def start(*args: str, handler: str = "faults:act", flavour: str = "threads") -> WorkerProcess:
        if handler == "faults:act":
            handler = HANDLERS[flavour]["act"]
        w = WorkerProcess(dsn, *args, log_dir=tmp_path, handler=handler)
        started.append(w)
        return w

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.kill()


def _enqueue(conn, do: str, max_attempts: int = 1, **payload) -> int:
    return enqueue_many(conn, [{"do": do, **payload}], max_attempts=max_attempts)[0]


def _tasks(conn, ids) -> dict[int, tuple]:
    return {r[0]: r[1:] for r in conn.execute(
        "SELECT id, status::text, last_error, result, requeue_count FROM tasklease.tasks "
        "WHERE id = ANY(%s)", (list(ids),))}


def _all_finished(conn, ids) -> bool:
    return all(row[0] in ("completed", "failed") for row in _tasks(conn, ids).values()) \
        and len(_tasks(conn, ids)) == len(list(ids))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _metrics(port: int) -> list[str]:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read() \
        .decode().splitlines()


# ------------------------------------------------------------------ handler faults
@both_flavours
def test_unstorable_results_fail_only_their_own_task(conn, workers, settings, flavour):
    settings("max_result_bytes", 1000)
    bad = {
        "nan": "ValueError: Out of range float values are not JSON compliant",
        "surrogate": "a string contains a lone surrogate (\\ud800)",
        "nul_result": "a string contains a NUL character (\\u0000)",
        "set": "TypeError: Object of type set is not JSON serializable",
        "big": "larger than max_result_bytes (1000)",
    }
    bad_ids = {do: _enqueue(conn, do, bytes=20000) for do in bad}
    good_ids = enqueue_many(conn, [{"do": "ok", "n": i} for i in range(8)])
    w = workers("--name", "unstorable", "--concurrency", "4", flavour=flavour)
    ids = [*bad_ids.values(), *good_ids]
    wait_until(lambda: _all_finished(conn, ids), timeout=60, what="every task to finish")
    rows = _tasks(conn, ids)
    for do, fragment in bad.items():
        status, error, result, _ = rows[bad_ids[do]]
        assert (status, result) == ("failed", None), do
        assert error.startswith(UNSTORABLE) and fragment in error, (do, error)
    for n, task_id in enumerate(good_ids):
        assert rows[task_id][0::2] == ("completed", {"ok": True, "n": n})
    assert w.proc.poll() is None, "the worker survived"
    assert "Traceback" not in w.log()
    assert w.stop() == 0


@both_flavours
def test_exceptions_that_cannot_be_stored_or_printed_still_fail_their_task(conn, workers,
                                                                          flavour):
    expected = {
        "nul_error": "RuntimeError: bad\\x00byte",
        "surrogate_error": "ValueError: lone \\udc80 surrogate",
        "bad_str": "BrokenStr: <BrokenStr.__str__ raised>",
    }
    ids = {do: _enqueue(conn, do) for do in expected}
    (after,) = enqueue_many(conn, [{"do": "ok", "n": 1}])
    w = workers("--name", "unprintable", flavour=flavour)
    wait_until(lambda: _all_finished(conn, [*ids.values(), after]), timeout=60,
               what="every task to finish")
    rows = _tasks(conn, [*ids.values(), after])
    for do, head in expected.items():
        status, error, _, _ = rows[ids[do]]
        assert status == "failed" and error.splitlines()[0] == head, (do, error)
        assert "faults.py" in error, "the last frames of the traceback are kept"
    assert rows[after][0] == "completed"
    assert w.stop() == 0


@both_flavours
def test_base_exceptions_never_kill_a_slot(conn, workers, flavour):
    """--concurrency 1: the first tasks raise SystemExit, KeyboardInterrupt, GeneratorExit;
    the one slot survives each and runs the later tasks."""
    expected = {"system_exit": "SystemExit: 3", "keyboard_interrupt": "KeyboardInterrupt",
                "generator_exit": "GeneratorExit"}
    bad = {do: _enqueue(conn, do) for do in expected}
    later = enqueue_many(conn, [{"do": "ok", "n": i} for i in range(3)])
    w = workers("--name", "one-slot", "--concurrency", "1", flavour=flavour)
    wait_until(lambda: _all_finished(conn, [*bad.values(), *later]), timeout=60,
               what="every task to finish")
    rows = _tasks(conn, [*bad.values(), *later])
    for do, head in expected.items():
        status, error, _, _ = rows[bad[do]]
        assert status == "failed" and error.splitlines()[0] == head, (do, error)
    assert [rows[i][0] for i in later] == ["completed"] * 3
    assert w.proc.poll() is None
    assert w.stop() == 0


@both_flavours
def test_a_hanging_handler_is_abandoned_at_each_deploy_until_failed(conn, workers, settings,
                                                                     flavour):
    settings("max_requeue", 2)
    task_id = _enqueue(conn, "hang")
    for deploy in range(3):
        w = workers("--name", "deployer", "--grace-s", "1", flavour=flavour)
        wait_until(lambda d=deploy: conn.execute(
            "SELECT status = 'running' AND attempts = %s FROM tasklease.tasks WHERE id = %s",
            (d + 1, task_id)).fetchone()[0], timeout=30, what=f"deploy {deploy} to run it")
        w.signal(signal.SIGTERM)
        assert w.wait(timeout=30) == 0, w.log()
        assert f"abandoned={task_id}" in w.log()
        status, error, _, requeues = _tasks(conn, [task_id])[task_id]
        if deploy < 2:
            assert (status, requeues) == ("queued", deploy + 1)
    assert status == "failed" and requeues == 2
    assert "requeue budget exhausted" in error and "abandoned" in error
    log = conn.execute("SELECT action, reason, actor FROM tasklease.reaper_log "
                       "WHERE task_id = %s ORDER BY id", (task_id,)).fetchall()
    assert log == [("requeued", "abandoned", "release_owner")] * 2 + [
        ("failed", "abandoned", "release_owner")]


@both_flavours
def test_tasks_claimed_ahead_of_a_hanging_handler_are_given_back_unstarted(conn, workers,
                                                                          flavour):
    """Short handlers open the claim-ahead gate; then one hangs with tasks claimed behind
    it.  Those are given back (release_tasks) after AHEAD_WAIT_LIMIT_S, never started: each
    is queued again with its attempts restored while the hang still holds the only slot,
    and another worker runs them."""
    enqueue_many(conn, [{"do": "ok", "n": i} for i in range(40)])
    hang_id = _enqueue(conn, "hang")
    after = enqueue_many(conn, [{"do": "ok", "n": 100 + i} for i in range(6)])
    w = workers("--name", "ahead", "--concurrency", "1", "--prefetch", "4", flavour=flavour)
    wait_until(lambda: conn.execute(
        "SELECT status = 'running' FROM tasklease.tasks WHERE id = %s", (hang_id,)).fetchone()[0],
        what="the hanging handler to start")
    wait_until(lambda: conn.execute(
        "SELECT count(*) FROM tasklease.reaper_log WHERE actor = 'release_tasks'"
        " AND owner_id = 'ahead'").fetchone()[0] > 0,
        timeout=15, what="a task claimed ahead to be given back")
    back = conn.execute(
        "SELECT task_id, reason FROM tasklease.reaper_log WHERE actor = 'release_tasks'"
        " ORDER BY task_id").fetchall()
    assert {r[1] for r in back} == {"released"}
    assert {r[0] for r in back} <= set(after), back  # only tasks that were behind the hang
    rows = _tasks(conn, after)
    assert all(rows[i][0] == "queued" for i in after), rows
    attempts = conn.execute("SELECT id, attempts FROM tasklease.tasks WHERE id = ANY(%s)",
                            (after,)).fetchall()
    assert all(a == 0 for _, a in attempts), attempts  # never started: the claim is undone
    assert conn.execute("SELECT status FROM tasklease.tasks WHERE id = %s",
                        (hang_id,)).fetchone()[0] == "running"
    assert "event=given_back" in w.log()
    other = workers("--name", "other", flavour=flavour)
    wait_until(lambda: _all_finished(conn, after), timeout=30, what="the other worker")
    done_by = conn.execute("SELECT DISTINCT owner_id FROM tasklease.tasks WHERE id = ANY(%s)",
                           (after,)).fetchall()
    assert done_by == [("other",)]
    other.stop()
    w.kill()


@both_flavours
def test_a_stop_gives_back_claimed_ahead_tasks_free(conn, workers, flavour):
    """A worker draining short tasks holds tasks claimed ahead when SIGTERM comes with no
    grace period: those never started are given back free (release_owner: reason released,
    attempts restored); only a handler caught running (at most one per slot) is abandoned."""
    enqueue_many(conn, [{"sleep": 0.003, "n": i} for i in range(3000)])  # 3 ms handlers
    w = workers("--name", "stopper", "--concurrency", "2", "--prefetch", "8", "--grace-s", "0",
                handler=HANDLERS[flavour]["work"], flavour=flavour)
    wait_until(lambda: status_counts(conn).get("completed", 0) >= 200, timeout=30,
               what="the gate to open (short handlers timed)")
    w.signal(signal.SIGTERM)
    assert w.wait(timeout=30) == 0, w.log()
    assert status_counts(conn).get("running", 0) == 0
    log = dict(conn.execute("SELECT reason, count(*) FROM tasklease.reaper_log"
                            " WHERE actor = 'release_owner' GROUP BY 1").fetchall())
    assert log.get("released", 0) >= 1, (log, "nothing was claimed ahead")
    assert log.get("abandoned", 0) <= 2, log
    released = conn.execute(
        "SELECT t.status::text, t.attempts FROM tasklease.tasks AS t JOIN tasklease.reaper_log"
        " AS l ON l.task_id = t.id WHERE l.actor = 'release_owner' AND l.reason = 'released'"
    ).fetchall()
    assert released and all(r == ("queued", 0) for r in released), released


# ------------------------------------------------------------------ deadlines
@both_flavours
def test_lease_lost_is_set_before_the_reaper_may_act_for_owner_dead(conn, dsn, workers,
                                                                     settings, flavour):
    """The heartbeat cannot commit (a session holds the worker row): the handler is told
    its lease is lost before last_heartbeat + worker_ttl_s, when the reaper could first
    requeue the task as owner_dead, although the lease itself has minutes left."""
    ttl = 10
    settings("worker_ttl_s", ttl)
    task_id = _enqueue(conn, "watch_lease", wait_s=60)
    w = workers("--name", "blocked", "--heartbeat-s", "1", "--lease-s", "300", flavour=flavour)
    wait_until(lambda: conn.execute("SELECT status = 'running' FROM tasklease.tasks "
                                    "WHERE id = %s", (task_id,)).fetchone()[0],
               what="the handler to start")
    with psycopg.connect(dsn) as locker:  # a transaction, held until the block ends
        last_heartbeat = locker.execute(
            "SELECT last_heartbeat FROM tasklease.workers WHERE owner_id = 'blocked' "
            "FOR UPDATE").fetchone()[0]
        seen_at = wait_until(lambda: conn.execute(
            "SELECT seen_at FROM public.tl_lease_lost WHERE task_id = %s",
            (task_id,)).fetchone(), timeout=3 * ttl, what="the handler to see lease_lost")[0]
        earliest_reap = last_heartbeat + dt.timedelta(seconds=ttl)
        assert seen_at < earliest_reap, (seen_at, earliest_reap)
        locker.rollback()
    assert f"event=lease_lost worker=blocked task={task_id}" in w.log()
    assert "reason=heartbeat_deadline" in w.log()
    assert w.stop() == 0


@pytest.mark.parametrize(("args", "rule"), [
    (("--heartbeat-s", "5"), "heartbeat_s (5) must be less than half of worker_ttl_s (10 s)"),
    (("--lease-s", "10", "--renew-every-s", "5"),
     "renew_every_s (5) must be less than half of lease_s (10 s)"),
])
def test_invalid_intervals_are_refused_at_start(conn, dsn, settings, args, rule):
    settings("worker_ttl_s", 10)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(REPO_ROOT / "python")]))
    proc = subprocess.run(
        [sys.executable, "-m", "tasklease", "worker", "handlers:echo", "--dsn", dsn, *args],
        capture_output=True, text=True, timeout=60, env=env, cwd=str(HERE))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tasklease: error: "), lines
    assert rule in lines[0]
    assert conn.execute("SELECT count(*) FROM tasklease.workers").fetchone()[0] == 0


# ------------------------------------------------------------------ identity, start
def _started(w: WorkerProcess) -> tuple[str, str] | None:
    m = re.search(r"event=started worker=(\S+) incarnation=(\S+)", w.log())
    return (m.group(1), m.group(2)) if m else None


def test_workers_started_at_the_same_instant_never_share_a_name(conn, workers):
    """Three workers without --name, started together, 15 rounds: after a kill -9 round
    they race to take over the dead names, after a SIGTERM round to reuse stopped ones."""
    for round_ in range(15):
        procs = [workers("--poll-interval-s", "5", handler="handlers:echo") for _ in range(3)]
        wait_until(lambda ps=procs: all(_started(p) or p.proc.poll() is not None for p in ps),
                   timeout=60, what=f"round {round_}: the workers to start")
        started = [_started(p) for p in procs]
        assert all(started), [p.log() for p in procs]
        names = [name for name, _ in started]
        assert len(set(names)) == 3, f"round {round_}: a name is shared: {names}"
        rows = dict(conn.execute("SELECT owner_id, incarnation FROM tasklease.workers "
                                 "WHERE owner_id = ANY(%s)", (names,)).fetchall())
        assert rows == dict(started), f"round {round_}"
        for p in procs:
            if round_ % 2:
                assert p.stop() == 0
            else:
                p.kill()


@both_flavours
def test_a_fresh_worker_counts_no_reconnect(conn, workers, flavour):
    (task_id,) = enqueue_many(conn, [{"do": "ok", "n": 1}])
    port = _free_port()
    w = workers("--name", "fresh-start", "--metrics-port", str(port), flavour=flavour)
    wait_until(lambda: status_counts(conn) == {"completed": 1}, what="the task to complete")
    lines = _metrics(port)
    assert 'tasklease_reconnects_total{worker="fresh-start"} 0' in lines
    assert 'tasklease_completed_total{worker="fresh-start"} 1' in lines
    assert "event=reconnected" not in w.log()
    assert w.stop() == 0
