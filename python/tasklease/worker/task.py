"""Task: what a handler receives, and the worker's bookkeeping of one lease.

Which thread writes which field is written down in the package docstring
(tasklease/worker/__init__.py); every field has exactly one writer at a time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Task:
    """What a handler receives.  lease_lost is set when the lease is known or presumed gone
    (or the worker is giving it back): the handler should then stop its side effects; its
    outcome may be refused.  A threading.Event for Worker; for AsyncWorker an asyncio.Event
    that the worker's threads may set (tasklease.aio.task.LoopEvent)."""

    id: int
    queue: str
    payload: Any
    attempts: int
    lease_token: int
    lease_lost: threading.Event = field(default_factory=threading.Event, repr=False)
    # time.monotonic() until which the database has acknowledged the lease
    lease_until: float = field(default=0.0, repr=False)
    gone: bool = field(default=False, repr=False)  # a renewal found the lease gone
    started: bool = field(default=False, repr=False)  # a slot has called the handler
    finished: bool = field(default=False, repr=False)  # the handler has returned or raised
