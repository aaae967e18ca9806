"""Handlers that misbehave, for the worker fault tests (``faults:act`` in a worker process).

The payload's ``do`` says what the handler does:
  ok                  returns {"ok": true, "n": payload["n"]}
  nan                 returns {"r": nan}
  surrogate           returns a string with a lone surrogate
  nul_result          returns a string with a NUL character
  set                 returns a set (not JSON)
  big                 returns payload["bytes"] random hex characters (incompressible)
  nul_error           raises RuntimeError whose message contains a NUL byte
  surrogate_error     raises ValueError whose message is a lone surrogate
  bad_str             raises an exception whose __str__ itself raises
  system_exit         raises SystemExit(3)
  keyboard_interrupt  raises KeyboardInterrupt
  generator_exit      raises GeneratorExit
  hang                never returns
  watch_lease         waits (up to payload["wait_s"]) for task.lease_lost, then records the
                      database's clock_timestamp() in public.tl_lease_lost
  block               (aact only) blocks the event loop for payload["block_s"] seconds
                      (time.sleep in an async def), then returns {"blocked_s": ...}

``aact`` does the same as an async def handler (an AsyncWorker runs it): hang awaits for
ever, watch_lease awaits task.lease_lost (an asyncio.Event there).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from handlers import _witness_conn

LEASE_LOST_DDL = """
CREATE TABLE IF NOT EXISTS public.tl_lease_lost (
    task_id bigint NOT NULL,
    seen_at timestamptz NOT NULL
)
"""


class BrokenStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken too")


def act(task: Any) -> Any:
    payload = task.payload if isinstance(task.payload, dict) else {}
    do = payload.get("do", "ok")
    return _ACTIONS[do](task, payload)


def _raise(make: Callable[[], BaseException]):
    def action(_task: Any, _payload: dict) -> Any:
        raise make()

    return action


def _hang(_task: Any, _payload: dict) -> Any:
    threading.Event().wait()


def _watch_lease(task: Any, payload: dict) -> Any:
    if not task.lease_lost.wait(float(payload.get("wait_s", 60))):
        return {"lease_lost": False}
    conn = _witness_conn()
    assert conn is not None
    conn.execute("INSERT INTO public.tl_lease_lost (task_id, seen_at) "
                 "VALUES (%s, clock_timestamp())", (task.id,))
    return {"lease_lost": True}


_ACTIONS = {
    "ok": lambda task, p: {"ok": True, "n": p.get("n")},
    "nan": lambda task, p: {"r": float("nan")},
    "surrogate": lambda task, p: {"s": "half a pair: \ud800"},
    "nul_result": lambda task, p: {"s": "nul:\x00"},
    "set": lambda task, p: {1, 2, 3},
    "big": lambda task, p: {"blob": os.urandom(int(p["bytes"]) // 2).hex()},
    "nul_error": _raise(lambda: RuntimeError("bad\x00byte")),
    "surrogate_error": _raise(lambda: ValueError("lone \udc80 surrogate")),
    "bad_str": _raise(lambda: BrokenStr()),
    "system_exit": _raise(lambda: SystemExit(3)),
    "keyboard_interrupt": _raise(lambda: KeyboardInterrupt()),
    "generator_exit": _raise(lambda: GeneratorExit()),
    "hang": _hang,
    "watch_lease": _watch_lease,
}


async def aact(task: Any) -> Any:
    payload = task.payload if isinstance(task.payload, dict) else {}
    do = payload.get("do", "ok")
    if do in _ASYNC_ACTIONS:
        return await _ASYNC_ACTIONS[do](task, payload)
    return _ACTIONS[do](task, payload)


async def _ahang(_task: Any, _payload: dict) -> Any:
    await asyncio.Event().wait()


async def _awatch_lease(task: Any, payload: dict) -> Any:
    try:
        await asyncio.wait_for(task.lease_lost.wait(), float(payload.get("wait_s", 60)))
    except asyncio.TimeoutError:
        return {"lease_lost": False}
    await asyncio.to_thread(_record_lease_lost, task)
    return {"lease_lost": True}


def _record_lease_lost(task: Any) -> None:
    conn = _witness_conn()
    assert conn is not None
    conn.execute("INSERT INTO public.tl_lease_lost (task_id, seen_at) "
                 "VALUES (%s, clock_timestamp())", (task.id,))


async def _ablock(_task: Any, payload: dict) -> Any:
    seconds = float(payload.get("block_s", 3))
    time.sleep(seconds)  # on purpose: no await, the event loop is blocked
    return {"blocked_s": seconds}


_ASYNC_ACTIONS = {"hang": _ahang, "watch_lease": _awatch_lease, "block": _ablock}
