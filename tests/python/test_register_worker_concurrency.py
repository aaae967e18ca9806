"""register_worker with two sessions: concurrent registrations of one worker name serialise.

Before, a registration of a name that had no row yet locked nothing: while session 1's
registration was uncommitted, session 2's waited on the primary key, then overwrote it
(no TL008), and two live processes shared a name.
"""

from __future__ import annotations

import threading

import psycopg
import pytest

REGISTER = "SELECT (tasklease.register_worker(%s, %s, 'host-a', %s)).owner_id"


def _register_in_thread(dsn: str, name: str, incarnation: str, pid: int):
    """Start register_worker in another session; returns (thread, outcome dict)."""
    outcome: dict = {}

    def run() -> None:
        with psycopg.connect(dsn, autocommit=True) as c:
            try:
                c.execute(REGISTER, (name, incarnation, pid))
                outcome["result"] = "registered"
            except psycopg.Error as exc:
                outcome["result"] = exc.sqlstate

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, outcome


def _waiting_on_lock(conn: psycopg.Connection) -> bool:
    return conn.execute(
        "SELECT count(*) > 0 FROM pg_stat_activity "
        "WHERE wait_event_type = 'Lock' AND query LIKE '%register_worker%'"
    ).fetchone()[0]


@pytest.mark.parametrize("first_commits", [True, False])
def test_a_second_registration_waits_for_the_first_and_is_refused(dsn, conn, first_commits):
    first = psycopg.connect(dsn)
    try:
        first.execute(REGISTER, ("w-race", "inc-1", 1))  # open transaction: not yet committed
        thread, outcome = _register_in_thread(dsn, "w-race", "inc-2", 2)
        deadline = 100
        while not _waiting_on_lock(conn) and deadline:
            thread.join(0.05)
            deadline -= 1
        assert _waiting_on_lock(conn), "the second registration should wait for the first"
        if first_commits:
            first.commit()
        else:
            first.rollback()
        thread.join(10)
    finally:
        first.close()
    incarnation = conn.execute(
        "SELECT incarnation FROM tasklease.workers WHERE owner_id = 'w-race'").fetchone()[0]
    if first_commits:
        assert outcome["result"] == "TL008", "the name was taken by a live worker"
        assert incarnation == "inc-1"
    else:
        assert outcome["result"] == "registered", "a rolled-back registration frees the name"
        assert incarnation == "inc-2"


def test_many_concurrent_registrations_of_one_name_leave_exactly_one_winner(dsn, conn):
    barrier = threading.Barrier(8)
    results: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        with psycopg.connect(dsn, autocommit=True) as c:
            barrier.wait()
            try:
                c.execute(REGISTER, ("w-crowd", f"inc-{i}", i))
                r = f"inc-{i}"
            except psycopg.Error as exc:
                r = exc.sqlstate
            with lock:
                results.append(r)

    for _ in range(5):
        conn.execute("DELETE FROM tasklease.workers WHERE owner_id = 'w-crowd'")
        results.clear()
        threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        winners = [r for r in results if r.startswith("inc-")]
        assert len(winners) == 1 and results.count("TL008") == 7, results
        stored = conn.execute(
            "SELECT incarnation FROM tasklease.workers WHERE owner_id = 'w-crowd'"
        ).fetchone()[0]
        assert stored == winners[0]
