"""Worker processes under failure: kill -9, SIGSTOP past the lease (a zombie), killed
backends, an immediate PostgreSQL restart; each with both worker flavours (the threaded
Worker running handlers:work, the AsyncWorker running handlers:awork)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from handlers import (
    FLAVOURS,
    HANDLERS,
    REPO_ROOT,
    WorkerProcess,
    enqueue_many,
    reset_witness,
    status_counts,
    wait_until,
    worker_alive,
)


@pytest.fixture(params=FLAVOURS)
def workers(request, dsn, conn, tmp_path, settings):
    reset_witness(conn)
    settings("requeue_backoff_s", 0)  # requeued tasks are runnable at once
    started: list[WorkerProcess] = []
    handler = HANDLERS[request.param]["work"]

    def start(*args: str) -> WorkerProcess:
        w = WorkerProcess(dsn, *args, log_dir=tmp_path, handler=handler)
        started.append(w)
        return w

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.proc.send_signal(signal.SIGCONT)
            w.kill()


def _running(conn, owner: str) -> list[tuple[int, int]]:
    return conn.execute(
        "SELECT id, lease_token FROM tasklease.tasks WHERE status = 'running' AND owner_id = %s "
        "ORDER BY id", (owner,)
    ).fetchall()


def _task(conn, task_id: int) -> tuple:
    return conn.execute(
        "SELECT status::text, owner_id, lease_token, (result->>'pid')::int, "
        "(result->>'token')::bigint, attempts, requeue_count FROM tasklease.tasks WHERE id = %s",
        (task_id,),
    ).fetchone()


def _reap_until_gone(conn, held: list[tuple[int, int]]) -> None:
    """Call the reaper until none of these (task, token) leases is running any more."""

    def gone() -> bool:
        conn.execute("SELECT count(*) FROM tasklease.reap_stale_tasks()")
        return not conn.execute(
            "SELECT count(*) FROM tasklease.tasks AS t "
            "JOIN unnest(%s::bigint[], %s::bigint[]) AS h (id, token) "
            "ON t.id = h.id AND t.lease_token = h.token WHERE t.status = 'running'",
            ([h[0] for h in held], [h[1] for h in held]),
        ).fetchone()[0]

    wait_until(gone, timeout=30, interval=0.2, what="the reaper to take the leases back")


def test_kill_9_tasks_are_reaped_and_completed_by_another_worker(conn, workers):
    ids = enqueue_many(conn, [{"sleep_first": 60}, {"sleep_first": 60}])
    a = workers("--name", "k9-a", "--concurrency", "2", "--lease-s", "2")
    held = wait_until(lambda: len(_running(conn, "k9-a")) == 2 and _running(conn, "k9-a"),
                      what="k9-a to run both tasks")
    a.kill()
    _reap_until_gone(conn, held)
    log = conn.execute(
        "SELECT task_id, action, owner_id FROM tasklease.reaper_log ORDER BY task_id"
    ).fetchall()
    assert log == [(ids[0], "requeued", "k9-a"), (ids[1], "requeued", "k9-a")]
    b = workers("--name", "k9-b", "--concurrency", "2", "--lease-s", "2")
    wait_until(lambda: status_counts(conn) == {"completed": 2}, what="both tasks completed")
    for task_id in ids:
        status, owner, token, pid, result_token, attempts, requeues = _task(conn, task_id)
        assert (status, owner, pid, result_token, attempts, requeues) == (
            "completed", "k9-b", b.pid, token, 2, 1)
    assert b.stop() == 0


def test_kill_9_then_restart_under_the_same_name_recovers_at_once(conn, workers):
    ids = enqueue_many(conn, [{"sleep_first": 60}, {"sleep_first": 60}])
    a = workers("--name", "phoenix", "--concurrency", "2", "--lease-s", "600")
    wait_until(lambda: len(_running(conn, "phoenix")) == 2, what="phoenix to run both tasks")
    a.kill()
    assert worker_alive(conn, "phoenix"), "still alive by heartbeat: only the dead pid tells"
    again = workers("--name", "phoenix", "--concurrency", "2", "--lease-s", "600")
    wait_until(lambda: status_counts(conn) == {"completed": 2}, what="both tasks completed")
    log = conn.execute(
        "SELECT task_id, action, reason, actor FROM tasklease.reaper_log ORDER BY task_id"
    ).fetchall()
    assert log == [(i, "requeued", "owner_restarted", "recover_owner") for i in ids]
    assert conn.execute(
        "SELECT pid FROM tasklease.workers WHERE owner_id = 'phoenix'"
    ).fetchone()[0] == again.pid
    for task_id in ids:
        assert _task(conn, task_id)[3] == again.pid
    assert again.stop() == 0


def test_sigstop_past_the_lease_the_zombie_cannot_complete(conn, workers):
    (task_id,) = enqueue_many(conn, [{"sleep_first": 3}])
    zombie = workers("--name", "zombie", "--lease-s", "2")
    held = wait_until(lambda: _running(conn, "zombie"), what="zombie to claim the task")
    zombie.signal(signal.SIGSTOP)
    _reap_until_gone(conn, held)
    fresh = workers("--name", "fresh", "--lease-s", "30")
    wait_until(lambda: _task(conn, task_id)[0] == "completed", what="fresh to complete it")
    before = _task(conn, task_id)
    assert before[1:4] == ("fresh", before[2], fresh.pid)
    zombie.signal(signal.SIGCONT)
    # The zombie's handler finishes (its witness row appears) and its outcome is refused.
    wait_until(
        lambda: conn.execute("SELECT count(*) FROM public.tl_witness WHERE pid = %s",
                             (zombie.pid,)).fetchone()[0],
        what="the zombie's handler to finish",
    )
    wait_until(lambda: f"event=lease_lost worker=zombie task={task_id}" in zombie.log(),
               what="the zombie to log the lost lease")
    assert _task(conn, task_id) == before, "the stored result is the new holder's"
    witness = conn.execute(
        "SELECT pid, lease_token FROM public.tl_witness ORDER BY at"
    ).fetchall()
    assert sorted(witness) == sorted([(zombie.pid, held[0][1]), (fresh.pid, before[2])])
    assert zombie.stop() == 0
    assert fresh.stop() == 0


def _terminate(conn, names: list[str]) -> int:
    return conn.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = ANY(%s)",
        ([f"tasklease:{n}" for n in names],),
    ).fetchone()[0]


def _completed(conn) -> int:
    return status_counts(conn).get("completed", 0)


def _assert_all_completed_by_their_holder(conn, n: int) -> None:
    assert status_counts(conn) == {"completed": n}
    assert conn.execute(
        "SELECT count(*) FROM tasklease.tasks WHERE (result->>'token')::bigint <> lease_token"
    ).fetchone()[0] == 0
    assert conn.execute(
        "SELECT count(DISTINCT task_id) FROM public.tl_witness"
    ).fetchone()[0] == n


def test_terminated_backends_workers_reconnect_and_finish(conn, workers):
    n = 400
    enqueue_many(conn, [{"sleep": 0.02} for _ in range(n)])
    names = ["cut-1", "cut-2"]
    procs = [workers("--name", nm, "--concurrency", "4", "--lease-s", "10") for nm in names]
    for round_ in range(3):
        done = wait_until(lambda r=round_: _completed(conn) >= 40 * (r + 1) and _completed(conn),
                          timeout=60, what="progress")
        assert _terminate(conn, names) > 0
        wait_until(lambda d=done: _completed(conn) > d, timeout=60, what="progress after cut")
    wait_until(lambda: _completed(conn) == n, timeout=90, interval=0.3, what="all completed")
    _assert_all_completed_by_their_holder(conn, n)
    assert all(p.proc.poll() is None for p in procs), "no worker crashed"
    assert all("event=reconnected" in p.log() for p in procs)
    assert [p.stop() for p in procs] == [0, 0]


def _cluster_dir(conn) -> Path | None:
    """The pgcluster.sh directory of this server, when TASKLEASE_PGDATA names its data dir."""
    pgdata = os.environ.get("TASKLEASE_PGDATA")
    if not pgdata:
        return None
    actual = conn.execute("SHOW data_directory").fetchone()[0]
    if os.path.realpath(actual) != os.path.realpath(pgdata):
        return None
    return Path(pgdata).parent


def test_immediate_postgres_restart_workers_survive(conn, dsn, workers, pg_backend):
    cluster = _cluster_dir(conn)
    if not pg_backend.can_restart and cluster is None:
        pytest.skip("cannot restart this server: TASKLEASE_PGDATA does not name its data "
                    "directory (scripts/test.sh sets it) and the backend cannot restart")
    n = 200
    enqueue_many(conn, [{"sleep": 0.05} for _ in range(n)])
    names = ["rst-1", "rst-2"]
    procs = [workers("--name", nm, "--concurrency", "4", "--lease-s", "20") for nm in names]
    wait_until(lambda: _completed(conn) >= 30, timeout=60, what="progress")
    if pg_backend.can_restart:
        pg_backend.restart(immediate=True)
    else:
        subprocess.run(["bash", str(REPO_ROOT / "scripts" / "pgcluster.sh"), "restart",
                        "--immediate", str(cluster)], check=True, capture_output=True,
                       timeout=120)
    with psycopg.connect(dsn, autocommit=True) as c2:
        wait_until(lambda: _completed(c2) == n, timeout=90, interval=0.3, what="all completed")
        _assert_all_completed_by_their_holder(c2, n)
    assert all(p.proc.poll() is None for p in procs), "no worker crashed"
    assert [p.stop() for p in procs] == [0, 0]


def _connect_when_back(dsn: str, timeout: float = 60.0) -> psycopg.Connection:
    """A connection as soon as the server accepts one (tried every 10 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return psycopg.connect(dsn, autocommit=True, connect_timeout=2)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def test_claims_resume_about_a_second_after_a_restart(conn, dsn, workers, pg_backend, report,
                                                      request):
    """An idle worker, a restart, a task enqueued the moment the server accepts connections:
    the worker claims it.  The delay (database clock: the claim's now() against the first
    connection's clock_timestamp()) is reported, not asserted."""
    if not pg_backend.can_restart:
        pytest.skip("the backend cannot restart its server")
    lease_s = 30
    w = workers("--name", "resume", "--lease-s", str(lease_s), "--grace-s", "1")
    wait_until(lambda: worker_alive(conn, "resume"), what="the worker to register")
    time.sleep(0.5)  # idle in its claim loop
    pg_backend.restart()
    with _connect_when_back(dsn) as c2:
        (ready,) = c2.execute("SELECT clock_timestamp()").fetchone()
        (task_id,) = enqueue_many(c2, [{"sleep_first": 60}])
        claimed_at = wait_until(lambda: c2.execute(
            "SELECT lease_expires_at - make_interval(secs => %s) FROM tasklease.tasks "
            "WHERE id = %s AND status = 'running' AND owner_id = 'resume'",
            (lease_s, task_id)).fetchone(), timeout=30, what="the worker to claim again")[0]
    flavour = request.node.callspec.params["workers"]
    report(f"claims resumed {(claimed_at - ready).total_seconds():.2f} s after PostgreSQL "
           f"accepted connections again (restart, idle {flavour} worker)")
    assert w.proc.poll() is None
    assert w.stop() == 0
