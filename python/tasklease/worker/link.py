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
from typing import Any, Optional, TypeVar

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
RENAME_SQL = "SELECT set_config('application_name', %s, false)"


class GiveUp:
    """When retries of lost connections stop: never while running; at a set time once the
    worker is shutting down."""

    def __init__(self) -> None:
        self.at: Optional[float] = None

    def __call__(self) -> bool:
        return self.at is not None and time.monotonic() > self.at


class LinkBase:
    """What Link and AsyncLink share: where and how to connect, the count of reconnects."""

    def __init__(self, dsn: str, app: str, role: str, metrics: Metrics,
                 bounds: ConnectionBounds, pooling: Optional[Pooling] = None) -> None:
        self.dsn, self.app, self.role, self.metrics, self.bounds = dsn, app, role, metrics, bounds
        self.pooling = pooling or Pooling.resolve()
        self.conn: Any = None
        self.reconnects = 0
        self._ever_connected = False

    def _opened(self, conn: Any) -> None:
        """conn was just opened: counted and logged as a reconnect when it replaces one."""
        self.conn = conn
        if self._ever_connected:
            self.reconnects += 1
            self.metrics.inc("reconnects")
            log.info(kv("reconnected", worker=self.app, connection=self.role))
        self._ever_connected = True

    def is_connection_error(self, exc: BaseException) -> bool:
        return is_connection_error(exc, self.conn)


class Retries:
    """The rule of Link.retry and AsyncLink.retry: after a connection error, again (backoff,
    jitter) until give_up(); after a transient error, at most TRANSIENT_TRIES times in all;
    after anything else, not."""

    def __init__(self, link: LinkBase, give_up: Callable[[], bool]) -> None:
        self._link, self._give_up = link, give_up
        self._delays = backoff_delays(cap=RECONNECT_MAX_S)
        self._transient = 0

    def delay(self, exc: psycopg.Error) -> Optional[float]:
        """How long to wait before the next try after exc (logged); None: raise exc."""
        if self._link.is_connection_error(exc):
            if self._give_up():
                return None
            event = "connection_lost"
        elif is_transient(exc) and self._transient + 1 < TRANSIENT_TRIES:
            self._transient += 1
            event = "statement_retry"
        else:
            return None
        delay = next(self._delays)
        log.warning(kv(event, worker=self._link.app, connection=self._link.role,
                       retry_in_s=f"{delay:.2f}", error=one_line(exc)))
        return delay


class Link(LinkBase):
    """One dedicated autocommit connection, re-opened with backoff when it breaks.  Used by
    one thread only."""

    conn: Optional[psycopg.Connection]

    def _ensure(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            self._opened(connect(self.dsn, self.app, pooling=self.pooling,
                                 statement_timeout_ms=self.bounds.statement_timeout_ms,
                                 **self.bounds.libpq_params()))
        return self.conn

    def rename(self, app: str) -> None:
        """Take the worker's name: application_name is changed on the open connection (a
        reconnect would be counted and logged as one)."""
        self.app = app
        if self.conn is not None and not self.conn.closed:
            self.once(lambda c: c.execute(RENAME_SQL, (f"tasklease:{app}"[:63],)))

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
            self.conn = None

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
        """fn(conn), retried by the rule of Retries."""
        retries = Retries(self, give_up)
        while True:
            try:
                return self.once(fn)
            except psycopg.Error as exc:
                delay = retries.delay(exc)
                if delay is None:
                    raise
                time.sleep(delay)
