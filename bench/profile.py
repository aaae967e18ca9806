"""Profiling aids: where the SQL API spends its time compared with the floor.

  statements  pg_stat_statements over one drain of each path at one connection, on
              connections with track = all (statements inside the functions count too):
              calls, total and mean execution time (when the server preloads the library)
  explain     EXPLAIN (ANALYZE, BUFFERS) of the hot statements of claim_tasks, complete_task
              and renew_lease, run by hand from the function bodies on a loaded table
  inline      the same statements as claim_tasks / complete_task(s), sent as plain SQL on
              tasklease.tasks: the gap between inline and api is the cost of the function
              layer (plpgsql, validation helpers, SECURITY DEFINER + SET search_path), the
              gap between floor and inline the cost of the table and its indexes
"""

from __future__ import annotations

from typing import Callable

import psycopg
from psycopg.conninfo import make_conninfo

from . import drain, schema, throughput
from .config import Config

Log = Callable[[str], None]

INLINE_CLAIM = """
WITH picked AS MATERIALIZED (
    SELECT t.id FROM tasklease.tasks AS t
    WHERE t.status = 'queued' AND t.run_after <= now()
    ORDER BY t.priority, t.run_after, t.id
    LIMIT %(n)s
    FOR UPDATE SKIP LOCKED
),
claimed AS (
    UPDATE tasklease.tasks AS t SET
        status = 'running', owner_id = %(owner)s,
        lease_token = nextval('tasklease.lease_token_seq'),
        lease_expires_at = now() + interval '600 seconds', last_heartbeat = now(),
        attempts = t.attempts + 1, updated_at = now()
    FROM picked WHERE t.id = picked.id
    RETURNING t.id, t.queue, t.payload, t.attempts, t.lease_token, t.lease_expires_at,
        t.priority, t.run_after
)
SELECT c.id, c.lease_token, c.payload FROM claimed AS c ORDER BY c.priority, c.run_after, c.id
"""

INLINE_COMPLETE = """
UPDATE tasklease.tasks AS t SET
    status = 'completed', result = NULL, lease_expires_at = NULL,
    finished_at = now(), updated_at = now()
WHERE t.id = %s AND t.status = 'running' AND t.owner_id = %s AND t.lease_token = %s
"""

INLINE_COMPLETE_MANY = """
UPDATE tasklease.tasks AS t SET
    status = 'completed', result = NULL, lease_expires_at = NULL,
    finished_at = now(), updated_at = now()
FROM unnest(%s::bigint[], %s::bigint[]) AS c (id, token)
WHERE t.id = c.id AND t.status = 'running' AND t.owner_id = %s AND t.lease_token = c.token
"""

RENEW = """
UPDATE tasklease.tasks AS t SET
    lease_expires_at = now() + interval '600 seconds', last_heartbeat = now(),
    updated_at = now()
WHERE t.id = %s AND t.status = 'running' AND t.owner_id = %s AND t.lease_token = %s
"""


def _inline_complete(conn: psycopg.Connection, owner: str, rows: list) -> int:
    if len(rows) == 1:
        return conn.execute(INLINE_COMPLETE, (rows[0][0], owner, rows[0][1])).rowcount
    ids, tokens = [r[0] for r in rows], [r[1] for r in rows]
    return conn.execute(INLINE_COMPLETE_MANY, (ids, tokens, owner)).rowcount


def inline_paths(batch: int) -> dict:
    return {
        "inline_single": drain.QueuePath("inline_single", "tasklease", 1, INLINE_CLAIM,
                                         _inline_complete),
        "inline_batch": drain.QueuePath("inline_batch", "tasklease", batch, INLINE_CLAIM,
                                        _inline_complete),
    }


def statements(conn: psycopg.Connection, limit: int = 25) -> list:
    rows = conn.execute(
        """
        SELECT calls, total_exec_time, mean_exec_time, rows,
            left(regexp_replace(query, '\\s+', ' ', 'g'), 160)
        FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND query NOT ILIKE '%%pg_stat_statements%%'
        ORDER BY total_exec_time DESC LIMIT %s
        """,
        (limit,),
    ).fetchall()
    return [
        {"calls": c, "total_ms": round(t, 1), "mean_ms": round(m, 4), "rows": r, "query": q}
        for c, t, m, r, q in rows
    ]


def statements_by_path(dsn: str, cfg: Config, log: Log) -> dict:
    """{path: top statements} for one drain of each path at one connection."""
    tracked = make_conninfo(dsn, options="-c pg_stat_statements.track=all")
    out = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.create_floor(conn)
        for path in drain.paths(cfg.batch).values():
            throughput.load(conn, path, min(cfg.jobs, 5_000))
            conn.execute("SELECT pg_stat_statements_reset()")
            r = drain.drain(tracked, path, 1, tag="-pgss")
            out[path.name] = statements(conn, limit=12)
            log(f"  pg_stat_statements over {path.name} x1 ({r['jobs_per_s']:.0f} jobs/s):"
                f" top {out[path.name][0]['query'][:60] if out[path.name] else '-'}")
        schema.empty_tasklease(conn)
        conn.execute("TRUNCATE bench_floor.jobs")
    return out


def _explain(conn: psycopg.Connection, sql: str, params) -> str:
    rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()
    return "\n".join(r[0] for r in rows)


def explain(dsn: str, jobs: int, batch: int) -> dict:
    """Plans of the hot statements on a table of `jobs` queued tasks (rolled back)."""
    out = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.load_tasks(conn, jobs)
        with conn.transaction(force_rollback=True):
            for n in (1, batch):
                out[f"claim (LIMIT {n})"] = _explain(conn, INLINE_CLAIM,
                                                      {"owner": "bench-explain", "n": n})
            task_id, token = conn.execute(
                "SELECT id, lease_token FROM tasklease.tasks WHERE status = 'running' LIMIT 1"
            ).fetchone()
            out["renew_lease"] = _explain(conn, RENEW, (task_id, "bench-explain", token))
            out["complete_task"] = _explain(conn, INLINE_COMPLETE,
                                            (task_id, "bench-explain", token))
        schema.empty_tasklease(conn)
    return out


def inline(dsn: str, cfg: Config, log: Log) -> dict:
    """The function bodies as plain SQL, at the lowest and highest concurrency."""
    cs = sorted({min(cfg.concurrencies), max(cfg.concurrencies)})
    raw: dict = {name: {c: [] for c in cs} for name in inline_paths(cfg.batch)}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for rep in range(cfg.reps):
            for c in cs:
                for name, path in inline_paths(cfg.batch).items():
                    schema.load_tasks(conn, cfg.jobs)
                    r = drain.drain(dsn, path, c, tag=f"-r{rep}")
                    raw[name][c].append(r)
                    log(f"  run {rep + 1}/{cfg.reps} {name:<13} x{c:<2}"
                        f" {r['jobs_per_s']:9.0f} jobs/s")
        schema.empty_tasklease(conn)
    return {n: {str(c): throughput.summarise(rs) for c, rs in by_c.items()}
            for n, by_c in raw.items()}
