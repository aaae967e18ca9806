"""The reaper against itself and against live workers, with real concurrent sessions.

Races are built deterministically: the worker session holds its transaction open (row locks
taken, changes not committed) while the reaper runs, then commits, then the reaper runs again.
Leases are made stale by backdating rows, never by sleeping."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

STALE_TASKS = 600
REAP_BATCH = 50


# ------------------------------------------------------------------ helpers


def claim(conn: psycopg.Connection, owner: str, n: int = 1) -> list[tuple[int, int]]:
    """(id, lease_token) of n fresh tasks claimed by owner."""
    conn.execute(
        "SELECT tasklease.enqueue_many(array_agg(to_jsonb(i))) FROM generate_series(1, %s) AS i",
        (n,),
    )
    rows = conn.execute(
        "SELECT id, lease_token FROM tasklease.claim_tasks(%s, %s, lease_s => 600)", (owner, n)
    ).fetchall()
    assert len(rows) == n
    return rows


def expire_leases(conn: psycopg.Connection, ids: list[int]) -> None:
    conn.execute(
        "UPDATE tasklease.tasks SET lease_expires_at = now() - interval '1 s' WHERE id = ANY(%s)",
        (ids,),
    )


def kill_heartbeat(conn: psycopg.Connection, owner: str) -> None:
    """Make owner's workers row older than worker_ttl_s (dead by heartbeat)."""
    conn.execute(
        "UPDATE tasklease.workers SET last_heartbeat = now() - make_interval(secs => "
        "(SELECT value FROM tasklease.settings WHERE name = 'worker_ttl_s') + 30) "
        "WHERE owner_id = %s",
        (owner,),
    )


def reap(conn: psycopg.Connection, batch: int | None = None) -> list[tuple]:
    return conn.execute(
        "SELECT task_id, action, reason FROM tasklease.reap_stale_tasks(%s)", (batch,)
    ).fetchall()


