"""The worker's pure parts, without a database: outcome encoding, the interval rule, the
deadline arithmetic and its watch, and slots that outlive their handler."""

from __future__ import annotations

import math
import queue
import time

import pytest
from tasklease.errors import InvalidWorkerConfig
from tasklease.metrics import Metrics
from tasklease.worker import Task
from tasklease.worker.ahead import Ahead, Waiting
from tasklease.worker.common import RECHECK_S, next_recheck
from tasklease.worker.inflight import InFlight
from tasklease.worker.leases import DeadlineWatch
from tasklease.worker.outcomes import (
    UNSTORABLE,
    UnstorableResult,
    describe_exception,
    encode_result,
    outcome_of_return,
    storable_text,
)
from tasklease.worker.slots import Slots
from tasklease.worker.timing import ConnectionBounds, Intervals, local_deadline


def _task(n: int = 1) -> Task:
    return Task(n, "default", {}, 1, 10 + n)


# ------------------------------------------------------------------ outcomes
@pytest.mark.parametrize(("value", "why"), [
    ({"r": float("nan")}, "Out of range float"),
    ([math.inf], "Out of range float"),
    ({1, 2}, "Object of type set is not JSON serializable"),
    ({"s": "a\x00b"}, "NUL character"),
    ({"k\x00": 1}, "NUL character"),
    ({"s": "\ud800"}, "lone surrogate (\\ud800)"),
    ({"s": "\udc00\ud800"}, "lone surrogate (\\udc00)"),
    ({(1, 2): 1}, "TypeError"),
])
def test_results_jsonb_cannot_hold_are_refused(value, why):
    with pytest.raises(UnstorableResult, match=".") as err:
        encode_result(value)
    assert why in str(err.value)
    outcome = outcome_of_return(_task(), value)
    assert not outcome.ok and outcome.error.startswith(UNSTORABLE) and why in outcome.error


def test_results_jsonb_can_hold_are_kept_as_they_are():
    assert encode_result(None) is None
    assert encode_result({"s": "back\\u0000slash", "e": "\U0001f600"}) == \
        '{"s": "back\\\\u0000slash", "e": "\U0001f600"}'
    assert encode_result([1, 2.5, True, None, "x"]) == '[1, 2.5, true, null, "x"]'


def test_an_exception_whose_str_raises_is_still_described():
    class Nasty(Exception):
        def __str__(self):
            raise SystemExit("no")

    try:
        raise Nasty()
    except Nasty as exc:
        text = describe_exception(exc)
    assert text.splitlines()[0] == "Nasty: <Nasty.__str__ raised>"
    assert "raise Nasty()" in text


def test_error_texts_are_made_storable_and_cut_in_the_middle():
    assert storable_text("a\x00b\ud800c") == "a\\x00b\\ud800c"
    long = "start " + "x" * 20000 + " end"
    cut = storable_text(long, limit=1000)
    assert len(cut) <= 1000 and cut.startswith("start ") and cut.endswith(" end")
    assert "characters cut" in cut
    cut.encode("utf-8")


# ------------------------------------------------------------------ intervals
def test_the_interval_rule():
    Intervals(lease_s=600, renew_every_s=200, worker_ttl_s=60, heartbeat_s=5).check()
    Intervals(lease_s=10, renew_every_s=4.99, worker_ttl_s=10, heartbeat_s=4.99).check()
    with pytest.raises(InvalidWorkerConfig, match="heartbeat_s .5. must be less than half"):
        Intervals(lease_s=600, renew_every_s=200, worker_ttl_s=10, heartbeat_s=5).check()
    with pytest.raises(InvalidWorkerConfig, match="renew_every_s .5. must be less than half"):
        Intervals(lease_s=10, renew_every_s=5, worker_ttl_s=60, heartbeat_s=5).check()
    both = Intervals(lease_s=10, renew_every_s=6, worker_ttl_s=4, heartbeat_s=3).problems()
    assert len(both) == 2
    with pytest.raises(InvalidWorkerConfig, match="must be positive"):
        Intervals(lease_s=10, renew_every_s=0, worker_ttl_s=60, heartbeat_s=5).check()


