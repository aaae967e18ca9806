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


def from_psycopg(exc: psycopg.Error) -> Exception:
    """The tasklease exception for a database error with a TL code, else exc itself."""
    code = getattr(exc, "sqlstate", None)
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
