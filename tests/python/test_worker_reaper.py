"""Live workers, threaded and asyncio, run the reaper (reap_if_due): a dead worker's task
is requeued about worker_ttl_s + reap_interval_s after its last heartbeat, without
pg_cron."""

from __future__ import annotations

import pytest
from handlers import FLAVOURS, HANDLERS, WorkerProcess, reset_witness, wait_until, worker_alive


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_live_worker_requeues_a_dead_workers_task(conn, dsn, tmp_path, settings,
                                                   cron_paused, flavour):
    settings("reap_interval_s", 1)
    settings("requeue_backoff_s", 0)
    reset_witness(conn)
    # A worker that died a minute ago holding a task with a long lease: only its age tells.
    conn.execute("INSERT INTO tasklease.workers (owner_id, incarnation, last_heartbeat)"
                 " VALUES ('ghost', 'i0', now() - interval '1 hour')")
    (task_id,) = conn.execute(
        "INSERT INTO tasklease.tasks (payload, status, attempts, owner_id, lease_token,"
        " lease_expires_at, last_heartbeat) VALUES ('{}', 'running', 1, 'ghost',"
        " nextval('tasklease.lease_token_seq'), now() + interval '1 hour', now())"
        " RETURNING id").fetchone()
    w = WorkerProcess(dsn, "--name", "sweeper", "--poll-interval-s", "0.2", log_dir=tmp_path,
                      handler=HANDLERS[flavour]["work"])
    try:
        wait_until(lambda: worker_alive(conn, "sweeper"), what="the worker to register")
        wait_until(lambda: conn.execute(
            "SELECT status = 'completed' FROM tasklease.tasks WHERE id = %s",
            (task_id,)).fetchone()[0], timeout=20, what="the ghost's task to be done")
        log = conn.execute("SELECT action, reason, owner_id, actor FROM tasklease.reaper_log"
                           " WHERE task_id = %s", (task_id,)).fetchall()
        assert log == [("requeued", "owner_dead", "ghost", "reap_if_due:sweeper")]
        assert conn.execute("SELECT owner_id FROM tasklease.tasks WHERE id = %s",
                            (task_id,)).fetchone()[0] == "sweeper"
        wait_until(lambda: f"event=reaped worker=sweeper task={task_id}" in w.log(),
                   what="the decision in the worker's log")
        assert w.stop() == 0
    finally:
        if w.proc.poll() is None:
            w.kill()
