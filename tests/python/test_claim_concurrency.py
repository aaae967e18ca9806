"""Concurrent claims: sessions claiming at the same time never get the same task, and a batch
claim never takes more rows than asked for (the MATERIALIZED CTE pitfall of DESIGN.md)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import psycopg
import pytest

ClaimFn = Callable[[psycopg.Connection, str], list[int]]


def enqueue_n(conn: psycopg.Connection, n: int, queue: str = "default") -> list[int]:
    rows = conn.execute(
        "SELECT tasklease.enqueue_many(array_agg(jsonb_build_object('i', i)), %s) "
        "FROM generate_series(1, %s) AS i",
        (queue, n),
    ).fetchall()
    return [r[0] for r in rows]


def claim_one(conn: psycopg.Connection, owner: str) -> list[int]:
    return [r[0] for r in conn.execute("SELECT id FROM tasklease.claim_task(%s)", (owner,))]


def claim_five(conn: psycopg.Connection, owner: str) -> list[int]:
    return [r[0] for r in conn.execute("SELECT id FROM tasklease.claim_tasks(%s, 5)", (owner,))]


def run_claimers(dsn: str, claimers: list[ClaimFn]) -> list[list[int]]:
    """Each claimer gets its own connection and claims until the queue is empty."""
    results: list[list[int]] = [[] for _ in claimers]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(claimers))

    def loop(i: int) -> None:
        owner = f"claimer-{i}"
        try:
            with psycopg.connect(dsn, autocommit=True) as c:
                barrier.wait(timeout=30)
                while True:
                    got = claimers[i](c, owner)
                    if not got:
                        return
                    results[i].extend(got)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(len(claimers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "a claimer did not finish"
    assert errors == []
    return results


def assert_each_claimed_once(conn: psycopg.Connection, ids: list[int], results) -> None:
    claimed = [i for r in results for i in r]
    counts = Counter(claimed)
    twice = [i for i, n in counts.items() if n > 1]
    assert twice == [], f"tasks claimed by two sessions: {twice[:10]}"
    assert sorted(claimed) == sorted(ids)
    # the table agrees: each task running once, owned by the session that got it
    owner_of = {i: f"claimer-{k}" for k, r in enumerate(results) for i in r}
    rows = conn.execute(
        "SELECT id, owner_id, attempts, status::text FROM tasklease.tasks ORDER BY id"
    ).fetchall()
    assert all(status == "running" and attempts == 1 for _, _, attempts, status in rows)
    assert {i: owner for i, owner, _, _ in rows} == owner_of
    tokens = conn.execute(
        "SELECT count(DISTINCT lease_token), count(*) FROM tasklease.tasks"
    ).fetchone()
    assert tokens[0] == tokens[1], "two claims got the same lease token"


def test_two_sessions_never_claim_the_same_task(conn, dsn):
    ids = enqueue_n(conn, 500)
    results = run_claimers(dsn, [claim_one, claim_one])
    assert_each_claimed_once(conn, ids, results)
    assert all(results), "both sessions should have claimed something"


def test_eight_sessions_mixing_single_and_batch_claims(conn, dsn):
    ids = enqueue_n(conn, 2000)
    claimers: list[ClaimFn] = [claim_one, claim_five] * 4
    results = run_claimers(dsn, claimers)
    assert_each_claimed_once(conn, ids, results)


@pytest.mark.parametrize("queue", [None, "bulk"])
def test_batch_claim_of_one_takes_exactly_one_row(conn, queue):
    enqueue_n(conn, 5000, queue or "default")
    enqueue_n(conn, 3000, "other")
    conn.execute("ANALYZE tasklease.tasks")
    for round_ in range(3):
        rows = conn.execute(
            "SELECT id FROM tasklease.claim_tasks('solo', 1, %s)", (queue,)
        ).fetchall()
        assert len(rows) == 1
        running = conn.execute(
            "SELECT count(*) FROM tasklease.tasks WHERE status = 'running'"
        ).fetchone()[0]
        assert running == round_ + 1, "claim_tasks(owner, 1) changed more than one row"


def test_claim_task_returns_one_row_per_call_under_a_nested_loop_plan(conn):
    """Force the plan shape that turned LIMIT 1 into 1000 claims in the pitfall."""
    enqueue_n(conn, 3000)
    conn.execute("ANALYZE tasklease.tasks")
    with conn.transaction():
        conn.execute("SET LOCAL enable_hashjoin = off")
        conn.execute("SET LOCAL enable_mergejoin = off")
        conn.execute("SET LOCAL enable_seqscan = off")
        rows = conn.execute("SELECT id FROM tasklease.claim_task('nested')").fetchall()
        more = conn.execute("SELECT id FROM tasklease.claim_tasks('nested', 3)").fetchall()
    assert len(rows) == 1 and len(more) == 3
    running = conn.execute(
        "SELECT count(*) FROM tasklease.tasks WHERE status = 'running'"
    ).fetchone()[0]
    assert running == 4
