"""The floor table and the loaders that fill it, or tasklease.tasks, before each measurement.

The floor is the plain queue table a careful engineer would write by hand: a bigserial id,
a jsonb payload, a text status and a few bookkeeping columns, with a partial index on the
queued rows in claim order.  It lives in its own schema, bench_floor, beside tasklease.
"""

from __future__ import annotations

import psycopg

FLOOR_DDL = """
CREATE SCHEMA IF NOT EXISTS bench_floor;
CREATE TABLE IF NOT EXISTS bench_floor.jobs (
    id bigserial PRIMARY KEY,
    payload jsonb NOT NULL,
    status text NOT NULL DEFAULT 'queued',
    owner text,
    attempts int NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    claimed_at timestamptz,
    finished_at timestamptz
);
CREATE INDEX IF NOT EXISTS jobs_queued_idx ON bench_floor.jobs (id) WHERE status = 'queued';
"""

# Tables that a measurement empties first (tasklease's hot tables and the floor).
TASKLEASE_TABLES = "tasklease.tasks, tasklease.workers, tasklease.reaper_log"


def create_floor(conn: psycopg.Connection) -> None:
    conn.execute(FLOOR_DDL)


def drop_floor(conn: psycopg.Connection) -> None:
    conn.execute("DROP SCHEMA IF EXISTS bench_floor CASCADE")


def settle(conn: psycopg.Connection, table: str) -> None:
    """VACUUM ANALYZE the table and CHECKPOINT, so each run starts from the same state."""
    conn.execute(f"VACUUM ANALYZE {table}")
    conn.execute("CHECKPOINT")


def load_floor(conn: psycopg.Connection, jobs: int) -> None:
    conn.execute("TRUNCATE bench_floor.jobs RESTART IDENTITY")
    conn.execute(
        "INSERT INTO bench_floor.jobs (payload)"
        " SELECT jsonb_build_object('n', g) FROM generate_series(1, %s) AS g",
        (jobs,),
    )
    settle(conn, "bench_floor.jobs")


def empty_tasklease(conn: psycopg.Connection) -> None:
    conn.execute(f"TRUNCATE {TASKLEASE_TABLES}")


def load_tasks(conn: psycopg.Connection, jobs: int, queue: str = "default") -> None:
    """jobs queued tasks, runnable now, on an emptied tasklease.tasks (as enqueue makes them)."""
    empty_tasklease(conn)
    conn.execute(
        "INSERT INTO tasklease.tasks (queue, payload)"
        " SELECT %s, jsonb_build_object('n', g) FROM generate_series(1, %s) AS g",
        (queue, jobs),
    )
    settle(conn, "tasklease.tasks")


def count_tasks(conn: psycopg.Connection, status: str) -> int:
    return conn.execute(
        "SELECT count(*) FROM tasklease.tasks WHERE status = %s::tasklease.task_status",
        (status,),
    ).fetchone()[0]
