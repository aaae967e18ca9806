"""The reaper's per-row helpers are inlined into its plans.

_stale_reason and _worker_alive are SQL functions evaluated for every running task by the
stale_tasks view, reap_stale_tasks and reap_if_due.  PostgreSQL inlines such a function
only when nothing in its body is more volatile than it is declared: declared IMMUTABLE
around `timestamptz - interval` (STABLE), they ran as two function calls per running task
and the reaper took 48 ms instead of 4 ms for 2,000 running tasks (bench section reaper).
Both are counted here the way the executor would see them: by name in the plan, and by the
calls pg_stat_user_functions records."""

from __future__ import annotations

import psycopg

HELPERS = ("_stale_reason", "_worker_alive")


def test_the_stale_view_plan_calls_no_helper(conn):
    plan = "\n".join(r[0] for r in conn.execute(
        "EXPLAIN (VERBOSE) SELECT * FROM tasklease.stale_tasks"))
    assert not [h for h in HELPERS if h in plan], plan


def test_a_reaper_run_calls_no_helper_per_task(conn, dsn):
    conn.execute("INSERT INTO tasklease.workers (owner_id, incarnation, last_heartbeat) "
                 "VALUES ('plan-owner', 'i1', now())")
    conn.execute(
        "INSERT INTO tasklease.tasks (payload, status, attempts, owner_id, lease_token,"
        " lease_expires_at, last_heartbeat) SELECT '{}', 'running', 1, 'plan-owner',"
        " nextval('tasklease.lease_token_seq'), CASE WHEN g % 10 = 0 THEN now() - interval"
        " '1 minute' ELSE now() + interval '10 minutes' END, now()"
        " FROM generate_series(1, 200) AS g")
    with psycopg.connect(dsn) as c:  # one transaction, rolled back
        c.execute("SET track_functions = 'all'")
        before = _calls(c)
        (n,) = c.execute("SELECT count(*) FROM tasklease.reap_stale_tasks(100, true)").fetchone()
        assert n == 20
        assert _calls(c) == before, "a helper ran as a function call per task"
        c.rollback()


def _calls(c: psycopg.Connection) -> dict:
    return dict(c.execute(
        "SELECT p.proname, coalesce(s.calls, 0) FROM pg_proc AS p"
        " JOIN pg_namespace AS n ON n.oid = p.pronamespace"
        " LEFT JOIN pg_stat_xact_user_functions AS s ON s.funcid = p.oid"
        " WHERE n.nspname = 'tasklease' AND p.proname = ANY(%s)", (list(HELPERS),)).fetchall())
