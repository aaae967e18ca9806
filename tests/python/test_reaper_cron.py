"""pg_cron itself runs the reaper that `tasklease migrate` scheduled: a task whose lease
expired is requeued without anybody calling reap_stale_tasks().  Slow: waits for cron ticks
(every minute on pg_cron 1.4, every 30 seconds on 1.5+)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

pytestmark = pytest.mark.slow

DEADLINE_S = 150
POLL_S = 2
JOB = "tasklease-reaper"


@pytest.fixture
def reaper_job(conn) -> Iterator[int]:
    """The active pg_cron reaper job; created or re-activated here (and undone) if needed."""
    if conn.execute("SELECT to_regclass('cron.job') IS NULL").fetchone()[0]:
        pytest.skip("pg_cron is not installed in the test database")
    row = conn.execute("SELECT jobid, active FROM cron.job WHERE jobname = %s", (JOB,)).fetchone()
    created = row is None
    if created:  # migrate schedules it; another test may have removed it
        job = conn.execute("SELECT tasklease.schedule_reaper()").fetchone()[0]
    else:
        job = row[0]
        conn.execute("UPDATE cron.job SET active = true WHERE jobid = %s", (job,))
    try:
        yield job
    finally:
        if created:
            conn.execute("SELECT tasklease.unschedule_reaper()")
        elif not row[1]:
            conn.execute("UPDATE cron.job SET active = false WHERE jobid = %s", (job,))


def stale_task(conn: psycopg.Connection) -> int:
    task_id = conn.execute("SELECT tasklease.enqueue('{\"cron\": true}')").fetchone()[0]
    claimed = conn.execute("SELECT id FROM tasklease.claim_task('vanished')").fetchone()
    assert claimed == (task_id,)
    conn.execute(
        "UPDATE tasklease.tasks SET lease_expires_at = now() - interval '1 s' WHERE id = %s",
        (task_id,),
    )
    return task_id


def wait_for_requeue(conn: psycopg.Connection, task_id: int) -> tuple | None:
    """Poll until the task is queued again; the deadline is kept on the database clock."""
    deadline = conn.execute(
        "SELECT clock_timestamp() + make_interval(secs => %s)", (DEADLINE_S,)
    ).fetchone()[0]
    while True:
        row = conn.execute(
            "SELECT t.status::text, t.requeue_count, l.action, l.reason, l.actor "
            "FROM tasklease.tasks AS t "
            "LEFT JOIN tasklease.reaper_log AS l ON l.task_id = t.id "
            "WHERE t.id = %s",
            (task_id,),
        ).fetchone()
        if row[0] != "running":
            return row
        if conn.execute("SELECT clock_timestamp() > %s", (deadline,)).fetchone()[0]:
            return None
        time.sleep(POLL_S)


def test_pg_cron_requeues_a_stale_task(conn, reaper_job):
    schedule = conn.execute(
        "SELECT schedule FROM cron.job WHERE jobid = %s", (reaper_job,)
    ).fetchone()[0]
    assert schedule in ("* * * * *", "30 seconds")
    since = conn.execute("SELECT now()").fetchone()[0]
    task_id = stale_task(conn)

    row = wait_for_requeue(conn, task_id)

    assert row is not None, f"pg_cron did not requeue task {task_id} within {DEADLINE_S} s"
    assert row == ("queued", 1, "requeued", "lease_expired", "reap_stale_tasks")
    runs = conn.execute(
        "SELECT status, count(*) FROM cron.job_run_details "
        "WHERE jobid = %s AND start_time >= %s GROUP BY status",
        (reaper_job, since),
    ).fetchall()
    assert dict(runs).get("succeeded", 0) >= 1, runs
    assert "failed" not in dict(runs), runs
