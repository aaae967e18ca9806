"""pg_cron itself runs a periodic task: the job schedule_task registered fires, and so does
a second job registered by hand with the same schedule and command, and their tick still
becomes exactly one task.  Slow: waits for a real tick (at most a minute on pg_cron 1.4;
pg_cron 1.5+ uses a 10-second schedule)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

pytestmark = pytest.mark.slow

NAME = "cron-test"
TWIN = "tl-test-periodic-twin"
DEADLINE_S = 80
POLL_S = 1


@pytest.fixture
def periodic(conn) -> Iterator[tuple[int, int, str]]:
    """The task's job and a twin job with the same schedule and command, removed afterwards."""
    if conn.execute("SELECT to_regclass('cron.job') IS NULL").fetchone()[0]:
        pytest.skip("pg_cron is not installed in the test database")
    seconds = conn.execute("SELECT tasklease._cron_version() >= ARRAY[1, 5]").fetchone()[0]
    schedule = "10 seconds" if seconds else "* * * * *"
    with conn.transaction():  # both jobs appear to pg_cron at once: they share every tick
        job = conn.execute(
            "SELECT tasklease.schedule_task(%s, %s, '{\"periodic\": true}', 'cron-q')",
            (NAME, schedule),
        ).fetchone()[0]
        command = conn.execute(
            "SELECT command FROM cron.job WHERE jobid = %s", (job,)).fetchone()[0]
        twin = conn.execute(
            "SELECT cron.schedule(%s, %s, %s)", (TWIN, schedule, command)
        ).fetchone()[0]
    try:
        yield job, twin, schedule
    finally:
        conn.execute("SELECT cron.unschedule(%s)", (twin,))
        conn.execute("SELECT tasklease.unschedule_task(%s)", (NAME,))


def runs_since(conn: psycopg.Connection, job: int, since) -> list[tuple]:
    return conn.execute(
        "SELECT status, start_time FROM cron.job_run_details "
        "WHERE jobid = %s AND start_time >= %s AND status IN ('succeeded', 'failed') "
        "ORDER BY start_time",
        (job, since),
    ).fetchall()


def test_pg_cron_enqueues_each_tick_once_however_many_jobs_fire_it(conn, periodic):
    job, twin, schedule = periodic
    since = conn.execute("SELECT now()").fetchone()[0]
    deadline = conn.execute(
        "SELECT clock_timestamp() + make_interval(secs => %s)", (DEADLINE_S,)
    ).fetchone()[0]
    while not (runs_since(conn, job, since) and runs_since(conn, twin, since)):
        assert not conn.execute("SELECT clock_timestamp() > %s", (deadline,)).fetchone()[0], (
            f"pg_cron did not run both jobs ({schedule}) within {DEADLINE_S} s"
        )
        time.sleep(POLL_S)
    time.sleep(2 * POLL_S)  # let a run that started with them finish too

    runs = runs_since(conn, job, since) + runs_since(conn, twin, since)
    assert {status for status, _ in runs} == {"succeeded"}, runs
    tasks = conn.execute(
        "SELECT dedupe_key, count(*) FROM tasklease.tasks WHERE queue = 'cron-q' "
        "GROUP BY dedupe_key ORDER BY dedupe_key"
    ).fetchall()
    assert tasks, "the jobs ran but enqueued nothing"
    assert all(key.startswith(f"periodic:{NAME}@") and n == 1 for key, n in tasks), tasks
    assert len(tasks) < len(runs), "two jobs fired the same ticks: fewer tasks than runs"
    last = conn.execute(
        "SELECT p.last_task_id, t.dedupe_key, t.payload FROM tasklease.periodic_tasks AS p "
        "JOIN tasklease.tasks AS t ON t.id = p.last_task_id WHERE p.name = %s",
        (NAME,),
    ).fetchone()
    assert last is not None and last[1] == tasks[-1][0] and last[2] == {"periodic": True}
