"""A settings change reaches every session's next call, however warm its cached plans are.

The hot paths (enqueue, claim_tasks, complete_tasks) hold the settings as constants of their
cached plans: tasklease._setting is IMMUTABLE, so the planner folds each call in, and every
write of a value rewrites _setting's catalog row, which invalidates those plans in every
session (sql/010_settings.sql).  These tests break that promise where it can break: the
session whose plans hold the old value is warm (more than five calls: plpgsql's generic
plans), the change comes from another session, by set_setting or by a plain UPDATE, and
may be rolled back; and writers of settings run at once (two writers rewriting the catalog
row together would fail the later with an internal error, "tuple concurrently updated").
"""

from __future__ import annotations

import threading

import psycopg
import pytest

WARM_CALLS = 8  # > 5: plpgsql switches to a generic plan after five custom ones


def _warm(c: psycopg.Connection) -> None:
    """Give session c cached (generic) plans of the three hot paths."""
    for i in range(WARM_CALLS):
        c.execute("SELECT tasklease.enqueue(%s::jsonb, 'settings-test')", (f'{{"n": {i}}}',))
    for _ in range(WARM_CALLS):
        rows = c.execute(
            "SELECT id, lease_token FROM tasklease.claim_tasks('warm-owner', 1, 'settings-test')"
        ).fetchall()
        if rows:
            ids, tokens = [r[0] for r in rows], [r[1] for r in rows]
            c.execute(
                "SELECT tasklease.complete_tasks('warm-owner', %s, %s, %s::jsonb[])",
                (ids, tokens, ['{"ok": 1}'] * len(ids)),
            )


def _write(c: psycopg.Connection, how: str, name: str, value: int) -> None:
    if how == "set_setting":
        c.execute("SELECT tasklease.set_setting(%s, %s)", (name, value))
    else:
        c.execute("UPDATE tasklease.settings SET value = %s WHERE name = %s", (value, name))


def _sqlstate(c: psycopg.Connection, query: str, params=()) -> str | None:
    try:
        c.execute(query, params)
    except psycopg.Error as exc:
        return exc.sqlstate
    return None


@pytest.mark.parametrize("how", ["set_setting", "update"])
def test_a_change_reaches_the_warm_plans_of_another_session_at_once(dsn, settings, how):
    big = '{"pad": "' + "x" * 300 + '"}'
    long_owner = "o" * 40
    with psycopg.connect(dsn, autocommit=True) as a, psycopg.connect(dsn, autocommit=True) as b:
        _warm(a)
        for name in ("max_payload_bytes", "max_owner_len", "max_result_bytes", "lease_s"):
            settings(name, b.execute("SELECT tasklease._setting(%s)", (name,)).fetchone()[0])
        # Values the warm session's plans hold accept all of this ...
        assert _sqlstate(a, "SELECT tasklease.enqueue(%s::jsonb, 'settings-test')", (big,)) is None
        assert _sqlstate(a, "SELECT * FROM tasklease.claim_tasks(%s, 1, 'nothing')",
                         (long_owner,)) is None
        # ... until another session changes them.
        _write(b, how, "max_payload_bytes", 100)
        _write(b, how, "max_owner_len", 20)
        _write(b, how, "lease_s", 30)
        assert _sqlstate(a, "SELECT tasklease.enqueue(%s::jsonb, 'settings-test')",
                         (big,)) == "TL004"
        assert _sqlstate(a, "SELECT * FROM tasklease.claim_tasks(%s, 1, 'nothing')",
                         (long_owner,)) == "TL001"
        a.execute("SELECT tasklease.enqueue('{}'::jsonb, 'settings-test')")
        task_id, token, lease_left = a.execute(
            "SELECT id, lease_token, extract(epoch FROM lease_expires_at - now()) "
            "FROM tasklease.claim_tasks('warm-owner', 1, 'settings-test')"
        ).fetchone()
        assert 25 <= lease_left <= 30, "the claim's lease follows lease_s = 30 at once"
        _write(b, how, "max_result_bytes", 50)
        assert _sqlstate(
            a, "SELECT tasklease.complete_tasks('warm-owner', %s, %s, %s::jsonb[])",
            ([task_id], [token], [big]),
        ) == "TL012"
        # And back: a raised limit is obeyed as soon.
        _write(b, how, "max_payload_bytes", 1_048_576)
        assert _sqlstate(a, "SELECT tasklease.enqueue(%s::jsonb, 'settings-test')", (big,)) is None


def test_a_change_rolled_back_leaves_every_session_with_the_old_value(dsn):
    big = '{"pad": "' + "x" * 300 + '"}'
    with psycopg.connect(dsn, autocommit=True) as a, psycopg.connect(dsn) as b:
        _warm(a)
        b.execute("SELECT tasklease.set_setting('max_payload_bytes', 100)")
        # Uncommitted: not seen (the writer's own session sees it).
        assert _sqlstate(a, "SELECT tasklease.enqueue(%s::jsonb, 'settings-test')", (big,)) is None
        assert _sqlstate(b, "SELECT tasklease.enqueue(%s::jsonb, 'settings-test')",
                         (big,)) == "TL004"
        b.rollback()
        assert _sqlstate(a, "SELECT tasklease.enqueue(%s::jsonb, 'settings-test')", (big,)) is None
        assert _sqlstate(b, "SELECT tasklease.enqueue(%s::jsonb, 'settings-test')", (big,)) is None
        b.commit()


def test_settings_writers_at_the_same_time_all_succeed(dsn, settings):
    """set_setting of different settings, plain UPDATEs and set_queue (which keeps the
    controlled_queues count) from several sessions at once: each waits for the other,
    none fails."""
    names = ("retry_base_s", "requeue_backoff_s", "prune_batch", "notify_window_ms")
    with psycopg.connect(dsn, autocommit=True) as c:
        for name in names:
            settings(name, c.execute("SELECT tasklease._setting(%s)", (name,)).fetchone()[0])
    errors: list[str] = []
    start = threading.Barrier(len(names) + 2)

    def set_loop(name: str) -> None:
        with psycopg.connect(dsn, autocommit=True) as c:
            start.wait(timeout=30)
            for i in range(40):
                try:
                    if i % 2:
                        c.execute("SELECT tasklease.set_setting(%s, %s)", (name, 10 + i))
                    else:
                        c.execute("UPDATE tasklease.settings SET value = %s WHERE name = %s",
                                  (10 + i, name))
                except psycopg.Error as exc:
                    errors.append(f"{name}: {exc.sqlstate} {exc}")

    def queue_loop() -> None:
        with psycopg.connect(dsn, autocommit=True) as c:
            start.wait(timeout=30)
            for i in range(40):
                try:
                    c.execute("SELECT tasklease.set_queue('settings-q', %s)", (i % 2,))
                except psycopg.Error as exc:
                    errors.append(f"set_queue: {exc.sqlstate} {exc}")

    threads = [threading.Thread(target=set_loop, args=(n,)) for n in names]
    threads.append(threading.Thread(target=queue_loop))
    for t in threads:
        t.start()
    start.wait(timeout=30)
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]
    with psycopg.connect(dsn, autocommit=True) as c:
        values = dict(c.execute(
            "SELECT name, value FROM tasklease.settings WHERE name = ANY(%s)", (list(names),)
        ).fetchall())
        assert values == {n: 10 + 39 for n in names}
        # The folded values agree with the table in a new session, and in this one.
        assert [c.execute("SELECT tasklease._setting(%s)", (n,)).fetchone()[0]
                for n in names] == [49] * len(names)
