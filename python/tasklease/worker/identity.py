"""The worker's name: a stable name plus one incarnation per process.

register_worker refuses a name held by a live incarnation (TL008) and serialises concurrent
registrations of one name.  A name whose last incarnation ran on this host under a pid
that no longer exists is taken over at once; the takeover names the incarnation that was
seen dead, so that of two processes that both saw it, only one gets the name.  Without an
explicit name the worker takes the first free <host>-<n>.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional

from psycopg.types.json import Jsonb

from ..errors import WorkerNameInUse
from .events import kv, log
from .link import Link

MAX_SLOTS = 64  # default names try <host>-0 .. <host>-63
STATUS_SQL = "SELECT host, pid, incarnation FROM tasklease.worker_status WHERE owner_id = %s"
REGISTER_SQL = "SELECT 1 FROM tasklease.register_worker(%s, %s, %s, %s, %s, %s, %s)"


@dataclass(frozen=True)
class Incarnation:
    """This process, as the workers table records it."""

    id: str
    host: str
    pid: int


def claim_name(link: Link, wanted: Optional[str], me: Incarnation,
               info: dict[str, Any]) -> str:
    """Register wanted (WorkerNameInUse when a live worker holds it), or the first free
    <host>-<n>."""
    if wanted:
        register(link, wanted, me, info)
        return wanted
    for slot in range(MAX_SLOTS):
        candidate = f"{me.host}-{slot}"
        try:
            register(link, candidate, me, info)
            return candidate
        except WorkerNameInUse:
            continue
    raise WorkerNameInUse(f"all worker names {me.host}-0..{MAX_SLOTS - 1} are in use")


def register(link: Link, name: str, me: Incarnation, info: dict[str, Any]) -> None:
    """register_worker, taking over the previous incarnation when it ran here under a pid
    that no longer exists."""
    row = link.once(lambda c: c.execute(STATUS_SQL, (name,)).fetchone())
    dead = dead_incarnation(row, me)
    if dead is not None:
        log.info(kv("takeover", worker=name, previous_pid=row[1], previous_incarnation=dead))
    link.once(lambda c: c.execute(REGISTER_SQL, (
        name, me.id, me.host, me.pid, Jsonb(info), dead is not None, dead)))


def dead_incarnation(row: Optional[tuple], me: Incarnation) -> Optional[str]:
    """The incarnation of a worker_status row (host, pid, incarnation) that ran on this host
    under a pid that is gone, else None."""
    if not row:
        return None
    host, pid, incarnation = row
    if host != me.host or not pid or pid == me.pid or pid_alive(pid):
        return None
    return incarnation


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
