"""The console's reads and actions: each one query or one SQL function call.

Every function takes a psycopg connection (autocommit, dict rows) and returns plain
dicts and lists, so that the pages and /metrics share them and tests can call them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import psycopg
from psycopg.rows import dict_row

# Finished counts above this are shown as "at least" (exact counts cost a scan).
COUNT_LIMIT = 10_000
PAGE_SIZE = 50
STATUSES = ("queued", "running", "completed", "failed", "cancelled")
TASK_ACTIONS = {
    # route name: (SQL function signature, call)
    "retry": ("tasklease.retry_task(bigint)", "SELECT tasklease.retry_task(%s) AS changed"),
    "cancel": ("tasklease.cancel_task(bigint)", "SELECT tasklease.cancel_task(%s) AS changed"),
    "run-now": ("tasklease.run_task_now(bigint)",
                "SELECT tasklease.run_task_now(%s) AS changed"),
    "take-back": ("tasklease.take_back_task(bigint, bigint)",
                  "SELECT tasklease.take_back_task(%s, %s) AS changed"),
}
# Which actions apply to a task in each status (the SQL functions decide; this only
# chooses which buttons a page shows).
APPLIES = {
    "retry": ("failed", "cancelled"),
    "cancel": ("queued", "running"),
    "run-now": ("queued",),
    "take-back": ("running",),
}


def rows(conn: psycopg.Connection, sql: str, params: Any = None) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def row(conn: psycopg.Connection, sql: str, params: Any = None) -> Optional[dict]:
    found = rows(conn, sql, params)
    return found[0] if found else None


@dataclass(frozen=True)
class Capabilities:
    """What the DSN's role may do: the actions it may call, and whether it may read pg_cron."""

    actions: frozenset
    cron: bool
    user: str

    def may(self, action: str) -> bool:
        return action in self.actions


def capabilities(conn: psycopg.Connection, read_only: bool) -> Capabilities:
    sigs = {name: sig for name, (sig, _) in TASK_ACTIONS.items()}
    checks = ", ".join(
        f"coalesce(has_function_privilege(to_regprocedure('{sig}'), 'EXECUTE'), false)"
        f" AS \"{name}\"" for name, sig in sigs.items()
    )
    r = row(conn, f"""
        SELECT {checks},
            coalesce((
                SELECT bool_and(has_schema_privilege(n.oid, 'USAGE')
                    AND has_table_privilege(c.oid, 'SELECT')) AND count(*) = 2
                FROM pg_catalog.pg_class AS c
                JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
                WHERE n.nspname = 'cron' AND c.relname IN ('job', 'job_run_details')
            ), false) AS cron,  -- by oid: a name in a schema we may not use is an error
            session_user AS "user"
    """)
    assert r is not None
    allowed = frozenset() if read_only else frozenset(n for n in sigs if r[n])
    return Capabilities(allowed, bool(r["cron"]), r["user"])


# ------------------------------------------------------------------ overview
def queues(conn: psycopg.Connection, count_limit: int = COUNT_LIMIT) -> list[dict]:
    return rows(conn, "SELECT * FROM tasklease.console_queues(%s)", (count_limit,))


def throughput(conn: psycopg.Connection, minutes: int = 60) -> list[dict]:
    """One row per minute, oldest first, every minute of the window (zeros included)."""
    return rows(conn, """
        SELECT m.minute, coalesce(sum(t.completed), 0)::bigint AS completed,
            coalesce(sum(t.failed), 0)::bigint AS failed
        FROM generate_series(date_trunc('minute', now()) - make_interval(mins => %s - 1),
                             date_trunc('minute', now()), interval '1 minute') AS m (minute)
        LEFT JOIN tasklease.console_throughput(%s) AS t ON t.minute = m.minute
        GROUP BY m.minute ORDER BY m.minute
    """, (minutes, minutes))


