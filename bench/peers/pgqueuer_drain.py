"""PgQueuer as the bench's peer: run with the peers' own interpreter (bench/peers/env.py),
never imported by tasklease or its tests.

    python pgqueuer_drain.py install DSN         install PgQueuer's schema (idempotent)
    python pgqueuer_drain.py enqueue DSN N        empty its tables, enqueue N no-op jobs
    python pgqueuer_drain.py work DSN BATCH       one worker process: waits for a line on
                                                  stdin, then drains the queue and exits
    python pgqueuer_drain.py span DSN             first pick to last success (database clock)

A worker is PgQueuer's QueueManager over one asyncpg connection, batch_size BATCH, a no-op
async entrypoint, mode drain (it exits once the queue is empty and its jobs are done).
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

import asyncpg
from pgqueuer.adapters.drivers.asyncpg import AsyncpgDriver
from pgqueuer.adapters.persistence.queries import Queries
from pgqueuer.core.qm import QueueManager
from pgqueuer.types import QueueExecutionMode

ENTRYPOINT = "noop"


async def install(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        q = Queries(AsyncpgDriver(conn))
        if not await q.schema_is_installed():
            await q.install()
    finally:
        await conn.close()


async def enqueue(dsn: str, n: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("TRUNCATE pgqueuer, pgqueuer_log")
        q = Queries(AsyncpgDriver(conn))
        for start in range(0, n, 1000):
            k = min(1000, n - start)
            await q.enqueue([ENTRYPOINT] * k, [None] * k, [0] * k)
        await conn.execute("VACUUM ANALYZE pgqueuer")
    finally:
        await conn.close()


async def work(dsn: str, batch: int) -> None:
    conn = await asyncpg.connect(dsn)
    qm = QueueManager(Queries(AsyncpgDriver(conn)))

    @qm.entrypoint(ENTRYPOINT)
    async def noop(job) -> None:  # noqa: ARG001 - the measurement is the queue's overhead
        return None

    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await qm.run(batch_size=batch, mode=QueueExecutionMode.drain,
                 dequeue_timeout=timedelta(seconds=1),
                 log_aggregation_interval=timedelta(0))


async def span(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE status = 'successful') AS done,"
            " extract(epoch FROM max(created) FILTER (WHERE status = 'successful')"
            "  - min(created) FILTER (WHERE status = 'picked')) AS seconds"
            " FROM pgqueuer_log")
        print(f"{row['done']} {row['seconds']}")
    finally:
        await conn.close()


def main() -> None:
    cmd, dsn = sys.argv[1], sys.argv[2]
    if cmd == "install":
        asyncio.run(install(dsn))
    elif cmd == "enqueue":
        asyncio.run(enqueue(dsn, int(sys.argv[3])))
    elif cmd == "work":
        asyncio.run(work(dsn, int(sys.argv[3])))
    elif cmd == "span":
        asyncio.run(span(dsn))
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
