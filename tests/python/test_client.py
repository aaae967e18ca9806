"""tasklease.Client: enqueue, get, cancel, stats; errors mapped from SQLSTATEs."""

from __future__ import annotations

import pytest
import tasklease
from tasklease.errors import InvalidQueue


def test_enqueue_get_cancel_and_stats(dsn):
    with tasklease.Client(dsn) as client:
        one = client.enqueue({"to": "a"}, queue="mail", priority=2, max_attempts=4)
        many = client.enqueue_many([{"n": 1}, {"n": 2}, None])
        assert len(many) == 3 and many == sorted(many) and one not in many
        task = client.get(one)
        assert isinstance(task, tasklease.TaskInfo)
        assert (task.id, task.queue, task.payload, task.priority, task.status,
                task.max_attempts, task.attempts) == (one, "mail", {"to": "a"}, 2, "queued", 4, 0)
        assert client.get(many[2]).payload is None
        assert client.get(10**12) is None
        assert client.cancel(one) is True
        assert client.get(one).status == "cancelled"
        assert client.cancel(one) is False
        stats = client.stats()
        assert stats.count("queued") == 3
        assert stats.count("cancelled", queue="mail") == 1
        assert stats.count("queued", queue="mail") == 0
        assert stats.stale_tasks == 0
        assert client.enqueue_many([]) == []


def test_errors_are_mapped_from_sqlstates(dsn):
    client = tasklease.Client(dsn)
    try:
        with pytest.raises(InvalidQueue) as bad_queue:
            client.enqueue({}, queue="no spaces allowed")
        assert bad_queue.value.sqlstate == "TL005"
        with pytest.raises(tasklease.TaskNotFound) as missing:
            client.cancel(10**12)
        assert missing.value.sqlstate == "TL009"
        with pytest.raises(tasklease.InvalidInput) as bad_attempts:
            client.enqueue({}, max_attempts=0)
        assert bad_attempts.value.sqlstate == "TL007"
    finally:
        client.close()


def test_no_io_before_first_use(dsn):
    client = tasklease.Client("postgresql://nobody@127.0.0.1:1/none")  # never reachable
    client.close()  # nothing was opened, nothing fails
    with tasklease.Client(dsn) as c:
        assert c.conn.info.parameter_status("application_name") == "tasklease:client"


def test_prepare_threshold_follows_the_environment(dsn, monkeypatch):
    """TASKLEASE_PREPARE_THRESHOLD=none turns psycopg's server-side prepared statements off
    (PgBouncer in transaction mode before 1.21); unset keeps psycopg's default of 5."""
    from tasklease.db import connect

    monkeypatch.delenv("TASKLEASE_PREPARE_THRESHOLD", raising=False)
    with connect(dsn, "test") as conn:
        assert conn.prepare_threshold == 5
    monkeypatch.setenv("TASKLEASE_PREPARE_THRESHOLD", "none")
    with connect(dsn, "test") as conn:
        assert conn.prepare_threshold is None
        for _ in range(8):  # past the default threshold: still nothing prepared
            conn.execute("SELECT tasklease._setting('lease_s')")
        assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0] == 0
    monkeypatch.setenv("TASKLEASE_PREPARE_THRESHOLD", "often")
    with pytest.raises(ValueError):
        connect(dsn, "test")


def test_run_after_a_delay_on_the_database_clock_or_a_timestamp(dsn, conn):
    with tasklease.Client(dsn) as client:
        delayed = client.enqueue({}, delay_s=3600)
        dated = client.enqueue_many([{}], run_after="2031-02-03T04:05:06Z")[0]
        with pytest.raises(ValueError, match="not both"):
            client.enqueue({}, delay_s=1, run_after="2031-01-01")
        snap = client.snapshot(recent=5)
    lag = conn.execute("SELECT extract(epoch FROM run_after - now()) FROM tasklease.tasks "
                       "WHERE id = %s", (delayed,)).fetchone()[0]
    assert 3590 < lag <= 3600
    assert conn.execute("SELECT run_after = '2031-02-03T04:05:06Z' FROM tasklease.tasks "
                        "WHERE id = %s", (dated,)).fetchone()[0]
    assert [(c.status, c.tasks) for c in snap.counts] == [("queued", 2)]
    assert snap.workers == [] and snap.stale == [] and snap.reaper_log == []


def test_dedupe_keys_say_whether_the_task_is_new(dsn):
    import datetime as dt

    with tasklease.Client(dsn) as client:
        first = client.enqueue_unique({"invoice": 42}, "invoice:42", queue="billing")
        again = client.enqueue_unique({"invoice": 42}, "invoice:42", queue="billing")
        assert first == tasklease.Enqueued(first.id, True)
        assert again == tasklease.Enqueued(first.id, False)
        assert client.enqueue({"x": 1}, "billing", dedupe_key="invoice:42") == first.id
        assert client.get(first.id).dedupe_key == "invoice:42"
        ids = client.enqueue_many([{}, {}, {}], "billing",
                                  dedupe_keys=["invoice:42", None, "invoice:43"])
        assert ids[0] == first.id and len(set(ids)) == 3
        results = client.enqueue_tasks([{}, {}], "billing", dedupe_keys=["invoice:43", "new"])
        assert [r.created for r in results] == [False, True]
        assert client.cancel(first.id)
        # Cancelled: free without a window, held within one (seconds or a timedelta).
        assert client.enqueue_unique({}, "invoice:42", "billing", dedupe_for=60).id == first.id
        held = client.enqueue_unique({}, "invoice:42", "billing",
                                     dedupe_for=dt.timedelta(minutes=1))
        assert held == tasklease.Enqueued(first.id, False)
        assert client.enqueue_unique({}, "invoice:42", "billing").created


def test_dedupe_input_errors_are_mapped(dsn):
    with tasklease.Client(dsn) as client:
        with pytest.raises(tasklease.InvalidInput) as empty_key:
            client.enqueue({}, dedupe_key="")
        assert empty_key.value.sqlstate == "TL007"
        with pytest.raises(tasklease.InvalidInput) as wrong_length:
            client.enqueue_many([{}, {}], dedupe_keys=["a"])
        assert wrong_length.value.sqlstate == "TL007"
        with pytest.raises(tasklease.InvalidInput) as negative:
            client.enqueue_unique({}, "k", dedupe_for=-1)
        assert negative.value.sqlstate == "TL002"
