"""How tasklease reaches PostgreSQL: directly, or through a connection pooler.

    Pooling.resolve()                      the environment's choice (direct by default)
    Pooling.resolve(pooler="transaction")  PgBouncer in transaction mode

One switch for users behind a pooler: ``--pooler``, ``TASKLEASE_POOLER`` or ``pooler=``.
What each mode does to a tasklease connection:

                       direct / session       transaction
  prepared statements  psycopg's default      off (TASKLEASE_PREPARE_THRESHOLD may turn them
                       (TASKLEASE_PREPARE_    back on, for PgBouncer 1.21+ with
                       THRESHOLD overrides)   max_prepared_statements)
  statement_timeout    direct: the libpq      set_config('statement_timeout', ms, true) sent
  (worker links)       options startup        in one pipeline with every statement: bounds
                       parameter; session:    that statement alone, on whichever server
                       SET after connect      connection the pooler picked, and ends with it
  LISTEN               on the same DSN        only on listen_dsn (a direct connection), else
                                              none: the worker polls

A pooler that PgBouncer 1.18 is in front of refuses the options startup parameter unless
``options`` is in its ignore_startup_parameters, and then silently drops it; so the direct
mode's bound never goes through a pooler, and a session pool gets a plain SET instead.

Misconfigurations are errors (PoolerMisconfigured), never hangs:
  - a pooler refused the options startup parameter: a direct-mode worker behind a pooler;
  - a prepared statement lost or mixed up between server connections (errors.py maps it);
  - LISTEN that does not receive: probe_listen() NOTIFYs from a second connection and waits
    PROBE_S for it.  Through a transaction pooler the listening client has no server
    connection while it waits, so the notification never reaches it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Optional

import psycopg
from psycopg.conninfo import conninfo_to_dict

from .errors import InvalidPooling, PoolerMisconfigured

POOLER_ENV = "TASKLEASE_POOLER"
LISTEN_DSN_ENV = "TASKLEASE_LISTEN_DSN"
NO_LISTEN_ENV = "TASKLEASE_NO_LISTEN"
PREPARE_ENV = "TASKLEASE_PREPARE_THRESHOLD"
MODES = ("none", "session", "transaction")
DEFAULT_PREPARE_THRESHOLD = 5

PROBE_CHANNEL = "tasklease_probe"
PROBE_S = 3.0
SET_TIMEOUT_SQL = "SELECT set_config('statement_timeout', %s, true)"

LISTEN_UNUSABLE = (
    "LISTEN on {where} does not receive notifications (a NOTIFY from another connection did "
    "not arrive within {seconds:g} s): is a transaction-mode pooler in between? Run with "
    "--pooler transaction (TASKLEASE_POOLER=transaction) to poll instead, and give "
    "--listen-dsn a direct connection for LISTEN; or --no-listen")
OPTIONS_REFUSED = (
    "the server refused the options startup parameter that carries the worker's "
    "statement_timeout ({error}): a pooler is in between. Run with --pooler transaction "
    "(TASKLEASE_POOLER=transaction) behind a transaction pool, --pooler session behind a "
    "session pool")


def _truthy(value: Optional[str]) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Pooling:
    """How connections reach PostgreSQL.  pooler: "none" (direct), "session" or
    "transaction"; listen_dsn: where the worker LISTENs when not on its own DSN; listen:
    False turns LISTEN off (the worker polls)."""

    pooler: str = "none"
    listen_dsn: Optional[str] = None
    listen: bool = True

    def __post_init__(self) -> None:
        if self.pooler not in MODES:
            raise InvalidPooling(f"pooler must be one of {', '.join(MODES)}, got {self.pooler!r}")

    @classmethod
    def resolve(cls, pooler: Optional[str] = None, listen_dsn: Optional[str] = None,
                listen: Optional[bool] = None) -> Pooling:
        """The arguments given, else TASKLEASE_POOLER, TASKLEASE_LISTEN_DSN and
        TASKLEASE_NO_LISTEN, else direct with LISTEN."""
        mode = (pooler or os.environ.get(POOLER_ENV, "") or "none").strip().lower()
        if mode not in MODES:
            raise InvalidPooling(f"{POOLER_ENV} / pooler must be one of {', '.join(MODES)}, "
                             f"got {mode!r}")
        if listen is None:
            listen = not _truthy(os.environ.get(NO_LISTEN_ENV))
        return cls(mode, listen_dsn or os.environ.get(LISTEN_DSN_ENV) or None, listen)

    @property
    def transaction(self) -> bool:
        return self.pooler == "transaction"

    def prepare_threshold(self) -> Optional[int]:
        """psycopg's prepare_threshold: TASKLEASE_PREPARE_THRESHOLD when set ("none" turns
        server-side prepared statements off), else off in transaction mode, else 5."""
        value = os.environ.get(PREPARE_ENV, "").strip().lower()
        if not value:
            return None if self.transaction else DEFAULT_PREPARE_THRESHOLD
        if value in ("none", "off", "0"):
            return None
        try:
            return max(int(value), 0)
        except ValueError:
            raise InvalidPooling(
                f"{PREPARE_ENV} must be a number or 'none', got {value!r}") from None

    def listen_target(self, dsn: str) -> Optional[str]:
        """The DSN of the worker's LISTEN session, or None: poll only."""
        if not self.listen:
            return None
        if self.listen_dsn:
            return self.listen_dsn
        return None if self.transaction else dsn

    def for_listen(self) -> Pooling:
        """The pooling of the LISTEN connection: direct when it has a DSN of its own."""
        return replace(self, pooler="none") if self.listen_dsn else self

    def describe_listen(self, dsn: str) -> str:
        """For the worker's start line: listen=dsn|listen_dsn|off."""
        target = self.listen_target(dsn)
        if target is None:
            return "off"
        return "listen_dsn" if self.listen_dsn else "dsn"