@pytest.mark.parametrize(("lease_s", "ttl"), [(1, 1), (2, 60), (30, 4), (600, 60), (86400, 3600)])
def test_the_margin_and_tick_fit_inside_the_intervals(lease_s, ttl):
    iv = Intervals(lease_s, lease_s / 3, ttl, ttl / 3)
    shorter = min(lease_s, ttl)
    assert 0 < iv.margin_s <= shorter / 4
    assert 0 < iv.tick_s <= iv.margin_s / 2
    assert 1 <= iv.liveness_timeout_s <= 30


def test_the_deadline_is_the_earlier_of_lease_and_heartbeat_minus_the_margin():
    assert local_deadline(100.0, 50.0, 60, 2) == (98.0, "deadline")
    assert local_deadline(100.0, 10.0, 60, 2) == (68.0, "heartbeat_deadline")
    assert local_deadline(100.0, None, 60, 2) == (98.0, "deadline")


def test_connection_bounds_scale_keepalives_to_the_statement_timeout():
    params = ConnectionBounds(15).libpq_params()
    assert params["tcp_user_timeout"] == 15000 and params["keepalives"] == 1
    assert params["keepalives_idle"] + params["keepalives_interval"] * \
        params["keepalives_count"] <= 15
    small = ConnectionBounds(1).libpq_params()
    assert small["connect_timeout"] >= 2 and small["keepalives_idle"] >= 1


def test_a_short_claim_that_a_notification_caused_is_checked_again_soon():
    """Both workers' rule (worker/common.py): a NOTIFY skipped within notify_window_ms
    costs RECHECK_S, not a poll interval."""
    assert next_recheck(None, 10.0, 4, 1, True) == 10.0 + RECHECK_S
    assert next_recheck(None, 10.0, 4, 1, False) is None, "a poll's short claim: no re-check"
    assert next_recheck(None, 10.0, 4, 4, True) is None, "a full claim: no re-check"
    assert next_recheck(10.02, 10.0, 4, 4, False) == 10.02, "not due yet: kept"
    assert next_recheck(10.02, 10.03, 4, 0, False) is None, "due: this claim did it"
    assert next_recheck(10.02, 10.03, 0, 0, True) == 10.02, "nothing asked: kept"


# ------------------------------------------------------------------ the watch
def test_the_watch_flags_running_handlers_once_the_heartbeat_is_too_old():
    inflight = InFlight("w", Metrics("w"))
    now = time.monotonic()
    running, finished = _task(1), _task(2)
    for t in (running, finished):
        t.lease_until = now + 600
        inflight.add(t)
    finished.finished = True
    acked = {"at": now}
    watch = DeadlineWatch(inflight, lambda: acked["at"], lambda: 10, margin_s=1, tick_s=0.1)
    assert watch.check(now + 8.9) == []
    assert watch.check(now + 9.1) == [running]
    assert running.lease_lost.is_set() and not finished.lease_lost.is_set()
    assert watch.check(now + 20) == [], "flagged once"


# ------------------------------------------------------------------ slots
def test_a_slot_outlives_every_kind_of_handler_exit():
    def handler(task):
        exc = task.payload
        if exc is not None:
            raise exc
        return {"ok": True}

    out: queue.Queue = queue.Queue()
    slots = Slots(handler, 1, out.put, "w")
    slots.start()
    exits = [SystemExit(3), KeyboardInterrupt(), GeneratorExit(), MemoryError(), None]
    for n, exc in enumerate(exits):
        slots.submit(Task(n, "q", exc, 1, n))
    got = [out.get(timeout=10) for _ in exits]
    assert [o.ok for o in got] == [False, False, False, False, True]
    assert [o.error.splitlines()[0] for o in got[:4]] == [
        "SystemExit: 3", "KeyboardInterrupt", "GeneratorExit", "MemoryError"]
    assert all(o.task.started and o.task.finished for o in got)
    slots.close()
    late = Task(99, "q", None, 1, 99)
    slots.submit(late)
    slots.stop()
    time.sleep(0.2)
    assert out.empty() and not late.started, "a closed slot starts nothing"


