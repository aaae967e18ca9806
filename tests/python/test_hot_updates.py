"""Lease renewals are HOT (heap-only, in-place) updates: no index covers a column they
change and fillfactor leaves room on each page (DESIGN.md, "Pitfalls").

Measurement: the table's own counters, n_tup_upd and n_tup_hot_upd of pg_stat_user_tables,
differenced around the renewals.  They are exact once flushed, and the flush is deterministic
for our own session: pg_stat_force_next_flush() (PostgreSQL 15+) makes the end of the next
transaction write this backend's pending counters to shared memory, and
pg_stat_clear_snapshot() drops any cached copy before reading.  Only this session updates
the table during the test (the pg_cron jobs are paused), so the difference is the renewals
alone.  The ctid method (a HOT update stays on its page) is cheaper to read but cannot tell a
HOT update from a non-HOT one that happened to land on the same page, so it serves only as a
second, weaker check here."""

from __future__ import annotations

import psycopg

TASKS = 200
RENEWALS = 5
MIN_HOT_RATIO = 0.8


def update_counters(conn: psycopg.Connection) -> tuple[int, int]:
    """(n_tup_upd, n_tup_hot_upd) of tasklease.tasks, including this session's updates."""
    if conn.info.server_version >= 150000:
        conn.execute("SELECT pg_stat_force_next_flush()")  # flushed when this statement ends
    else:  # pragma: no cover - older servers flush on their own within ~0.5 s of idling
        conn.execute("SELECT pg_sleep(1)")
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return conn.execute(
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
        "WHERE relid = 'tasklease.tasks'::regclass"
    ).fetchone()


def pages(conn: psycopg.Connection) -> dict[int, int]:
    """Heap page of each running task's current version."""
    return dict(
        conn.execute(
            "SELECT id, (ctid::text::point)[0]::int FROM tasklease.tasks WHERE status = 'running'"
        ).fetchall()
    )


def test_renewals_are_hot_updates(conn, cron_paused):
    conn.execute(
        "SELECT tasklease.enqueue_many(array_agg(jsonb_build_object('n', i))) "
        "FROM generate_series(1, %s) AS i",
        (TASKS,),
    )
    leases = conn.execute(
        "SELECT id, lease_token FROM tasklease.claim_tasks('hot', %s)", (TASKS,)
    ).fetchall()
    assert len(leases) == TASKS
    before_pages = pages(conn)
    upd0, hot0 = update_counters(conn)

    for _ in range(RENEWALS):
        for task_id, token in leases:
            renewed = conn.execute(
                "SELECT tasklease.renew_lease(%s, 'hot', %s)", (task_id, token)
            ).fetchone()[0]
            assert renewed is not None

    upd1, hot1 = update_counters(conn)
    after_pages = pages(conn)
    updates, hot = upd1 - upd0, hot1 - hot0
    assert updates == TASKS * RENEWALS, "the counters must cover exactly the renewals"
    assert hot / updates >= MIN_HOT_RATIO, f"only {hot} of {updates} renewals were HOT"
    moved = sum(before_pages[i] != after_pages[i] for i in before_pages)
    assert moved <= TASKS * (1 - MIN_HOT_RATIO), f"{moved} of {TASKS} rows left their page"


def test_counters_see_non_hot_updates(conn, cron_paused):
    """The measurement can fail: an update of an indexed column (the claim sets status,
    the predicate of the partial indexes) is counted as an update but not as HOT."""
    conn.execute(
        "SELECT tasklease.enqueue_many(array_agg(to_jsonb(i))) FROM generate_series(1, 20) AS i"
    )
    upd0, hot0 = update_counters(conn)
    assert len(conn.execute("SELECT 1 FROM tasklease.claim_tasks('cold', 20)").fetchall()) == 20
    upd1, hot1 = update_counters(conn)
    assert upd1 - upd0 == 20
    assert hot1 - hot0 == 0
