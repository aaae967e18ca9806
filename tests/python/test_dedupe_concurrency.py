"""De-duplication keys under concurrency, each case with real sessions: producers racing
with one key get one task; a rolled-back insert frees the key; a key is free again once its
task finished, unless dedupe_for keeps it, including when the task finishes in the instant
between a producer's look-up and its insert."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
import tasklease
from tasklease import Enqueued

KEY = "invoice:42"
QUEUE = "billing"


def enqueue(conn: psycopg.Connection, key: str = KEY, window_s: float | None = None) -> Enqueued:
    row = conn.execute(
        "SELECT id, created FROM tasklease.enqueue_tasks(ARRAY['{}']::jsonb[], %s, "
        "dedupe_keys => ARRAY[%s], dedupe_for => make_interval(secs => %s))",
        (QUEUE, key, window_s),
    ).fetchone()
    return Enqueued(*row)


def tasks_with_key(conn: psycopg.Connection, key: str = KEY) -> list[tuple[int, str]]:
    return conn.execute(
        "SELECT id, status::text FROM tasklease.tasks WHERE dedupe_key = %s ORDER BY id", (key,)
    ).fetchall()


def run_task(conn: psycopg.Connection, task_id: int) -> None:
    """Claim and complete exactly this task (the only runnable one of its queue)."""
    row = conn.execute(
        "SELECT id, lease_token FROM tasklease.claim_task('finisher', %s)", (QUEUE,)
    ).fetchone()
    assert row is not None and row[0] == task_id
    assert conn.execute(
        "SELECT tasklease.complete_task(%s, 'finisher', %s)", (task_id, row[1])
    ).fetchone()[0]


class Background:
    """Runs fn(conn) on its own connection in a thread; result() waits for it."""

    def __init__(self, dsn: str, fn: Callable[[psycopg.Connection], Any], app: str) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self.conn = psycopg.connect(dsn, autocommit=True, application_name=app)
        self.pid = self.conn.info.backend_pid
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn) -> None:
        try:
            self._value = fn(self.conn)
        except BaseException as exc:  # reported by result()
            self._error = exc

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self, timeout: float = 30) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the background session did not finish"
        self.conn.close()
        if self._error is not None:
            raise self._error
        return self._value


def wait_until_waiting(conn: psycopg.Connection, pid: int, kind: str, timeout: float = 10) -> None:
    """Until backend pid waits for a lock of this kind (transactionid, advisory, ...)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()
        if row == ("Lock", kind):
            return
        time.sleep(0.02)
    raise AssertionError(f"backend {pid} never waited for a {kind} lock (last: {row})")


def test_two_producers_with_one_key_get_one_task(conn, dsn):
    with psycopg.connect(dsn) as first:  # a transaction: its insert is not committed yet
        mine = enqueue(first)
        assert mine.created
        second = Background(dsn, enqueue, "tl-test:second")
        wait_until_waiting(conn, second.pid, "transactionid")
        assert not second.done(), "the second producer must wait for the first to decide"
        first.commit()
    theirs = second.result()
    assert theirs == Enqueued(mine.id, False)
    assert tasks_with_key(conn) == [(mine.id, "queued")]


def test_a_rolled_back_insert_frees_the_key(conn, dsn):
    with psycopg.connect(dsn) as first:
        mine = enqueue(first)
        second = Background(dsn, enqueue, "tl-test:second")
        wait_until_waiting(conn, second.pid, "transactionid")
        first.rollback()
    theirs = second.result()
    assert theirs.created and theirs.id != mine.id
    assert tasks_with_key(conn) == [(theirs.id, "queued")]


def test_many_producers_racing_with_one_key_add_one_task(conn, dsn):
    producers = 16
    barrier = threading.Barrier(producers)
    results: list[Enqueued] = []
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            with tasklease.Client(dsn) as client:
                client.open()
                barrier.wait(timeout=30)
                results.append(client.enqueue_unique({"from": "race"}, KEY, QUEUE))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=produce) for _ in range(producers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(results) == producers
    assert sum(r.created for r in results) == 1, results
    assert len({r.id for r in results}) == 1
    assert tasks_with_key(conn) == [(results[0].id, "queued")]


def test_a_key_is_free_again_once_its_task_finished(conn, dsn):
    first = enqueue(conn)
    assert enqueue(conn) == Enqueued(first.id, False), "queued: the key is held"
    with psycopg.connect(dsn, autocommit=True) as worker:
        run_task(worker, first.id)
    with psycopg.connect(dsn, autocommit=True) as producer:
        again = enqueue(producer)
        assert again.created and again.id != first.id
        producer.execute("SELECT tasklease.cancel_task(%s)", (again.id,))
        within = enqueue(producer, key="other")
    with psycopg.connect(dsn, autocommit=True) as worker:
        run_task(worker, within.id)
    with psycopg.connect(dsn, autocommit=True) as producer:
        held = enqueue(producer, key="other", window_s=60)
    assert held == Enqueued(within.id, False), "finished within dedupe_for: the key is held"


@contextmanager
def paused_inserts(conn: psycopg.Connection, app: str, lock: int) -> Iterator[None]:
    """Make the next INSERT into tasklease.tasks by sessions named app wait on an advisory
    lock held by conn: a producer stopped between its look-up and its insert."""
    conn.execute(
        "CREATE FUNCTION public.tl_test_pause() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN IF current_setting('application_name') = " + f"'{app}'"
        + f" THEN PERFORM pg_advisory_xact_lock({lock}); END IF; RETURN new; END $$"
    )
    conn.execute(
        "CREATE TRIGGER tl_test_pause BEFORE INSERT ON tasklease.tasks "
        "FOR EACH ROW EXECUTE FUNCTION public.tl_test_pause()"
    )
    try:
        yield
    finally:
        conn.execute("DROP TRIGGER IF EXISTS tl_test_pause ON tasklease.tasks")
        conn.execute("DROP FUNCTION IF EXISTS public.tl_test_pause()")


@pytest.mark.parametrize("window_s, holds", [(60, True), (None, False)])
def test_a_task_finishing_between_look_up_and_insert(conn, dsn, window_s, holds):
    """The producer found no holder; before its INSERT runs, another producer's task with the
    key is enqueued, run and completed.  The INSERT then meets that task in the unique index
    and looks again: within a window the finished task still holds the key; without one the
    key moves to the producer's new task."""
    lock = 715_001
    with paused_inserts(conn, "tl-test:late", lock), psycopg.connect(dsn) as gate:
        gate.execute("SELECT pg_advisory_lock(%s)", (lock,))
        late = Background(dsn, lambda c: enqueue(c, window_s=window_s), "tl-test:late")
        wait_until_waiting(conn, late.pid, "advisory")
        with psycopg.connect(dsn, autocommit=True) as other:
            finished = enqueue(other)
            run_task(other, finished.id)
        gate.execute("SELECT pg_advisory_unlock(%s)", (lock,))
        gate.commit()
        result = late.result()
    if holds:
        assert result == Enqueued(finished.id, False)
        assert tasks_with_key(conn) == [(finished.id, "completed")]
    else:
        assert result.created and result.id != finished.id
        assert tasks_with_key(conn) == [(result.id, "queued")], "the key moved to the new task"