# ------------------------------------------------------------------- connections
def session_options(dsn: str, statement_timeout_ms: int) -> str:
    """libpq options: the DSN's (else PGOPTIONS) plus this statement_timeout."""
    try:
        given = conninfo_to_dict(dsn).get("options") if dsn else None
    except psycopg.ProgrammingError:
        given = None
    given = given or os.environ.get("PGOPTIONS", "")
    return f"{given} -c statement_timeout={statement_timeout_ms}".strip()


class BoundedConnection(psycopg.Connection):
    """A connection through a transaction pooler whose every execute() is bounded: the
    statement_timeout is set for the transaction of that statement alone (set_config local,
    in one pipeline with it: one round trip, one server connection, nothing left behind)."""

    statement_timeout_ms: Optional[int] = None

    def execute(self, query: Any, params: Any = None, *, prepare: Optional[bool] = None,
                binary: bool = False) -> psycopg.Cursor:
        if not self.statement_timeout_ms or self._pipeline is not None:
            return super().execute(query, params, prepare=prepare, binary=binary)
        with self.pipeline():
            super().execute(SET_TIMEOUT_SQL, (str(self.statement_timeout_ms),))
            cur = super().execute(query, params, prepare=prepare, binary=binary)
        return cur


class AsyncBoundedConnection(psycopg.AsyncConnection):
    """BoundedConnection for asyncio."""

    statement_timeout_ms: Optional[int] = None

    async def execute(self, query: Any, params: Any = None, *, prepare: Optional[bool] = None,
                      binary: bool = False) -> psycopg.AsyncCursor:
        if not self.statement_timeout_ms or self._pipeline is not None:
            return await super().execute(query, params, prepare=prepare, binary=binary)
        async with self.pipeline():
            await super().execute(SET_TIMEOUT_SQL, (str(self.statement_timeout_ms),))
            cur = await super().execute(query, params, prepare=prepare, binary=binary)
        return cur


def connect_kwargs(dsn: str, pooling: Pooling, statement_timeout_ms: Optional[int],
                   kwargs: dict) -> tuple[bool, dict, Optional[str]]:
    """(bound each statement in its own transaction?, libpq keyword arguments, SQL to run
    once connected) of one connection."""
    kwargs = dict(kwargs)
    after = None
    if not statement_timeout_ms:
        return False, kwargs, None
    if pooling.pooler == "none":
        kwargs["options"] = session_options(dsn, statement_timeout_ms)
    elif pooling.pooler == "session":
        after = f"SET statement_timeout = {int(statement_timeout_ms)}"
    return pooling.transaction, kwargs, after


