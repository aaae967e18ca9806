"""The worker's services in-process against the test database: the completer's per-task
isolation (the threaded Completer and the AsyncWorker's AsyncCompleter, held to the same
cases), and the bounds every worker connection carries."""

from __future__ import annotations

import asyncio
import json
import os

import psycopg
import pytest
from handlers import FLAVOURS, enqueue_many
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from tasklease.aio.completer import AsyncCompleter
from tasklease.aio.link import AsyncLink
from tasklease.metrics import Metrics
from tasklease.worker import Task
from tasklease.worker.completer import Completer
from tasklease.worker.inflight import InFlight
from tasklease.worker.link import Link
from tasklease.worker.outcomes import UNSTORABLE, Outcome
from tasklease.worker.timing import ConnectionBounds

OWNER = "batcher"


def _claimed(conn, n: int) -> list[Task]:
    rows = conn.execute("SELECT id, queue, payload, attempts, lease_token "
                        "FROM tasklease.claim_tasks(%s, %s)", (OWNER, n)).fetchall()
    return [Task(*r) for r in rows]


def _completer(dsn: str, tasks: list[Task]) -> tuple[Completer, Metrics, Link]:
    metrics = Metrics(OWNER)
    inflight = InFlight(OWNER, metrics)
    for t in tasks:
        inflight.add(t)
    link = Link(dsn, OWNER, "complete", metrics, ConnectionBounds(30))
    return Completer(link, OWNER, inflight, metrics, lambda: False, lambda: None), metrics, link


def _store(dsn: str, tasks: list[Task], outcomes: list[Outcome], flavour: str) -> Metrics:
    """Hand the outcomes to a completer of the flavour and flush it once."""
    metrics = Metrics(OWNER)
    inflight = InFlight(OWNER, metrics)
    for t in tasks:
        inflight.add(t)
    bounds = ConnectionBounds(30)
    if flavour == "threads":
        link = Link(dsn, OWNER, "complete", metrics, bounds)
        completer = Completer(link, OWNER, inflight, metrics, lambda: False, lambda: None)
        for o in outcomes:
            completer.put(o)
        completer.flush()
        link.close()
        return metrics

    async def store() -> None:
        alink = AsyncLink(dsn, OWNER, "complete", metrics, bounds)
        acompleter = AsyncCompleter(alink, OWNER, inflight, metrics, lambda: False,
                                    lambda: None)
        for o in outcomes:
            acompleter.put(o)
        await acompleter.flush()
        await alink.close()

    asyncio.run(store())
    return metrics


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_one_poisoned_outcome_in_a_batch_costs_no_other(conn, dsn, settings, flavour):
    """One complete_tasks call would carry all four; two of them the server refuses (too
    large: TL012; JSON it rejects: 22P02).  The other two are completed, the poisoned two
    become handler failures, and nothing is retried for ever."""
    settings("max_result_bytes", 1000)
    enqueue_many(conn, [{"n": i} for i in range(4)], max_attempts=1)
    tasks = _claimed(conn, 4)
    big = json.dumps({"blob": os.urandom(5000).hex()})
    results = ['{"n": 0}', big, '{"r": NaN}', '{"n": 3}']
    metrics = _store(dsn, tasks, [Outcome(t, True, r) for t, r in zip(tasks, results)], flavour)
    rows = {r[0]: r[1:] for r in conn.execute(
        "SELECT id, status::text, result, last_error FROM tasklease.tasks")}
    assert rows[tasks[0].id][:2] == ("completed", {"n": 0})
    assert rows[tasks[3].id][:2] == ("completed", {"n": 3})
    for poisoned in (tasks[1], tasks[2]):
        status, result, error = rows[poisoned.id]
        assert (status, result) == ("failed", None)
        assert error.startswith(UNSTORABLE)
    assert "max_result_bytes" in rows[tasks[1].id][2]
    assert "json" in rows[tasks[2].id][2].lower()
    assert (metrics.value("completed"), metrics.value("failed")) == (2, 2)
    assert metrics.value("in_flight") == 0


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_an_outcome_even_fail_task_refuses_is_dropped_and_the_rest_stored(conn, dsn, flavour):
    enqueue_many(conn, [{"n": i} for i in range(2)])
    good, bad = _claimed(conn, 2)
    bad.lease_token = None  # fail_task refuses it (TL007), whatever is retried
    metrics = _store(dsn, [good, bad], [Outcome(bad, False, error="boom"),
                                        Outcome(good, True, '{"ok": true}')], flavour)
    assert conn.execute("SELECT status::text FROM tasklease.tasks WHERE id = %s",
                        (good.id,)).fetchone()[0] == "completed"
    assert conn.execute("SELECT status::text FROM tasklease.tasks WHERE id = %s",
                        (bad.id,)).fetchone()[0] == "running", "left to the reaper"
    assert metrics.value("dropped_outcomes") == 1 and metrics.value("in_flight") == 0


def test_worker_connections_bound_statements_and_keep_the_dsns_options(dsn):
    with_options = make_conninfo(dsn, options="-c work_mem=5MB")
    link = Link(with_options, "bounded", "renew", Metrics("bounded"), ConnectionBounds(2.5))
    try:
        timeout, work_mem, app = link.once(lambda c: c.execute(
            "SELECT current_setting('statement_timeout'), current_setting('work_mem'), "
            "current_setting('application_name')").fetchone())
        assert (timeout, work_mem, app) == ("2500ms", "5MB", "tasklease:bounded")
        params = conninfo_to_dict(link.conn.info.dsn)
        assert params["keepalives"] == "1" and params["tcp_user_timeout"] == "2500"
        try:
            link.once(lambda c: c.execute("SELECT pg_sleep(5)"))
            raise AssertionError("statement_timeout did not cancel the statement")
        except psycopg.errors.QueryCanceled:
            pass
        link.rename("renamed")
        assert link.once(lambda c: c.execute(
            "SELECT current_setting('application_name')").fetchone()[0]) == "tasklease:renamed"
        assert link.reconnects == 0
    finally:
        link.close()


def test_an_exchange_with_a_poisoned_outcome_still_claims(conn, dsn, settings):
    """Outcomes and a claim go in one statement; when a result poisons it, the claim is sent
    alone and the outcomes one by one: the claim is not lost, the good outcome is stored."""
    from tasklease.worker.claimer import Claimer

    settings("max_result_bytes", 1000)
    enqueue_many(conn, [{"n": i} for i in range(5)], max_attempts=1)
    good, bad = _claimed(conn, 2)
    completer, metrics, link = _completer(dsn, [good, bad])
    claimer = Claimer(link, OWNER, None, 600, lambda: False)
    completer.put(Outcome(good, True, '{"ok": true}'))
    completer.put(Outcome(bad, True, json.dumps({"blob": "x" * 5000})))
    rows = completer.exchange(claimer.statement(2))
    assert len(rows) == 2, "the claim survived the poisoned completion"
    completer.put(Outcome(claimer.tasks(rows, 0.0)[0], True, None))
    assert len(completer.exchange(claimer.statement(5))) == 1, "one task was left to claim"
    link.close()
    counts = dict(conn.execute(
        "SELECT status::text, count(*) FROM tasklease.tasks GROUP BY 1").fetchall())
    assert counts == {"completed": 2, "failed": 1, "running": 2}
    assert (metrics.value("completed"), metrics.value("failed")) == (2, 1)
