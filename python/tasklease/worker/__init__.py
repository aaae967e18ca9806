"""The worker shim: claim, run, renew, complete; every rule lives in the SQL functions.

    tasklease.Worker(dsn, handler, queue="mail", concurrency=4).run()   # until SIGTERM

One worker process is a few small services, each a class owning its thread, its
connection and its fields; Worker (core.py) only wires them and runs the shutdown in order,
on the base it shares with the AsyncWorker (common.py: options, intervals, the services on
threads, the start, release and stop log lines, signals).

  thread       module       connection  job
  main         core         main        register the name, recover; then the loop: store
                                        outcomes and claim for free slots in one transaction
                                        (completer.py + claimer.py: complete_tasks and
                                        claim_tasks, one round trip), fail_task; release at
                                        shutdown, mark stopped
  slot-N       slots        (main)      run the handler; turn whatever it returns or raises
                                        into a storable Outcome (outcomes.py); store it and
                                        claim on the main connection itself when it is free,
                                        or, while tasks claimed ahead wait (ahead.py), start
                                        the next one and wake the main loop to do it
  renewer      leases       renew       renew_leases every renew_every_s
  deadlines    leases       none        local deadlines, on their own timer: lease_lost is
                                        set before the reaper could act
  heartbeat    heartbeat    heartbeat   heartbeat() every heartbeat_s
  reaper       reaper       reaper      reap_if_due() every reap_interval_s (jittered): the
                                        worker's share of the reaper; logs each decision
  listener     listener     listen      LISTEN tasklease: wake the claim loop
  metrics      ..metrics    none        Prometheus text on --metrics-port

Pure modules, shared with any other worker flavour (no threads, no I/O): timing.py (the
interval rule, deadline arithmetic, connection bounds, backoff), outcomes.py (outcome
encoding), events.py (log lines), task.py.  The rest: link.py (a connection re-opened
with backoff), identity.py (the worker name), inflight.py (the tasks in flight, one lock),
ahead.py (how many tasks to claim ahead, and the give-back of those that wait too long).
The asyncio worker (tasklease/aio) shares the pure modules, and runs this package's
completer, lease keeper, deadline watch and heartbeat as they are.

Who writes which Task field (one writer at a time; the others only read):
  id, queue, payload,   the main thread, when it creates the Task (claim or adopt);
  attempts, lease_token never changed afterwards
  lease_until           the main thread at creation, then only the renewer (after an
                        acknowledged renewal); read by the deadline watch
  gone                  only the renewer (a renewal found the lease gone); read by the
                        renewer, the deadline watch and the completer
  started               its slot thread, under the slots' lock, just before the handler
                        runs; read by the shutdown after the slots are closed
  finished              its slot thread, when the handler has returned or raised; read by
                        the renewer, the deadline watch and the shutdown
  lease_lost            a threading.Event, set (never cleared) by the renewer (renewal
                        refused), the deadline watch (deadline passed), the main thread's
                        completer (completion or failure refused) and the shutdown
                        (given back);
                        read by the handler
A Task is in InFlight from its claim until its outcome is stored or dropped (the main
thread's completer) or it is given back (release_tasks after waiting too long behind busy
slots, or the shutdown).  Log lines are key=value (logger
"tasklease.worker").
"""

from __future__ import annotations

from .core import Worker
from .events import kv
from .task import Task
from .timing import Intervals, backoff_delays

__all__ = ["Intervals", "Task", "Worker", "backoff_delays", "kv"]