def check_refused(exc: psycopg.OperationalError) -> None:
    """PoolerMisconfigured when a pooler refused the options startup parameter."""
    text = str(exc)
    if "unsupported startup parameter" in text and "options" in text:
        raise PoolerMisconfigured(OPTIONS_REFUSED.format(error=" ".join(text.split()))) from exc


# ------------------------------------------------------------------- LISTEN probe
NOTIFY_SQL = "SELECT pg_notify(%s, %s)"


def probe_listen(conn: psycopg.Connection, dsn: str, app: str,
                 notify: Optional[Callable[[str, str], None]] = None) -> bool:
    """Whether conn, which must not be listening to PROBE_CHANNEL yet, receives a NOTIFY
    sent from another connection within PROBE_S: notify(channel, payload) sends it (a
    worker uses its main connection), else a connection of its own to dsn.  Leaves conn
    listening as before."""
    token = uuid.uuid4().hex
    conn.execute(f"LISTEN {PROBE_CHANNEL}")
    try:
        (notify or _notifier(dsn, app))(PROBE_CHANNEL, token)
        deadline = time.monotonic() + PROBE_S
        while time.monotonic() < deadline:
            for note in conn.notifies(timeout=max(deadline - time.monotonic(), 0.01)):
                if note.channel == PROBE_CHANNEL and note.payload == token:
                    return True
        return False
    finally:
        conn.execute(f"UNLISTEN {PROBE_CHANNEL}")


def _notifier(dsn: str, app: str) -> Callable[[str, str], None]:
    def notify(channel: str, payload: str) -> None:
        from .db import connect  # db imports this module

        # One plain statement, no prepared statement, no startup option: fine anywhere.
        with connect(dsn, app, pooling=Pooling("transaction")) as other:
            other.execute(NOTIFY_SQL, (channel, payload))

    return notify


def listen_unusable(where: str) -> PoolerMisconfigured:
    return PoolerMisconfigured(LISTEN_UNUSABLE.format(where=where, seconds=PROBE_S))


def listen_where(pooling: Pooling) -> str:
    return "the --listen-dsn connection" if pooling.listen_dsn else "the worker's connection"


def check_listen(dsn: str, app: str, pooling: Pooling,
                 notify: Optional[Callable[[str, str], None]] = None, **kwargs: Any) -> None:
    """PoolerMisconfigured unless a LISTEN session on dsn receives notifications (a worker
    checks its listen target once at start, before it takes a name)."""
    from .db import connect  # db imports this module

    with connect(dsn, app, pooling=pooling.for_listen(), **kwargs) as conn:
        if not probe_listen(conn, dsn, app, notify):
            raise listen_unusable(listen_where(pooling))


# ------------------------------------------------------------------- command line
def add_cli_options(p: argparse.ArgumentParser) -> None:
    """The connection options every tasklease command takes."""
    p.add_argument(
        "--dsn",
        help="connection string (default: TASKLEASE_DSN, DATABASE_URL, then libpq PG* variables)",
    )
    p.add_argument("--pooler", choices=MODES, default=None,
                   help=f"what sits between tasklease and PostgreSQL (default: {POOLER_ENV}, "
                        "else none): 'transaction' turns off prepared statements and LISTEN "
                        "and bounds each statement in its own transaction")
    p.add_argument("--listen-dsn", metavar="DSN", default=None,
                   help=f"a direct connection for the worker's LISTEN session (default: "
                        f"{LISTEN_DSN_ENV}); with --pooler transaction the worker polls "
                        "without it")
    p.add_argument("--no-listen", action="store_true",
                   help=f"never LISTEN: find new tasks by polling (also {NO_LISTEN_ENV}=1)")


@contextlib.contextmanager
def cli_options(args: argparse.Namespace) -> Iterator[None]:
    """The command's connection options as this process's defaults (the environment
    variables they stand for) while it runs, so every connection it opens follows them;
    the environment is restored afterwards (main() may run in a longer-lived process)."""
    wanted = {}
    if getattr(args, "pooler", None):
        wanted[POOLER_ENV] = args.pooler
    if getattr(args, "listen_dsn", None):
        wanted[LISTEN_DSN_ENV] = args.listen_dsn
    if getattr(args, "no_listen", False):
        wanted[NO_LISTEN_ENV] = "1"
    before = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