def in_thread(fn: Callable[[], Any], timeout: float = 30) -> Any:
    """Run fn in another thread (its own session) and return its result or raise its error."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # re-raised below
            out["error"] = exc

    t = threading.Thread(target=target)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "the call blocked on a lock held by the other session"
    if "error" in out:
        raise out["error"]
    return out["value"]


def reap_in_thread(dsn: str) -> list[tuple]:
    def run() -> list[tuple]:
        with psycopg.connect(dsn, autocommit=True) as c:
            return reap(c)

    return in_thread(run)


def log_of(conn: psycopg.Connection, task_id: int) -> list[tuple]:
    return conn.execute(
        "SELECT action, reason, actor FROM tasklease.reaper_log WHERE task_id = %s ORDER BY id",
        (task_id,),
    ).fetchall()


def task(conn: psycopg.Connection, task_id: int) -> tuple:
    return conn.execute(
        "SELECT status::text, owner_id, lease_token, requeue_count, lease_expires_at > now() "
        "FROM tasklease.tasks WHERE id = %s",
        (task_id,),
    ).fetchone()


# ------------------------------------------------------------------ two reapers


def test_two_concurrent_reapers_act_on_each_stale_task_once(conn, dsn, cron_paused):
    ids = [i for i, _ in claim(conn, "doomed", STALE_TASKS)]
    expire_leases(conn, ids)
    results: list[list[tuple]] = [[], []]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def reaper(k: int) -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as c:
                barrier.wait(timeout=30)
                while batch := reap(c, REAP_BATCH):
                    assert len(batch) <= REAP_BATCH
                    results[k].extend(batch)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=reaper, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert errors == []
    assert reap(conn) == [], "stale tasks were left behind"

    acted = Counter(row[0] for r in results for row in r)
    assert [i for i, n in acted.items() if n > 1] == []
    assert sorted(acted) == sorted(ids)
    assert all(row[1:] == ("requeued", "lease_expired") for r in results for row in r)
    per_task = dict(
        conn.execute(
            "SELECT task_id, count(*) FROM tasklease.reaper_log GROUP BY task_id"
        ).fetchall()
    )
    assert per_task == dict.fromkeys(ids, 1)
    states = conn.execute(
        "SELECT status::text, requeue_count, owner_id IS NULL, count(*) "
        "FROM tasklease.tasks GROUP BY 1, 2, 3"
    ).fetchall()
    assert states == [("queued", 1, True, STALE_TASKS)]


# ------------------------------------------------------------------ reaper against renewal


def test_renewal_that_commits_before_the_reaper_decides_keeps_the_task(conn, dsn, cron_paused):
    ((kept, token),) = claim(conn, "w")
    ((control, _),) = claim(conn, "gone")
    expire_leases(conn, [kept, control])

    with psycopg.connect(dsn) as w:  # not autocommit: one open transaction
        renewed = w.execute("SELECT tasklease.renew_lease(%s, 'w', %s)", (kept, token)).fetchone()[
            0
        ]
        assert renewed is not None, "an expired but unreaped lease is still held"
        first = reap_in_thread(dsn)  # W holds the row lock: SKIP LOCKED passes it by
        w.commit()
    second = reap(conn)

    assert [r[0] for r in first] == [control], "the control task must be reaped"
    assert second == []
    assert log_of(conn, kept) == []
    status, owner, lease_token, requeues, fresh = task(conn, kept)
    assert (status, owner, lease_token, requeues, fresh) == ("running", "w", token, 0, True)
    assert (
        conn.execute("SELECT tasklease.complete_task(%s, 'w', %s)", (kept, token)).fetchone()[0]
        is True
    )


@pytest.mark.parametrize("renew_too", [False, True], ids=["heartbeat-only", "heartbeat+renew"])
def test_heartbeat_in_flight_protects_the_owners_task(conn, dsn, cron_paused, renew_too):
    """DESIGN.md's heartbeat race: the worker row is stale, the lease fresh; the worker is
    heartbeating (and renewing) right now in an open transaction.  The reaper must not take
    the task, neither while that transaction is open nor after it committed."""
    conn.execute("SELECT tasklease.heartbeat('w'), tasklease.heartbeat('dead')")
    ((alive, token),) = claim(conn, "w")
    ((control, _),) = claim(conn, "dead")
    kill_heartbeat(conn, "w")
    kill_heartbeat(conn, "dead")
    dry = conn.execute("SELECT task_id, reason FROM tasklease.reap_stale_tasks(dry_run => true)")
    assert sorted(dry.fetchall()) == [(alive, "owner_dead"), (control, "owner_dead")]

    with psycopg.connect(dsn) as w:
        w.execute("SELECT tasklease.heartbeat('w')")
        if renew_too:
            w.execute("SELECT tasklease.renew_lease(%s, 'w', %s)", (alive, token))
        first = reap_in_thread(dsn)
        w.commit()
    second = reap(conn)

    assert first == [(control, "requeued", "owner_dead")]
    assert second == []
    assert log_of(conn, alive) == []
    assert task(conn, alive)[:4] == ("running", "w", token, 0)


def test_expired_lease_renewed_in_open_transaction_is_not_reaped_by_owner_rule(
    conn, dsn, cron_paused
):
    """Both rules at once: the lease expired and the heartbeat is stale; the worker wakes up,
    heartbeats and renews in one transaction that is still open when the reaper runs."""
    conn.execute("SELECT tasklease.heartbeat('w')")
    ((alive, token),) = claim(conn, "w")
    expire_leases(conn, [alive])
    kill_heartbeat(conn, "w")

    with psycopg.connect(dsn) as w:
        w.execute("SELECT tasklease.heartbeat('w')")
        assert (
            w.execute("SELECT tasklease.renew_lease(%s, 'w', %s)", (alive, token)).fetchone()[0]
            is not None
        )
        first = reap_in_thread(dsn)
        w.commit()

    assert first == []
    assert reap(conn) == []
    assert task(conn, alive)[:5] == ("running", "w", token, 0, True)


# ------------------------------------------------------------------ the fenced loser


def test_fenced_loser_cannot_touch_a_requeued_task(conn, cron_paused):
    ((tid, old),) = claim(conn, "w")
    expire_leases(conn, [tid])
    assert reap(conn) == [(tid, "requeued", "lease_expired")]

    assert (
        conn.execute(
            "SELECT tasklease.complete_task(%s, 'w', %s, '{\"late\": true}')", (tid, old)
        ).fetchone()[0]
        is False
    )
    assert (
        conn.execute("SELECT tasklease.fail_task(%s, 'w', %s, 'late')", (tid, old)).fetchone()[0]
        is None
    )
    assert (
        conn.execute("SELECT tasklease.renew_lease(%s, 'w', %s)", (tid, old)).fetchone()[0] is None
    )
    assert task(conn, tid)[:3] == ("queued", None, None)

    # even re-claimed by the same worker name, the old token stays dead
    conn.execute("UPDATE tasklease.tasks SET run_after = now() WHERE id = %s", (tid,))
    ((again, new),) = conn.execute(
        "SELECT id, lease_token FROM tasklease.claim_task('w')"
    ).fetchall()
    assert again == tid and new > old
    assert (
        conn.execute("SELECT tasklease.complete_task(%s, 'w', %s)", (tid, old)).fetchone()[0]
        is False
    )
    assert (
        conn.execute("SELECT tasklease.renew_lease(%s, 'w', %s)", (tid, old)).fetchone()[0] is None
    )
    assert (
        conn.execute(
            "SELECT tasklease.complete_task(%s, 'w', %s, '{\"ok\": 1}')", (tid, new)
        ).fetchone()[0]
        is True
    )
    assert conn.execute(
        "SELECT status::text, result FROM tasklease.tasks WHERE id = %s", (tid,)
    ).fetchone() == ("completed", {"ok": 1})


def test_workers_sharing_the_reaper_run_it_once_per_interval_without_waiting(
    conn, dsn, cron_paused
):
    """reap_if_due from many workers at once: one of them reaps, the others return at once
    (they never queue behind the reaper), and every stale task is acted on once."""
    barrier = threading.Barrier(6)
    for round_ in range(5):
        conn.execute("UPDATE tasklease.reaper_runs SET last_run_at = '-infinity'")
        ids = [i for i, _ in claim(conn, f"gone-{round_}", 20)]
        expire_leases(conn, ids)
        results: list[tuple[str, int, float]] = []

        def run(k: int, results: list = results) -> None:
            with psycopg.connect(dsn, autocommit=True) as c:
                barrier.wait()
                t0 = c.execute("SELECT clock_timestamp()").fetchone()[0]
                n = len(c.execute("SELECT * FROM tasklease.reap_if_due(%s)",
                                  (f"live-{k}",)).fetchall())
                waited = c.execute("SELECT clock_timestamp() - %s", (t0,)).fetchone()[0]
                results.append((f"live-{k}", n, waited.total_seconds()))

        threads = [threading.Thread(target=run, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        reapers = [r for r in results if r[1] > 0]
        assert len(results) == 6 and len(reapers) == 1, results
        assert reapers[0][1] == 20, "one run acted on every stale task"
        assert max(r[2] for r in results if r[1] == 0) < 1.0, "nobody waited for the reaper"
        actors = Counter(a for (a,) in conn.execute(
            "SELECT actor FROM tasklease.reaper_log WHERE task_id = ANY(%s)", (ids,)))
        assert actors == {f"reap_if_due:{reapers[0][0]}": 20}
