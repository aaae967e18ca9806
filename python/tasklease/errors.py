"""Exceptions of tasklease, mapped from the project's SQLSTATE codes (class TL).

The table of codes is docs/errors.md; this module is its one mapping to Python.
"""

from __future__ import annotations

import psycopg


class TaskleaseError(Exception):
    """Base class of every error tasklease raises on purpose."""

    sqlstate: str | None = None


class InvalidInput(TaskleaseError):
    """A function was called with a bad argument (TL001-TL007)."""


class InvalidOwner(InvalidInput):
    sqlstate = "TL001"


class InvalidDuration(InvalidInput):
    sqlstate = "TL002"


class InvalidBatch(InvalidInput):
    sqlstate = "TL003"


class InvalidPayload(InvalidInput):
    sqlstate = "TL004"


class InvalidQueue(InvalidInput):
    sqlstate = "TL005"


class InvalidSetting(InvalidInput):
    sqlstate = "TL006"


class InvalidArgument(InvalidInput):
    sqlstate = "TL007"


class WorkerNameInUse(TaskleaseError):
    """Another live process holds this worker name (TL008)."""

    sqlstate = "TL008"


class TaskNotFound(TaskleaseError):
    sqlstate = "TL009"


class CronUnavailable(TaskleaseError):
    """pg_cron is not installed in this database (TL010)."""

    sqlstate = "TL010"


class InvalidSchedule(TaskleaseError):
    sqlstate = "TL011"


class InvalidResult(InvalidInput):
    """A task result the database will not store (TL012: larger than max_result_bytes)."""

    sqlstate = "TL012"


class CronSetupIncomplete(TaskleaseError):
    """pg_cron is there but a privilege or setting the schedule needs is missing (TL013);
    the message's HINT names the GRANT or setting."""

    sqlstate = "TL013"


class InvalidWorkerConfig(TaskleaseError, ValueError):
    """A worker's intervals or options break the rules it runs by (no SQLSTATE: refused
    before anything is claimed).  The CLI exits 2 with the message."""


class MigrationError(TaskleaseError):
    """The database's migrations disagree with the files (changed checksum, unknown version)."""


class InvalidPooling(TaskleaseError, ValueError):
    """An unknown --pooler / TASKLEASE_POOLER mode or TASKLEASE_PREPARE_THRESHOLD value (the
    CLI exits 2)."""


class PoolerMisconfigured(TaskleaseError):
    """What tasklease was told about the connection's pooler does not match what is there:
    LISTEN that receives nothing, a prepared statement lost between server connections, a
    startup parameter a pooler refuses.  The message names the option to use (--pooler,
    --listen-dsn, --no-listen).  The CLI exits 2."""


class ConnectionLost(TaskleaseError):
    """A client call lost its connection.  may_have_committed is False when nothing was
    sent (the connection could not be opened within the client's connect_timeout_s): the
    call can be made again as it is.  True when the call was sent and no answer came back:
    it may have committed, so send it again only if doing it twice is harmless.  The next
    call reconnects.  Reads are retried by the client itself and never raise this for a
    connection lost after sending."""

    def __init__(self, message: str, may_have_committed: bool, call: str = "") -> None:
        super().__init__(message)
        self.may_have_committed = may_have_committed
        self.call = call


_BY_CODE: dict[str, type[TaskleaseError]] = {
    cls.sqlstate: cls
    for cls in (
        InvalidOwner,
        InvalidDuration,
        InvalidBatch,
        InvalidPayload,
        InvalidQueue,
        InvalidSetting,
        InvalidArgument,
        WorkerNameInUse,
        TaskNotFound,
        CronUnavailable,
        InvalidSchedule,
        InvalidResult,
        CronSetupIncomplete,
    )
    if cls.sqlstate
}


# A server-side prepared statement that psycopg made on one server connection and a
# transaction-mode pooler then sent to another: missing there (26000), already there
# (42P05), or another client's with other parameters (08P01).
_PREPARED_LOST = frozenset({"26000", "42P05", "08P01"})
PREPARED_LOST_MESSAGE = (
    "a prepared statement was lost between server connections ({error}): a transaction-mode "
    "pooler (PgBouncer before 1.21, or without max_prepared_statements) is in between. Run "
    "with --pooler transaction (TASKLEASE_POOLER=transaction, or pooler='transaction'), which "
    "turns prepared statements off")


def from_psycopg(exc: psycopg.Error) -> Exception:
    """The tasklease exception for a database error with a TL code, or for a prepared
    statement lost by a pooler, else exc itself."""
    code = getattr(exc, "sqlstate", None)
    if code in _PREPARED_LOST and "prepared statement" in str(exc):
        err = PoolerMisconfigured(PREPARED_LOST_MESSAGE.format(error=" ".join(str(exc).split())))
        return err
    cls = _BY_CODE.get(code or "")
    if cls is None:
        return exc
    diag = exc.diag
    parts = [diag.message_primary or str(exc)]
    if diag.message_detail:
        parts.append(f"DETAIL: {diag.message_detail}")
    if diag.message_hint:
        parts.append(f"HINT: {diag.message_hint}")
    err = cls("\n".join(parts))
    err.sqlstate = code
    return err
