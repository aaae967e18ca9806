"""The flow-control statements keep to their indexes whatever the table's size when their
plans were cached.  plpgsql caches a generic plan after five executions (at once under
force_generic_plan) and keeps it for the session: one built while tasklease.tasks was
nearly empty was a seq scan, and every later call scanned the whole table (a keyed enqueue
took 4 ms at 8,000 rows; a claim of every queue ran at 0.3x).  Each test builds its plans on
an empty table, grows it, and counts the seq scans of tasks in its own transaction."""

from __future__ import annotations

import psycopg

GROW = ("INSERT INTO tasklease.tasks (queue, payload) "
        "SELECT 'big', '{}' FROM generate_series(1, 3000)")


def seq_scans_of_tasks(c: psycopg.Connection) -> int:
    return c.execute(
        "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relid = 'tasklease.tasks'::regclass"
    ).fetchone()[0]


def test_keyed_enqueues_stay_on_the_key_index(conn, dsn):
    conn.execute("VACUUM ANALYZE tasklease.tasks")
    with psycopg.connect(dsn) as c:  # one transaction, rolled back
        for i in range(8):  # past the five calls after which plpgsql caches a generic plan
            c.execute("SELECT tasklease.enqueue('{}', 'q', dedupe_key => %s)", (f"early-{i}",))
        c.execute(GROW)
        for i in range(8):
            c.execute("SELECT tasklease.enqueue('{}', 'q', dedupe_key => %s, "
                      "dedupe_for => '1 hour')", (f"late-{i}",))
        c.execute("SELECT tasklease.enqueue('{}', 'q', dedupe_key => 'late-1')")
        assert seq_scans_of_tasks(c) == 0
        c.rollback()


def test_controlled_claims_stay_on_their_indexes(conn, dsn):
    conn.execute("VACUUM ANALYZE tasklease.tasks")
    with psycopg.connect(dsn) as c:
        c.execute("SELECT tasklease.set_queue('held', paused => true)")
        c.execute("SELECT tasklease.set_queue('lim', max_running => 100)")
        c.execute("SELECT tasklease.enqueue_many(array_fill('{}'::jsonb, ARRAY[20]), q) "
                  "FROM unnest(ARRAY['held', 'lim', 'free']) AS q")
        for _ in range(6):
            c.execute("SELECT * FROM tasklease.claim_tasks('w', 1)")
            c.execute("SELECT * FROM tasklease.claim_tasks('w', 1, 'lim')")
        c.execute(GROW)
        for _ in range(6):
            c.execute("SELECT * FROM tasklease.claim_tasks('w', 2)")
            c.execute("SELECT * FROM tasklease.claim_tasks('w', 2, 'lim')")
        assert seq_scans_of_tasks(c) == 0
        running = dict(c.execute(
            "SELECT queue, count(*) FROM tasklease.tasks WHERE status = 'running' GROUP BY 1"))
        assert running.get("held") is None and running.get("lim", 0) > 0
        c.rollback()