# ------------------------------------------------------------------ signals
def test_a_signal_handler_can_set_the_stop_events_while_their_lock_is_held():
    """The main thread may be inside Event.clear()/wait() (holding the event's lock) when
    SIGTERM arrives: the handler's set() must not wait for that lock for ever."""
    import os
    import signal

    from tasklease.worker import Worker
    from tasklease.worker.signals import SignalSafeEvent

    worker = Worker("postgresql://nobody@127.0.0.1:1/none", lambda task: None)
    assert isinstance(worker._wake, SignalSafeEvent)
    assert isinstance(worker._stopping, SignalSafeEvent)
    previous = signal.signal(signal.SIGUSR1, lambda *_: worker.stop())
    try:
        with worker._wake._cond, worker._stopping._cond:  # as inside clear() or wait()
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.05)  # the handler runs here, in this thread
        assert worker._stopping.is_set() and worker._wake.is_set()
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_claiming_ahead_waits_for_short_handlers_and_stops_for_slow_ones():
    ahead = Ahead(4)
    assert ahead.depth() == 0, "no handler timed yet"
    for _ in range(5):
        ahead.record(0.001)
    assert ahead.depth() == 4
    for _ in range(10):
        ahead.record(0.5)
    assert ahead.depth() == 0, "handlers got slow"
    assert Ahead(0).depth() == 0


def test_waiting_tasks_are_withdrawn_together_once_the_oldest_waited_too_long():
    waiting = Waiting()
    a, b = Task(1, "q", None, 1, 10), Task(2, "q", None, 1, 11)
    waiting.add(a)
    waiting.add(b)
    now = time.monotonic()
    assert waiting.withdraw_stale(now, limit_s=60) == []
    assert waiting.withdraw_stale(now + 61, limit_s=60) == [a, b]
    assert not waiting.begin(a) and not waiting.begin(b), "withdrawn: never started"
    again = Task(1, "q", None, 2, 12)  # the same task, claimed again: a new Task
    waiting.add(again)
    assert waiting.begin(again) and len(waiting) == 0


def test_one_workers_reaper_runs_are_at_most_1_4_intervals_apart():
    """reap_if_due runs when the last run is at least reap_interval_s old; the worker's
    calls come every JITTER of it: simulated over many calls, no gap between runs exceeds
    RUNS_APART = 1 + JITTER[1] intervals (with calls every 0.5..1 interval it reached 2)."""
    from tasklease.worker.reaper import RUNS_APART, Reaper

    every = 5.0
    reaper = Reaper.__new__(Reaper)
    reaper._every_s = every
    now, last_run, gaps = 0.0, 0.0, []
    for _ in range(20000):
        now += reaper._delay()
        if now - last_run >= every:
            gaps.append(now - last_run)
            last_run = now
    assert max(gaps) <= every * RUNS_APART + 1e-9
    assert min(gaps) >= every


def test_a_negative_prefetch_is_refused_before_any_io():
    from tasklease.aio import AsyncWorker
    from tasklease.worker import Worker

    async def ahandle(task):
        return None

    with pytest.raises(InvalidWorkerConfig, match="prefetch"):
        Worker("postgresql://nobody@127.0.0.1:1/none", lambda task: None, prefetch=-1)
    with pytest.raises(InvalidWorkerConfig, match="prefetch"):
        AsyncWorker("postgresql://nobody@127.0.0.1:1/none", ahandle, prefetch=-1)
    assert Worker("postgresql://nobody@127.0.0.1:1/none", lambda task: None,
                  concurrency=2).prefetch == 8
    assert Worker("postgresql://nobody@127.0.0.1:1/none", lambda task: None,
                  concurrency=20, prefetch=0).prefetch == 0
