"""tasklease through PgBouncer in transaction pooling mode (Debian's pgbouncer, started by
the test harness in front of the throwaway cluster: scripts/pgbouncer.sh).

In transaction mode consecutive transactions of one client may run on different server
connections, so session state (server-side prepared statements, LISTEN, SET) does not
follow the client.  ``--pooler transaction`` is the switch: no prepared statements, no
LISTEN (polling, or a direct --listen-dsn), each worker statement bounded in its own
transaction.  What it does not cover is an error with a clear message, never a hang.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import tasklease
from handlers import (
    FLAVOURS,
    HANDLERS,
    HERE,
    REPO_ROOT,
    WorkerProcess,
    reset_witness,
    status_counts,
    wait_until,
)
from tasklease.aio.link import AsyncLink
from tasklease.aio.listener import check_listen as acheck_listen
from tasklease.db import translate_errors
from tasklease.errors import PoolerMisconfigured
from tasklease.metrics import Metrics
from tasklease.pooling import Pooling, check_listen
from tasklease.worker.link import Link
from tasklease.worker.timing import ConnectionBounds

POOLED = Pooling("transaction")


def _cli(dsn: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(REPO_ROOT / "python")]))
    env.pop("TASKLEASE_POOLER", None)
    return subprocess.run([sys.executable, "-m", "tasklease", *args, "--dsn", dsn],
                          capture_output=True, text=True, env=env, timeout=120, cwd=str(HERE))


# ------------------------------------------------------------------ commands
def test_cli_commands_work_concurrently_through_a_transaction_pooler(dsn, conn, pooler_dsn):
    commands = [("enqueue", '{"via": "pgbouncer"}', "--queue", "pooled")] * 8 + \
        [("status", "--json"), ("reap", "--dry-run"), ("reap",), ("periodic", "list")] * 4
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(
            lambda a: _cli(pooler_dsn, *a, "--pooler", "transaction"), commands))
    failed = [(r.args, r.stderr) for r in results if r.returncode != 0]
    assert not failed, failed
    assert conn.execute(
        "SELECT count(*) FROM tasklease.tasks WHERE queue = 'pooled'").fetchone()[0] == 8


def test_migrate_says_it_must_go_direct(pooler_dsn):
    proc = _cli(pooler_dsn, "migrate", "--pooler", "transaction")
    assert proc.returncode == 2, proc.stderr
    assert "direct DSN" in proc.stderr and "advisory lock" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------ misconfigurations
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_worker_not_told_about_the_pooler_fails_at_once(dsn, pooler_dsn, flavour):
    proc = _cli(pooler_dsn, "worker", HANDLERS[flavour]["echo"], "--name", "untold")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--pooler transaction" in lines[0], lines
    assert "options" in lines[0]


def test_listen_through_the_pooler_is_refused_at_start(dsn, conn, pooler_dsn):
    """(The threaded worker's check is the same function: the probe test below.)"""
    proc = _cli(pooler_dsn, "worker", HANDLERS["asyncio"]["echo"], "--name", "deaf",
                "--pooler", "transaction", "--listen-dsn", pooler_dsn)
    assert proc.returncode == 2, proc.stderr
    assert "does not receive notifications" in proc.stderr and "--listen-dsn" in proc.stderr
    assert conn.execute("SELECT count(*) FROM tasklease.workers").fetchone()[0] == 0, \
        "refused before taking a name"


def test_the_listen_probe_tells_a_pooler_from_a_direct_connection(dsn, pooler_dsn):
    check_listen(dsn, "probe", Pooling())
    asyncio.run(acheck_listen(dsn, "probe", Pooling()))
    with pytest.raises(PoolerMisconfigured, match="does not receive notifications"):
        check_listen(pooler_dsn, "probe", POOLED)
    with pytest.raises(PoolerMisconfigured, match="does not receive notifications"):
        asyncio.run(acheck_listen(pooler_dsn, "probe", POOLED))


def test_a_prepared_statement_lost_by_the_pooler_is_named(dsn, pooler_dsn):
    """A client not told about the pooler prepares a statement on one server connection;
    while another client holds that one, its next execution lands on another."""
    holders: list[psycopg.Connection] = []
    with tasklease.Client(pooler_dsn, pooler="none") as client:
        sql = "SELECT pg_backend_pid(), %s::int, %s::text, %s::bigint"
        server = client.conn.execute(sql, (1, "a", 2), prepare=True).fetchone()[0]
        try:
            for _ in range(40):  # each holds a server connection until it is the one
                h = psycopg.connect(pooler_dsn, prepare_threshold=None)
                holders.append(h)
                if h.execute("SELECT pg_backend_pid()").fetchone()[0] == server:
                    break
            else:
                pytest.fail("never got the server connection back from the pool")
            with pytest.raises(PoolerMisconfigured, match="--pooler transaction"), \
                    translate_errors():
                client.conn.execute(sql, (1, "a", 2), prepare=True)
        finally:
            for h in holders:
                h.close()


# ------------------------------------------------------------------ session mode
@pytest.fixture(scope="module")
def session_pooler_dsn(pg_backend, base_dsn) -> str:
    if pg_backend.cluster_dir is None:
        pytest.skip("PgBouncer tests need a scripts/pgcluster.sh cluster (make test has one)")
    return pg_backend.start_pooler("session")


def test_a_worker_through_a_session_pool_listens_and_bounds(dsn, conn, session_pooler_dsn,
                                                             tmp_path):
    """The asyncio worker (its connections SET their bound after connecting); the threaded
    worker's Link is checked in-process at the end."""
    reset_witness(conn)
    with tasklease.Client(session_pooler_dsn, pooler="session") as client:
        client.enqueue_many([{"n": i} for i in range(20)])
    w = WorkerProcess(session_pooler_dsn, "--pooler", "session", "--name", "sess",
                      "--concurrency", "4", log_dir=tmp_path,
                      handler=HANDLERS["asyncio"]["work"], witness_dsn=dsn)
    try:
        wait_until(lambda: status_counts(conn) == {"completed": 20}, timeout=60,
                   what="all 20 completed")
        assert "pooler=session listen=dsn" in w.log(), "LISTEN works through a session pool"
        assert w.stop() == 0
    finally:
        if w.proc.poll() is None:
            w.kill()
    link = Link(session_pooler_dsn, "bounded", "renew", Metrics("bounded"),
                ConnectionBounds(0.3), Pooling("session"))
    try:
        with pytest.raises(psycopg.errors.QueryCanceled):
            link.once(lambda c: c.execute("SELECT pg_sleep(3)"))
    finally:
        link.close()


# ------------------------------------------------------------------ statement bounds
def test_statements_are_bounded_through_the_pooler_and_leave_nothing_behind(pooler_dsn):
    bounds = ConnectionBounds(0.5)
    link = Link(pooler_dsn, "bounded", "renew", Metrics("bounded"), bounds, POOLED)
    try:
        inside = link.once(lambda c: c.execute(
            "SELECT current_setting('statement_timeout')").fetchone()[0])
        assert inside == "500ms"
        with pytest.raises(psycopg.errors.QueryCanceled):
            link.once(lambda c: c.execute("SELECT pg_sleep(5)"))
        assert link.conn is not None and not link.conn.broken
    finally:
        link.close()

    async def bounded_async() -> None:
        alink = AsyncLink(pooler_dsn, "bounded", "renew", Metrics("bounded"), bounds, POOLED)
        try:
            with pytest.raises(psycopg.errors.QueryCanceled):
                await alink.once(lambda c: c.execute("SELECT pg_sleep(5)"))
        finally:
            await alink.close()

    asyncio.run(bounded_async())
    with psycopg.connect(pooler_dsn, autocommit=True, prepare_threshold=None) as other:
        for _ in range(5):  # whichever server connection the pool hands out
            assert other.execute("SHOW statement_timeout").fetchone()[0] == "0"


# ------------------------------------------------------------------ 500 tasks, a kill -9
@pytest.mark.parametrize(("flavour", "listen"), [("threads", "poll"), ("asyncio", "direct")])
def test_500_tasks_through_the_pooler_with_a_kill_9(dsn, conn, pooler_dsn, tmp_path, settings,
                                                   report, flavour, listen):
    """Two workers through the pooler, one killed with kill -9 while it holds tasks, the
    reaper run through the pooler: every task completed, none lost, and every accepted
    completion came from the execution that held the final lease token."""
    reset_witness(conn)
    settings("requeue_backoff_s", 0)
    n = 500
    with tasklease.Client(pooler_dsn, pooler="transaction") as client:
        client.enqueue_many([{"sleep": 0.03} for _ in range(n)])
    args = ["--pooler", "transaction", "--concurrency", "4", "--lease-s", "2"]
    if listen == "direct":
        args += ["--listen-dsn", dsn]
    started = []
    try:
        for name in ("pb-a", "pb-b"):
            started.append(WorkerProcess(pooler_dsn, "--name", name, *args, log_dir=tmp_path,
                                         handler=HANDLERS[flavour]["work"], witness_dsn=dsn))
        a, b = started
        holding = ("SELECT id, lease_token FROM tasklease.tasks WHERE status = 'running' "
                   "AND owner_id = 'pb-a'")
        wait_until(lambda: status_counts(conn).get("completed", 0) >= 100 and
                   conn.execute(holding).fetchall(), timeout=60, what="pb-a to hold tasks")
        a.kill()
        held = conn.execute(holding).fetchall()  # what it held when it died
        assert held, "pb-a died holding tasks"

        def reaped() -> bool:
            proc = _cli(pooler_dsn, "reap", "--pooler", "transaction", "--json")
            assert proc.returncode == 0, proc.stderr
            return not conn.execute(
                "SELECT count(*) FROM tasklease.tasks WHERE status = 'running' "
                "AND owner_id = 'pb-a'").fetchone()[0]

        wait_until(reaped, timeout=60, interval=0.5, what="the reaper to take pb-a's tasks")
        wait_until(lambda: status_counts(conn) == {"completed": n}, timeout=120, interval=0.3,
                   what=f"all {n} tasks completed")
        status = _cli(pooler_dsn, "status", "--pooler", "transaction", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["tasks"] == [
            {"queue": "default", "status": "completed", "tasks": n}]
        assert b.proc.poll() is None and b.stop() == 0
    finally:
        for w in started:
            if w.proc.poll() is None:
                w.kill()
    fenced = conn.execute(
        "SELECT count(*) FROM tasklease.tasks WHERE (result->>'token')::bigint <> lease_token"
    ).fetchone()[0]
    assert fenced == 0, "a completion from a fenced token was accepted"
    assert conn.execute("SELECT count(DISTINCT task_id) FROM public.tl_witness").fetchone()[0] == n
    requeued = conn.execute(
        "SELECT count(*) FROM tasklease.reaper_log AS r JOIN unnest(%s::bigint[]) AS h (id) "
        "ON r.task_id = h.id WHERE r.action = 'requeued' AND r.owner_id = 'pb-a'",
        ([h[0] for h in held],)).fetchone()[0]
    assert requeued == len(held)
    report(f"PgBouncer 1.18 transaction mode, {flavour} workers ({listen}): {n}/{n} completed "
           f"after a kill -9 of one worker holding {len(held)} tasks (requeued by the reaper "
           f"through the pooler); {fenced} completions accepted from a fenced token")
