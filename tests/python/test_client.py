"""tasklease.Client and tasklease.AsyncClient: enqueue, get, cancel, stats; errors mapped
from SQLSTATEs; a lost connection.  Every test that takes ``make_client`` runs with both
clients (the async one driven through a small synchronous facade)."""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any

import psycopg
import pytest
import tasklease
from handlers import wait_until
from tasklease.errors import ConnectionLost, InvalidQueue


class SyncFacade:
    """An AsyncClient called from synchronous test code: each coroutine method runs to its
    end on a loop of the facade's own."""

    def __init__(self, client: tasklease.AsyncClient) -> None:
        self._client = client
        self._loop = asyncio.new_event_loop()

    def __enter__(self) -> SyncFacade:
        self._loop.run_until_complete(self._client.open())
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._loop.run_until_complete(self._client.close())

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if inspect.iscoroutinefunction(attr):
            return lambda *a, **k: self._loop.run_until_complete(attr(*a, **k))
        return attr


@pytest.fixture(params=["Client", "AsyncClient"])
def make_client(request):
    made: list[Any] = []

    def make(*args: Any, **kwargs: Any) -> Any:
        if request.param == "Client":
            client = tasklease.Client(*args, **kwargs)
        else:
            client = SyncFacade(tasklease.AsyncClient(*args, **kwargs))
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_enqueue_get_cancel_and_stats(dsn, make_client):
    with make_client(dsn) as client:
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


def test_errors_are_mapped_from_sqlstates(dsn, make_client):
    client = make_client(dsn)
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


def test_no_io_before_first_use(dsn, make_client):
    client = make_client("postgresql://nobody@127.0.0.1:1/none")  # never reachable
    client.close()  # nothing was opened, nothing fails
    with make_client(dsn) as c:
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


def test_run_after_a_delay_on_the_database_clock_or_a_timestamp(dsn, conn, make_client):
    with make_client(dsn) as client:
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


def test_dedupe_keys_say_whether_the_task_is_new(dsn, make_client):
    import datetime as dt

    with make_client(dsn) as client:
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


def test_dedupe_input_errors_are_mapped(dsn, make_client):
    with make_client(dsn) as client:
        with pytest.raises(tasklease.InvalidInput) as empty_key:
            client.enqueue({}, dedupe_key="")
        assert empty_key.value.sqlstate == "TL007"
        with pytest.raises(tasklease.InvalidInput) as wrong_length:
            client.enqueue_many([{}, {}], dedupe_keys=["a"])
        assert wrong_length.value.sqlstate == "TL007"
        with pytest.raises(tasklease.InvalidInput) as negative:
            client.enqueue_unique({}, "k", dedupe_for=-1)
        assert negative.value.sqlstate == "TL002"


# ------------------------------------------------------------------ a lost connection
def _backend(conn, app: str = "tasklease:client") -> int:
    return wait_until(lambda: conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app,)).fetchone(),
        what="the client's backend")[0]


def _terminate(conn, pid: int) -> None:
    conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    wait_until(lambda: not conn.execute(
        "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone(),
        what="the backend to go")


def _waiting_on_a_lock(conn, not_pid: int = 0) -> int:
    return wait_until(lambda: conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'tasklease:client' "
        "AND wait_event_type = 'Lock' AND pid <> %s", (not_pid,)).fetchone(),
        what="the client's statement to wait on the lock")[0]


def _in_thread(fn) -> dict:
    out: dict = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    out["thread"] = threading.Thread(target=run)
    out["thread"].start()
    return out


def test_a_backend_terminated_while_idle_is_replaced_before_sending(conn, dsn, make_client):
    with make_client(dsn) as client:
        first = client.enqueue({"n": 1})
        pid = _backend(conn)
        _terminate(conn, pid)
        second = client.enqueue({"n": 2})  # no error: nothing was sent on the dead one
        assert second > first and _backend(conn) != pid
    assert conn.execute("SELECT count(*) FROM tasklease.tasks").fetchone()[0] == 2


def test_a_write_lost_after_sending_says_it_may_have_committed(conn, dsn, make_client):
    with make_client(dsn) as client, psycopg.connect(dsn) as blocker:
        client.stats()
        blocker.execute("LOCK TABLE tasklease.tasks IN ACCESS EXCLUSIVE MODE")
        call = _in_thread(lambda: client.enqueue({"n": 1}))
        _terminate(conn, _waiting_on_a_lock(conn))
        call["thread"].join(30)
        blocker.rollback()
        err = call.get("error")
        assert isinstance(err, ConnectionLost), call
        assert err.may_have_committed is True and err.call == "enqueue"
        assert "may have committed" in str(err)
        client.enqueue({"n": 2})  # the next call reconnects
    assert [r[0] for r in conn.execute("SELECT payload FROM tasklease.tasks")] == [{"n": 2}]


def test_a_keyed_enqueue_lost_after_sending_is_sent_again_and_adds_one_task(
        conn, dsn, make_client):
    """With a de-duplication key a resent enqueue cannot add a second task, so the client
    sends it again instead of raising ConnectionLost."""
    with make_client(dsn) as client, psycopg.connect(dsn) as blocker:
        client.stats()
        blocker.execute("LOCK TABLE tasklease.tasks IN ACCESS EXCLUSIVE MODE")
        call = _in_thread(lambda: client.enqueue({"n": 1}, dedupe_key="once"))
        first = _waiting_on_a_lock(conn)
        _terminate(conn, first)
        _waiting_on_a_lock(conn, not_pid=first)
        blocker.rollback()
        call["thread"].join(30)
        assert "error" not in call, call
    assert conn.execute("SELECT array_agg(id) FROM tasklease.tasks WHERE dedupe_key = 'once'"
                        ).fetchone()[0] == [call["value"]]


def test_a_read_lost_after_sending_is_sent_again(conn, dsn, make_client):
    with make_client(dsn) as client, psycopg.connect(dsn) as blocker:
        task_id = client.enqueue({"n": 1})
        blocker.execute("LOCK TABLE tasklease.tasks IN ACCESS EXCLUSIVE MODE")
        call = _in_thread(lambda: client.get(task_id))
        first = _waiting_on_a_lock(conn)
        _terminate(conn, first)
        _waiting_on_a_lock(conn, not_pid=first)  # sent again on a new connection
        blocker.rollback()
        call["thread"].join(30)
        assert "error" not in call, call
        assert call["value"].id == task_id


def test_a_client_that_cannot_reconnect_says_nothing_was_sent(conn, dsn, make_client):
    client = make_client(dsn, connect_timeout_s=0.5)
    client.enqueue({"n": 1})
    inner = getattr(client, "_client", client)  # the AsyncClient behind a facade
    inner.dsn = "postgresql://nobody@127.0.0.1:1/none"  # the server is gone for good
    _terminate(conn, _backend(conn))
    with pytest.raises(ConnectionLost) as lost:
        client.enqueue({"n": 2})
    assert lost.value.may_have_committed is False and "was not sent" in str(lost.value)
