"""SignalSafeEvent: a threading.Event that a signal handler may set.

A Python signal handler runs in the main thread between two bytecodes, possibly while
that thread is inside Event.clear() or Event.wait() and holds the event's lock.  A plain
Event's lock is not reentrant, so the handler's set() then waits for a lock its own thread
holds, for ever: a worker that logged event=signal and never stopped (seen once in 45
SIGTERMs under load).  With a reentrant lock the handler takes it again and goes on.
"""

from __future__ import annotations

import threading


class SignalSafeEvent(threading.Event):
    def __init__(self) -> None:
        super().__init__()
        self._cond = threading.Condition(threading.RLock())
