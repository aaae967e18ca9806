"""Section history: does keeping finished tasks apart from live ones make claims, vacuum
and readers cheaper?  A prototype, measured beside the real table; nothing ships from it.

Three ways to hold `history` finished tasks beside the same live work:
  table        tasklease.tasks as it is: finished rows stay until prune() removes them
  empty        tasklease.tasks without the finished rows: the best any split can do for
               the live side (what a history table written at completion would leave)
  partitioned  bench_floor.ptasks, a copy of tasklease.tasks LIST-partitioned by status:
               one partition for queued + running, one for completed, failed, cancelled;
               a completion moves the row between partitions (delete + insert)
Per layout: a drain of `jobs` tasks with the inline claim + complete statements of the
profile section (4 connections, one task per claim: a layout's cost shows up per task),
then VACUUM of the table (or of both partitions) timed, then two readers: the queue's live
counts by status (what a dashboard polls) and a full count by status (an analytics scan).
A layout whose claimers fail is reported with the error (a finding, not a crash): with the
status partitions, a completion moves the row to another partition, and a concurrent
FOR UPDATE SKIP LOCKED claim that meets the moved row raises 40001 ("tuple to be locked
was already moved to another partition") instead of skipping it.
"""

from __future__ import annotations

import time
from typing import Callable

import psycopg

from . import drain, profile, schema
from .config import Config

Log = Callable[[str], None]

PARTITIONED_DDL = """
DROP TABLE IF EXISTS bench_floor.ptasks;
CREATE TABLE bench_floor.ptasks (
    LIKE tasklease.tasks INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS
)
PARTITION BY LIST (status);
CREATE TABLE bench_floor.ptasks_live PARTITION OF bench_floor.ptasks
    FOR VALUES IN ('queued', 'running') WITH (fillfactor = 70);
CREATE TABLE bench_floor.ptasks_done PARTITION OF bench_floor.ptasks
    FOR VALUES IN ('completed', 'failed', 'cancelled');
ALTER TABLE bench_floor.ptasks ADD PRIMARY KEY (id, status);
CREATE INDEX ON bench_floor.ptasks (priority, run_after, id) WHERE status = 'queued';
CREATE INDEX ON bench_floor.ptasks (owner_id) WHERE status = 'running';
CREATE INDEX ON bench_floor.ptasks (finished_at)
    WHERE status IN ('completed', 'failed', 'cancelled');
CREATE INDEX ON bench_floor.ptasks (queue, status, id)
    WHERE status IN ('completed', 'failed', 'cancelled');
"""

LIVE_READER = ("SELECT status, count(*) FROM {t} WHERE status IN ('queued', 'running')"
               " GROUP BY 1")
FULL_READER = "SELECT status, count(*) FROM {t} GROUP BY 1"


def _paths(table: str) -> dict:
    claim = profile.INLINE_CLAIM.replace("tasklease.tasks", table)
    complete = profile.INLINE_COMPLETE.replace("tasklease.tasks", table)

    def done(conn: psycopg.Connection, owner: str, rows: list) -> int:
        return conn.execute(complete, (rows[0][0], owner, rows[0][1])).rowcount

    return {"single": drain.QueuePath(f"history:{table}", "tasklease", 1, claim, done)}


def _fill(conn: psycopg.Connection, table: str, finished: int, jobs: int) -> None:
    conn.execute(f"TRUNCATE {table}")
    if finished:
        conn.execute(
            f"INSERT INTO {table} (payload, status, attempts, owner_id, lease_token,"
            " result, finished_at, queue)"
            " SELECT jsonb_build_object('n', g), 'completed', 1, 'bench-old', g,"
            " '{\"ok\": true}', now() - interval '1 day', 'q' || (g %% 4)"
            " FROM generate_series(1, %s) AS g", (finished,))
    conn.execute(f"INSERT INTO {table} (queue, payload) SELECT 'default',"
                 " jsonb_build_object('n', g) FROM generate_series(1, %s) AS g", (jobs,))
    conn.execute(f"VACUUM ANALYZE {table}")
    conn.execute("CHECKPOINT")


def _timed(conn: psycopg.Connection, sql: str, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        conn.execute(sql).fetchall()
        times.append(time.perf_counter() - t0)
    return drain.median(times) * 1000


def _measure(dsn: str, conn: psycopg.Connection, table: str, vacuum: list, cfg: Config) -> dict:
    r = drain.drain(dsn, _paths(table)["single"], 4, tag="-hist")
    t0 = time.perf_counter()
    for t in vacuum:
        conn.execute(f"VACUUM {t}")
    vac_ms = (time.perf_counter() - t0) * 1000
    return {"jobs_per_s": r["jobs_per_s"], "vacuum_ms": vac_ms,
            "live_reader_ms": _timed(conn, LIVE_READER.format(t=table)),
            "full_reader_ms": _timed(conn, FULL_READER.format(t=table)),
            "mb": conn.execute(f"SELECT pg_total_relation_size('{vacuum[0]}')"
                               " / 1048576.0").fetchone()[0]}


def run(dsn: str, cfg: Config, log: Log) -> dict:
    """{layout: {jobs_per_s, vacuum_ms, live_reader_ms, full_reader_ms}} (medians)."""
    layouts = {
        "table": ("tasklease.tasks", cfg.history_finished, ["tasklease.tasks"]),
        "empty": ("tasklease.tasks", 0, ["tasklease.tasks"]),
        "partitioned": ("bench_floor.ptasks", cfg.history_finished,
                        ["bench_floor.ptasks_live", "bench_floor.ptasks_done"]),
    }
    raw: dict = {name: [] for name in layouts}
    errors: dict = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.create_floor(conn)
        conn.execute(PARTITIONED_DDL)
        for rep in range(cfg.reps):
            for name, (table, finished, vacuum) in layouts.items():
                schema.empty_tasklease(conn)
                _fill(conn, table, finished, cfg.history_jobs)
                try:
                    m = _measure(dsn, conn, table, vacuum, cfg)
                except RuntimeError as exc:  # a claimer's error, reported as a finding
                    errors[name] = str(exc)
                    log(f"  run {rep + 1}/{cfg.reps} {name:<11}: {exc}")
                    continue
                raw[name].append(m)
                log(f"  run {rep + 1}/{cfg.reps} {name:<11} ({finished:,} finished):"
                    f" {m['jobs_per_s']:7.0f} jobs/s, VACUUM {m['vacuum_ms']:7.1f} ms,"
                    f" live counts {m['live_reader_ms']:6.1f} ms, full counts"
                    f" {m['full_reader_ms']:7.1f} ms")
        conn.execute("DROP TABLE IF EXISTS bench_floor.ptasks")
        schema.empty_tasklease(conn)
    return {"finished": cfg.history_finished, "jobs": cfg.history_jobs, "errors": errors,
            "layouts": {name: {k: drain.median([m[k] for m in ms]) for k in ms[0]}
                        for name, ms in raw.items() if ms}}
