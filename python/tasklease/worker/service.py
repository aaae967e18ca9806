"""Service: the shape of the worker's background threads (renewer, deadline watch,
heartbeat, listener): a daemon thread with its own stop event, started and stopped by the
worker."""

from __future__ import annotations

import threading
from typing import Optional


class Service:
    """A daemon thread running _run() until stop(); _run() watches self._stop."""

    name = "service"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"tasklease-{self.name}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: Optional[float] = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        raise NotImplementedError
