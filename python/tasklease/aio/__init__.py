"""tasklease for asyncio: AsyncClient and AsyncWorker.

    async with tasklease.AsyncClient(dsn) as client:
        await client.enqueue({"to": "a@example.org"}, queue="mail")

    async def send(task):                      # an async def handler
        ...
    await tasklease.AsyncWorker(dsn, send, queue="mail", concurrency=16).run()

One AsyncWorker is the threaded Worker's services with the handlers, the claims, the
storing of outcomes and LISTEN moved onto the event loop (a claim, its handlers and their
completion need no thread hand-off).  The rules are the threaded worker's, shared as code:
timing.py (the interval rule, deadlines, backoff), outcomes.py (what a handler's return or
exception becomes), events.py (log lines), identity.py (names), the SQL of claimer.py and
completer.py (aio.claimer and aio.completer are their asyncio twins, held to the same tests),
worker/common.py (the base of both workers: options, intervals, the wiring of the services
below, the start, release and stop), and these services, which are unchanged and keep their
own threads and connections:

  where       module                   connection  job
  loop        aio.worker               main        register (via identity.py), recover,
                                                   claim (aio.claimer), release at stop
  loop        aio.runner               none        one asyncio task per handler call;
                                                   concurrency of them at most
  loop        aio.completer            complete    store outcomes in batches
  loop        aio.listener             listen      LISTEN tasklease: wake the claim loop
  thread      worker.leases            renew       renew_leases; local deadlines
  thread      worker.heartbeat         heartbeat   heartbeat() every heartbeat_s
  thread      worker.reaper            reaper      reap_if_due() every reap_interval_s
  thread      aio.loopwatch            none        the loop's lag: event=loop_blocked
  thread      ..metrics                none        Prometheus text on metrics_port

So a handler that blocks the loop (no await for a while) stalls the claims, the other
handlers, the storing of their outcomes and LISTEN, but not the heartbeat, the renewals or
the deadlines: leases are kept, as a slow handler's are in the threaded worker, and the
loop watch says so (event=loop_blocked with the tasks in flight, then
event=loop_unblocked blocked_s=...; tasklease_loop_lag_seconds, tasklease_leases_at_risk,
tasklease_loop_blocked_total; info.loop_blocked_s in tasklease.workers).

task.lease_lost is an asyncio.Event that those threads may set (aio.task.LoopEvent).
Sync handlers are refused (InvalidWorkerConfig): tasklease.Worker runs them, and
`tasklease worker MODULE:FUNCTION` picks the flavour by the function.
"""

from __future__ import annotations

from .client import AsyncClient
from .task import LoopEvent
from .worker import AsyncWorker, is_async_handler

__all__ = ["AsyncClient", "AsyncWorker", "LoopEvent", "is_async_handler"]
