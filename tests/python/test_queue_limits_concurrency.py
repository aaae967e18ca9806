"""Per-queue limits and pause with many sessions: however many claimers race (claim_task,
claim_tasks of the queue, claim_tasks of every queue), a queue never has more running tasks
than its max_running at any sampled instant; without the limit the same race goes past it,
so the sampler can see a breach.  A paused queue hands out nothing to a real worker, and
resuming wakes that worker through NOTIFY, not through its poll."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import psycopg
import pytest
import tasklease

LIMIT = 3
CLAIMERS = 8
LIMITED_TASKS = 300
OTHER_TASKS = 200


def enqueue_n(conn: psycopg.Connection, queue: str, n: int) -> None:
    conn.execute(
        "SELECT tasklease.enqueue_many(array_agg(jsonb_build_object('i', i)), %s) "
        "FROM generate_series(1, %s) AS i",
        (queue, n),
    )


def claim(conn: psycopg.Connection, owner: str, style: int) -> list[tuple[int, str, int]]:
    """Three ways to claim, so that every path of the limited claim races with the others."""
    sql = {
        0: "SELECT id, queue, lease_token FROM tasklease.claim_task(%(o)s, 'lim')",
        1: "SELECT id, queue, lease_token FROM tasklease.claim_tasks(%(o)s, 4, 'lim')",
        2: "SELECT id, queue, lease_token FROM tasklease.claim_tasks(%(o)s, 5)",
    }[style]
    return conn.execute(sql, {"o": owner}).fetchall()


def race(dsn: str) -> dict:
    """CLAIMERS sessions claim and complete until every task is done, holding each task a
    few milliseconds; one more session samples the running count of queue lim meanwhile."""
    done = threading.Event()
    errors: list[BaseException] = []
    completed: Counter = Counter()
    samples: list[int] = []
    barrier = threading.Barrier(CLAIMERS + 1)

    def claimer(k: int) -> None:
        rng = random.Random(k)
        try:
            with psycopg.connect(dsn, autocommit=True) as c:
                barrier.wait(timeout=30)
                while not done.is_set():
                    rows = claim(c, f"claimer-{k}", k % 3)
                    if not rows:
                        time.sleep(0.001)
                        continue
                    time.sleep(rng.uniform(0.001, 0.004))  # the handler runs
                    for task_id, queue, token in rows:
                        ok = c.execute("SELECT tasklease.complete_task(%s, %s, %s)",
                                       (task_id, f"claimer-{k}", token)).fetchone()[0]
                        assert ok, f"task {task_id} lost its lease"
                        completed[(task_id, queue)] += 1
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            done.set()

    def sampler() -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as c:
                barrier.wait(timeout=30)
                while not done.is_set():
                    samples.append(c.execute(
                        "SELECT count(*) FROM tasklease.tasks "
                        "WHERE queue = 'lim' AND status = 'running'").fetchone()[0])
                    left = c.execute(
                        "SELECT count(*) FROM tasklease.tasks "
                        "WHERE status IN ('queued', 'running')").fetchone()[0]
                    if left == 0:
                        done.set()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            done.set()

    threads = [threading.Thread(target=claimer, args=(k,)) for k in range(CLAIMERS)]
    threads.append(threading.Thread(target=sampler))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "the race did not finish"
    assert errors == [], errors
    return {"completed": completed, "samples": samples}


def test_max_running_is_never_exceeded_while_many_claimers_race(conn, dsn):
    enqueue_n(conn, "lim", LIMITED_TASKS)
    enqueue_n(conn, "free", OTHER_TASKS)
    conn.execute("SELECT tasklease.set_queue('lim', max_running => %s)", (LIMIT,))

    result = race(dsn)

    samples = result["samples"]
    assert len(samples) >= 100, f"only {len(samples)} samples: the check saw too little"
    assert max(samples) == LIMIT, f"running count of lim peaked at {max(samples)}"
    done = result["completed"]
    assert sum(1 for (_, q) in done if q == "lim") == LIMITED_TASKS
    assert sum(1 for (_, q) in done if q == "free") == OTHER_TASKS
    assert set(done.values()) == {1}, "a task was completed twice"


def test_the_same_race_without_a_limit_goes_past_it(conn, dsn):
    """The control: the sampler does see more than LIMIT running when nothing stops it."""
    enqueue_n(conn, "lim", LIMITED_TASKS)
    enqueue_n(conn, "free", OTHER_TASKS)

    result = race(dsn)

    assert max(result["samples"]) > LIMIT


def test_resuming_a_queue_notifies_its_workers(conn, dsn):
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("LISTEN tasklease")
        conn.execute("SELECT tasklease.set_queue('n', paused => true)")
        assert [n.payload for n in listener.notifies(timeout=0.5, stop_after=1)] == []
        conn.execute("SELECT tasklease.set_queue('n', max_running => 2)")  # still paused
        assert [n.payload for n in listener.notifies(timeout=0.5, stop_after=1)] == []
        conn.execute("SELECT tasklease.set_queue('n', paused => false)")
        assert [n.payload for n in listener.notifies(timeout=5, stop_after=1)] == ["n"]


@pytest.mark.timeout(120)
def test_a_paused_queue_holds_its_tasks_until_resumed_and_resuming_wakes_the_worker(conn, dsn):
    conn.execute("SELECT tasklease.set_queue('p', paused => true)")
    task_id = conn.execute("SELECT tasklease.enqueue('{}', 'p')").fetchone()[0]
    ran = threading.Event()
    worker = tasklease.Worker(dsn, lambda task: ran.set(), queue="p", name="pause-test",
                              poll_interval_s=60.0, install_signals=False)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE query = 'LISTEN tasklease' "
            "AND application_name LIKE 'tasklease:pause-test%')"
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the worker never listened"
            time.sleep(0.1)
        time.sleep(1.0)  # the worker has claimed (nothing) and sleeps up to its 60 s poll
        assert not ran.is_set(), "a paused queue handed out its task"
        assert conn.execute(
            "SELECT state FROM tasklease.queues WHERE queue = 'p'").fetchone() == ("paused",)

        conn.execute("SELECT tasklease.set_queue('p', paused => false)")

        assert ran.wait(15), "resuming did not wake the worker (its poll is 60 s)"
    finally:
        worker.stop()
        thread.join(timeout=60)
    deadline = time.monotonic() + 10
    while conn.execute("SELECT status::text FROM tasklease.tasks WHERE id = %s",
                       (task_id,)).fetchone()[0] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.1)
