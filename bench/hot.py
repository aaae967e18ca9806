"""Section 5a: the share of lease renewals that are HOT (heap-only, in-place) updates.

hot_tasks tasks are claimed by 4 owners; then, on fresh connections, each owner renews each
of its tasks hot_rounds times with renew_lease (what the worker does).  The HOT share is the
delta of pg_stat_user_tables.n_tup_hot_upd / n_tup_upd over the renewal phase only.  Backends
flush their statistics when they exit; the phase waits until the counters have seen every
renewal it made.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from typing import Callable

import psycopg

from . import schema
from .config import Config

Log = Callable[[str], None]
OWNERS = 4

STATS = """
SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
WHERE schemaname = 'tasklease' AND relname = 'tasks'
"""


def _stats(conn: psycopg.Connection) -> tuple:
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return conn.execute(STATS).fetchone()


def _wait_for_updates(conn: psycopg.Connection, at_least: int, timeout: float = 30.0) -> tuple:
    deadline = time.monotonic() + timeout
    while True:
        upd, hot = _stats(conn)
        if upd >= at_least or time.monotonic() > deadline:
            return upd, hot
        time.sleep(0.1)


def _claim(dsn: str, owner: str, n: int) -> list:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT id, lease_token FROM tasklease.claim_tasks(%s, %s)", (owner, n)
        ).fetchall()


def _renew(dsn: str, owner: str, leases: list, rounds: int, out) -> None:
    ok = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(rounds):
            for task_id, token in leases:
                (exp,) = conn.execute(
                    "SELECT tasklease.renew_lease(%s, %s, %s)", (task_id, owner, token)
                ).fetchone()
                ok += exp is not None
    out.put(ok)


def run(dsn: str, cfg: Config, log: Log) -> dict:
    """{renewals, updates, hot_updates, hot_share}."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.load_tasks(conn, cfg.hot_tasks)
        base_upd, _ = _stats(conn)
        per_owner = -(-cfg.hot_tasks // OWNERS)
        leases = {f"bench-hot-{i}": _claim(dsn, f"bench-hot-{i}", per_owner) for i in range(OWNERS)}
        claimed = sum(len(v) for v in leases.values())
        upd0, hot0 = _wait_for_updates(conn, base_upd + claimed)

        ctx = mp.get_context("fork")
        out = ctx.Queue()
        procs = [
            ctx.Process(target=_renew, args=(dsn, owner, ls, cfg.hot_rounds, out))
            for owner, ls in leases.items()
        ]
        for p in procs:
            p.start()
        renewals = sum(out.get(timeout=600) for _ in procs)
        for p in procs:
            p.join(timeout=60)
        upd1, hot1 = _wait_for_updates(conn, upd0 + renewals)
        schema.empty_tasklease(conn)
    updates, hot = upd1 - upd0, hot1 - hot0
    share = hot / updates if updates else 0.0
    log(f"  {renewals} renewals: {hot} of {updates} updates HOT ({share:.1%})")
    return {"renewals": renewals, "updates": updates, "hot_updates": hot, "hot_share": share}
