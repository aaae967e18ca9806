"""Connections: DSN resolution, application_name, the pooling mode (pooling.py), and the
health of an idle connection."""

from __future__ import annotations

import os
import select
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

import psycopg
from psycopg.rows import dict_row

from .errors import from_psycopg
from .pooling import (
    PREPARE_ENV,
    AsyncBoundedConnection,
    BoundedConnection,
    Pooling,
    check_refused,
    connect_kwargs,
)

DSN_ENV = ("TASKLEASE_DSN", "DATABASE_URL")
IDLE_READS = 4
__all__ = ["PREPARE_ENV", "aconnect", "connect", "idle_connection_lost", "is_connection_error",
           "is_transient", "prepare_threshold", "query", "resolve_dsn", "translate_errors"]


def resolve_dsn(dsn: str | None = None) -> str:
    """--dsn, else TASKLEASE_DSN, else DATABASE_URL, else "" (libpq's PG* variables)."""
    if dsn:
        return dsn
    for name in DSN_ENV:
        value = os.environ.get(name)
        if value:
            return value
    return ""


def prepare_threshold(pooling: Optional[Pooling] = None) -> int | None:
    """psycopg's prepare_threshold for this pooling (the environment's when None)."""
    return (pooling or Pooling.resolve()).prepare_threshold()


def connect(dsn: str | None, app: str, autocommit: bool = True, *,
            pooling: Optional[Pooling] = None, statement_timeout_ms: Optional[int] = None,
            **kwargs: Any) -> psycopg.Connection:
    """A psycopg connection whose application_name is tasklease:<app>, set up for the
    pooling (the environment's when None), with every statement bounded by
    statement_timeout_ms when given (see pooling.py for how, per mode)."""
    pooling = pooling or Pooling.resolve()
    dsn = resolve_dsn(dsn)
    per_statement, kwargs, after = connect_kwargs(dsn, pooling, statement_timeout_ms, kwargs)
    cls = BoundedConnection if per_statement else psycopg.Connection
    try:
        conn = cls.connect(dsn, autocommit=autocommit,
                           application_name=f"tasklease:{app}"[:63], **kwargs)
    except psycopg.OperationalError as exc:
        check_refused(exc)
        raise
    conn.prepare_threshold = pooling.prepare_threshold()
    if per_statement:
        conn.statement_timeout_ms = statement_timeout_ms  # type: ignore[attr-defined]
    _note_fatal(conn)
    if after:
        conn.execute(after)
    return conn


async def aconnect(dsn: str | None, app: str, *, pooling: Optional[Pooling] = None,
                   statement_timeout_ms: Optional[int] = None,
                   **kwargs: Any) -> psycopg.AsyncConnection:
    """connect() for asyncio: an autocommit psycopg.AsyncConnection."""
    pooling = pooling or Pooling.resolve()
    dsn = resolve_dsn(dsn)
    per_statement, kwargs, after = connect_kwargs(dsn, pooling, statement_timeout_ms, kwargs)
    cls = AsyncBoundedConnection if per_statement else psycopg.AsyncConnection
    try:
        conn = await cls.connect(dsn, autocommit=True,
                                 application_name=f"tasklease:{app}"[:63], **kwargs)
    except psycopg.OperationalError as exc:
        check_refused(exc)
        raise
    conn.prepare_threshold = pooling.prepare_threshold()
    if per_statement:
        conn.statement_timeout_ms = statement_timeout_ms  # type: ignore[attr-defined]
    _note_fatal(conn)
    if after:
        await conn.execute(after)
    return conn


def _note_fatal(conn: Any) -> None:
    """Remember a FATAL the server sends while the connection is idle (libpq passes it on
    as a notice): the backend is going away even if its end of file has not arrived yet."""
    ref = weakref.ref(conn)

    def on_notice(diag: psycopg.errors.Diagnostic) -> None:
        owner = ref()
        if owner is not None and diag.severity_nonlocalized == "FATAL":
            owner.tasklease_fatal = True

    conn.tasklease_fatal = False
    conn.add_notice_handler(on_notice)


def idle_connection_lost(conn: Any) -> bool:
    """Whether an idle connection (sync or async) is known to be gone before anything is
    sent on it: closed, broken, or the server has closed its end (a terminated backend, a
    restart).  A statement sent on a connection that passes this check may still fail."""
    if conn is None or conn.closed or conn.broken or getattr(conn, "tasklease_fatal", False):
        return True
    pgconn = conn.pgconn
    # Something that arrives unasked is a notice, a notification, or the FATAL and then the
    # end of file of a backend that was told to go: read until nothing more is waiting.
    for _ in range(IDLE_READS):
        try:
            readable, _, _ = select.select([pgconn.socket], [], [], 0)
        except (OSError, ValueError, psycopg.OperationalError):
            return True
        if not readable:
            return False
        try:
            pgconn.consume_input()
            pgconn.is_busy()  # parses what was read: a FATAL reaches the notice handler
        except psycopg.OperationalError:
            return True
        if pgconn.status != psycopg.pq.ConnStatus.OK or getattr(conn, "tasklease_fatal", False):
            return True
    return False


TRANSIENT_SQLSTATES = frozenset({"57014", "55P03", "40001", "40P01"})


def is_connection_error(exc: BaseException, conn: Any) -> bool:
    """Whether exc means the connection is gone (rather than the statement refused)."""
    if isinstance(exc, psycopg.InterfaceError):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    return conn is None or conn.closed or conn.broken


def is_transient(exc: BaseException) -> bool:
    """A statement cancelled or in conflict on a live connection: worth a few more tries."""
    return isinstance(exc, psycopg.Error) and exc.sqlstate in TRANSIENT_SQLSTATES


def query(conn: psycopg.Connection, sql: str, params: Any = None) -> list[dict]:
    """Rows of one statement as dicts (none for a statement without a result)."""
    with translate_errors(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []


@contextmanager
def translate_errors() -> Iterator[None]:
    """Re-raise database errors with a TL SQLSTATE (or that say a pooler is misconfigured)
    as tasklease exceptions."""
    try:
        yield
    except psycopg.Error as exc:
        mapped = from_psycopg(exc)
        if mapped is exc:
            raise
        raise mapped from exc
