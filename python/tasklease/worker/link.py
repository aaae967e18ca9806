"""Link: one thread's own autocommit connection, re-opened with backoff when it breaks.

Every worker connection is bounded: a statement_timeout (how it is sent depends on the
pooling: tasklease/pooling.py) and TCP keepalives plus tcp_user_timeout scaled to it, so a
hung call or a silent peer is given up instead of blocking its thread for ever.  A lost
connection is re-opened at most RECONNECT_MAX_S after the server accepts connections again.

Errors, in three kinds:
  connection  the connection is gone: dropped, re-opened, retried until give_up()
  transient   the statement was cancelled (statement_timeout), a lock or serialisation
              conflict: retried on the same connection, at most TRANSIENT_TRIES times
  anything else (including tasklease.errors): raised to the caller, which decides
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Optional, TypeVar

import psycopg

from ..db import (  # noqa: F401 - is_transient is part of this module's API
    TRANSIENT_SQLSTATES,
    connect,
    is_connection_error,
    is_transient,
    translate_errors,
)
from ..metrics import Metrics
from ..pooling import Pooling
from .events import kv, log, one_line
from .timing import RECONNECT_MAX_S, ConnectionBounds, backoff_delays

T = TypeVar("T")

TRANSIENT_TRIES = 3


class GiveUp:
    """When retries of lost connections stop: never while running; at a set time once the
    worker is shutting down."""

    def __init__(self) -> None:
        self.at: Optional[float] = None

    def __call__(self) -> bool:
        return self.at is not None and time.monotonic() > self.at


class Link:
    """One dedicated autocommit connection, re-opened with backoff when it breaks.  Used by
    one thread only."""

    def __init__(self, dsn: str, app: str, role: str, metrics: Metrics,
                 bounds: ConnectionBounds, pooling: Optional[Pooling] = None) -> None:
        self.dsn, self.app, self.role, self.metrics, self.bounds = dsn, app, role, metrics, bounds
        self.pooling = pooling or Pooling.resolve()
        self.conn: Optional[psycopg.Connection] = None
        self.reconnects = 0
        self._ever_connected = False

    def _ensure(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            self.conn = connect(self.dsn, self.app, pooling=self.pooling,
                                statement_timeout_ms=self.bounds.statement_timeout_ms,
                                **self.bounds.libpq_params())
            if self._ever_connected:
                self.reconnects += 1
                self.metrics.inc("reconnects")
                log.info(kv("reconnected", worker=self.app, connection=self.role))
            self._ever_connected = True
        return self.conn

    def rename(self, app: str) -> None:
        """Take the worker's name: application_name is changed on the open connection (a
        reconnect would be counted and logged as one)."""
        self.app = app
        if self.conn is not None and not self.conn.closed:
            self.once(lambda c: c.execute("SELECT set_config('application_name', %s, false)",
                                          (f"tasklease:{app}"[:63],)))

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
            self.conn = None

    def is_connection_error(self, exc: BaseException) -> bool:
        return is_connection_error(exc, self.conn)

    def once(self, fn: Callable[[psycopg.Connection], T]) -> T:
        """fn(conn) on a live connection; a connection error drops it and propagates."""
        conn = None
        try:
            conn = self._ensure()
            with translate_errors():
                return fn(conn)
        except psycopg.Error as exc:
            if is_connection_error(exc, conn):
                self.close()
            raise

    def retry(self, fn: Callable[[psycopg.Connection], T], give_up: Callable[[], bool]) -> T:
        """fn(conn), retried after connection errors (backoff, jitter) until give_up(), and
        after transient errors at most TRANSIENT_TRIES times in all."""
        delays = backoff_delays(cap=RECONNECT_MAX_S)
        transient = 0
        while True:
            try:
                return self.once(fn)
            except psycopg.Error as exc:
                if self.is_connection_error(exc):
                    if give_up():
                        raise
                    event = "connection_lost"
                elif is_transient(exc) and transient + 1 < TRANSIENT_TRIES:
                    transient += 1
                    event = "statement_retry"
                else:
                    raise
                delay = next(delays)
                log.warning(kv(event, worker=self.app, connection=self.role,
                               retry_in_s=f"{delay:.2f}", error=one_line(exc)))
                time.sleep(delay)
