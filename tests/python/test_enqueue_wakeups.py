"""Enqueue wakes idle workers with at most one NOTIFY per queue per notify_window_ms, and
idle workers still start a lone task well before their poll interval."""

from __future__ import annotations

import time

import psycopg
import pytest
from handlers import (
    FLAVOURS,
    HANDLERS,
    WorkerProcess,
    reset_witness,
    status_counts,
    wait_until,
    worker_alive,
)


def _notifies(listener: psycopg.Connection, wait_s: float = 0.3) -> list[str]:
    """The notifications of this module's queues (wk-*) that arrive within wait_s."""
    return [n.payload for n in listener.notifies(timeout=wait_s)
            if n.payload.startswith("wk-")]


@pytest.fixture
def listener(dsn):
    c = psycopg.connect(dsn, autocommit=True)
    c.execute("LISTEN tasklease")
    try:
        yield c
    finally:
        c.close()


def test_one_notify_per_queue_per_window(conn, listener, settings):
    settings("notify_window_ms", 60000)
    conn.execute("DELETE FROM tasklease.queue_wakeups")
    for _ in range(5):
        conn.execute("SELECT tasklease.enqueue('{}', 'wk-a')")
    conn.execute("SELECT tasklease.enqueue_many(array_fill('{}'::jsonb, ARRAY[3]), 'wk-b')")
    conn.execute("SELECT tasklease.enqueue('{}', 'wk-b')")
    assert sorted(_notifies(listener)) == ["wk-a", "wk-b"], "one per queue in the window"
    settings("notify_window_ms", 0)
    for _ in range(3):
        conn.execute("SELECT tasklease.enqueue('{}', 'wk-a')")
    assert _notifies(listener) == ["wk-a"] * 3, "a window of 0 notifies every enqueue"


def test_tasks_not_due_wake_nobody(conn, listener, settings):
    settings("notify_window_ms", 0)
    conn.execute("SELECT tasklease.enqueue('{}', 'wk-later', now() + interval '1 hour')")
    conn.execute("SELECT tasklease.enqueue('{}', 'wk-now')")
    assert _notifies(listener) == ["wk-now"]


def test_a_notifier_in_flight_is_not_waited_for(conn, dsn, listener, settings):
    """A producer whose transaction holds the queue's wake lock (it notifies at commit) does
    not make another producer wait: the other skips its NOTIFY."""
    settings("notify_window_ms", 1)
    conn.execute("SELECT tasklease.enqueue('{}', 'wk-held')")
    time.sleep(0.01)
    with psycopg.connect(dsn) as holder:  # a transaction, open until the block ends
        holder.execute("SELECT tasklease.enqueue('{}', 'wk-held')")
        other = psycopg.connect(dsn, autocommit=True)
        other.execute("SET lock_timeout = '2s'")
        other.execute("SELECT tasklease.enqueue('{}', 'wk-held')")  # would time out if it waited
        other.close()
        holder.commit()
    assert _notifies(listener) == ["wk-held", "wk-held"], "the first call and the holder's"


def test_a_window_of_0_notifies_every_call_even_beside_a_notifier_in_flight(
        conn, dsn, listener, settings):
    """With notify_window_ms 0 no producer skips its NOTIFY for another's: the other's
    open transaction takes no wake lock."""
    settings("notify_window_ms", 0)
    with psycopg.connect(dsn) as holder:
        holder.execute("SELECT tasklease.enqueue('{}', 'wk-zero')")
        conn.execute("SELECT tasklease.enqueue('{}', 'wk-zero')")
        assert _notifies(listener) == ["wk-zero"], "the autocommit call's, at once"
        holder.commit()
    assert _notifies(listener) == ["wk-zero"], "the holder's, at its commit"


def test_a_task_not_due_holds_back_no_wake_up(conn, dsn, listener, settings):
    """Only a transaction that will NOTIFY holds the queue's wake lock: one that enqueued a
    task for later, still open, does not keep another producer's due task from waking the
    workers."""
    settings("notify_window_ms", 1)
    conn.execute("DELETE FROM tasklease.queue_wakeups WHERE queue = 'wk-later2'")
    with psycopg.connect(dsn) as holder:
        holder.execute("SELECT tasklease.enqueue('{}', 'wk-later2', now() + interval '1 hour')")
        holder.execute("SELECT tasklease.enqueue_many(ARRAY['{}'::jsonb], 'wk-later2',"
                       " now() + interval '1 hour')")
        conn.execute("SELECT tasklease.enqueue('{}', 'wk-later2')")
        assert _notifies(listener) == ["wk-later2"], "the due task's NOTIFY, at once"
        holder.commit()
    assert _notifies(listener) == [], "the tasks for later wake nobody"


def test_one_transaction_holds_at_most_64_wake_locks(conn, dsn, listener, settings):
    """Each wake lock is an entry of the server's shared lock table until the commit: a
    transaction that wakes 100 queues takes 64 and wakes the rest by their rows alone, and
    every queue is notified at its commit."""
    settings("notify_window_ms", 60000)
    queues = [f"wk-many-{i}" for i in range(100)]
    conn.execute("DELETE FROM tasklease.queue_wakeups WHERE queue = ANY(%s)", (queues,))
    with psycopg.connect(dsn) as tx:
        for q in queues:
            tx.execute("SELECT tasklease.enqueue('{}', %s)", (q,))
        held = tx.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
            " AND classid = 2002873189 AND pid = pg_backend_pid()").fetchone()[0]
        assert held == 64
        tx.commit()
    assert sorted(_notifies(listener, 1.0)) == sorted(queues)
    with psycopg.connect(dsn) as tx:  # the count is the transaction's own
        tx.execute("SELECT tasklease.enqueue('{}', 'wk-many-next')")
        assert tx.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
            " AND classid = 2002873189 AND pid = pg_backend_pid()").fetchone()[0] == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_idle_worker_starts_lone_tasks_long_before_its_poll(conn, dsn, tmp_path, flavour):
    """Pairs of tasks enqueued back to back from two producers: the second's NOTIFY is
    usually skipped (the first was sent within the window), and it may commit after the
    claim the first one caused; the worker's re-check still starts it at once.  The poll
    interval is 30 s, so every task done within seconds came through a wake-up."""
    reset_witness(conn)
    w = WorkerProcess(dsn, "--name", "waker", "--poll-interval-s", "30", "--concurrency", "4",
                      log_dir=tmp_path, handler=HANDLERS[flavour]["work"])
    other = psycopg.connect(dsn, autocommit=True)
    try:
        wait_until(lambda: worker_alive(conn, "waker"), what="the worker to register")
        time.sleep(1.0)  # its first claim is done: it waits for a wake-up now
        started = time.monotonic()
        conn.execute("SELECT tasklease.enqueue('{}')")
        wait_until(lambda: status_counts(conn).get("completed") == 1, timeout=5,
                   interval=0.02, what="a lone task to be started by its NOTIFY")
        assert time.monotonic() - started < 5
        for _ in range(10):
            conn.execute("SELECT tasklease.enqueue('{}')")
            other.execute("SELECT tasklease.enqueue('{}')")
            time.sleep(0.2)
        wait_until(lambda: status_counts(conn).get("completed") == 21, timeout=10,
                   interval=0.1, what="every task of the pairs, long before a poll")
        assert w.stop() == 0
    finally:
        other.close()
        if w.proc.poll() is None:
            w.kill()