def worker_states(conn: psycopg.Connection) -> dict[str, int]:
    counts = {"alive": 0, "dead": 0, "stopped": 0}
    for r in rows(conn, "SELECT state, count(*) AS n FROM tasklease.worker_status GROUP BY 1"):
        counts[r["state"]] = r["n"]
    return counts


def stale_tasks(conn: psycopg.Connection, limit: int = 200) -> list[dict]:
    return rows(conn, """
        SELECT s.*, extract(EPOCH FROM now() - s.lease_expires_at)::numeric(12, 1)
                AS expired_s,
            extract(EPOCH FROM now() - s.owner_last_heartbeat)::numeric(12, 1)
                AS heartbeat_age_s
        FROM tasklease.stale_tasks AS s ORDER BY s.task_id LIMIT %s
    """, (limit,))


def reaper_job(conn: psycopg.Connection) -> Optional[dict]:
    """The pg_cron reaper job and its last run (call only when Capabilities.cron)."""
    return row(conn, """
        SELECT j.jobid, j.jobname, j.schedule, j.active, j.username,
            r.status AS last_status, r.start_time AS last_start, r.end_time AS last_end,
            r.return_message AS last_message,
            extract(EPOCH FROM now() - r.start_time)::numeric(12, 1) AS last_age_s
        FROM cron.job AS j
        LEFT JOIN LATERAL (
            SELECT d.status, d.start_time, d.end_time, d.return_message
            FROM cron.job_run_details AS d WHERE d.jobid = j.jobid
            ORDER BY d.runid DESC LIMIT 1
        ) AS r ON true
        WHERE j.jobname = 'tasklease-reaper'
    """)


# ------------------------------------------------------------------ tasks
def task_page(conn: psycopg.Connection, queue: Optional[str], status: Optional[str],
              before: Optional[int], page_size: int = PAGE_SIZE) -> list[dict]:
    return rows(conn, "SELECT * FROM tasklease.console_tasks(%s, %s::tasklease.task_status, "
                      "%s, %s)",
                (queue, status, before, page_size))


def task(conn: psycopg.Connection, task_id: int) -> Optional[dict]:
    return row(conn, """
        SELECT t.*, t.status::text AS status,
            extract(EPOCH FROM t.lease_expires_at - now())::numeric(12, 1) AS lease_left_s,
            extract(EPOCH FROM t.run_after - now())::numeric(12, 1) AS runs_in_s,
            tasklease._setting('max_requeue') AS max_requeue
        FROM tasklease.get_task(%s) AS t
    """, (task_id,))


def timeline(conn: psycopg.Connection, task_id: int) -> list[dict]:
    """Every decision about one task, oldest first."""
    found = rows(conn, "SELECT * FROM tasklease.console_decisions(%s, page_size => 500)",
                 (task_id,))
    return found[::-1]


def act(conn: psycopg.Connection, action: str, task_id: int,
        lease_token: Optional[int] = None) -> bool:
    """Call the action's SQL function; True when it changed the task."""
    sql = TASK_ACTIONS[action][1]
    params = (task_id, lease_token) if action == "take-back" else (task_id,)
    r = row(conn, sql, params)
    return bool(r and r["changed"])


# ------------------------------------------------------------------ workers, reaper
def workers(conn: psycopg.Connection) -> list[dict]:
    return rows(conn, "SELECT * FROM tasklease.worker_status ORDER BY state, owner_id")


def decisions(conn: psycopg.Connection, action: Optional[str], reason: Optional[str],
              before: Optional[int], page_size: int = PAGE_SIZE) -> list[dict]:
    return rows(conn, "SELECT * FROM tasklease.console_decisions(NULL, %s, %s, %s, %s)",
                (action, reason, before, page_size))


def decisions_last_hour(conn: psycopg.Connection) -> list[dict]:
    return rows(conn, "SELECT coalesce(queue, '') AS queue, action, reason, decisions AS n "
                      "FROM tasklease.console_decision_counts(60)")
