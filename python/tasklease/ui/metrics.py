"""/metrics: database-level gauges in the Prometheus text format, labelled by queue.

They complement the worker's own metrics (tasklease.metrics), which can only count what
one process did.  Finished tasks are reported over the last hour rather than as totals:
a total would need a scan of every finished task, and pruning would make it go down.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

from . import data

GAUGES = {
    "tasklease_tasks": "Tasks in a live state (queued, running) per queue.",
    "tasklease_runnable_tasks": "Queued tasks whose run_after has passed.",
    "tasklease_oldest_runnable_age_seconds":
        "Seconds the oldest runnable task has waited (0 when none).",
    "tasklease_stale_tasks": "Running tasks the reaper would act on now.",
    "tasklease_dead_worker_tasks": "Running tasks held by a dead or stopped worker.",
    "tasklease_finished_tasks_1h": "Tasks that finished in the last hour, by status.",
    "tasklease_reaper_decisions_1h":
        "Reaper, recovery, release and operator decisions of the last hour.",
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _line(name: str, labels: dict, value) -> str:
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
    return f"{name}{{{inner}}} {value}"


def samples(conn: psycopg.Connection) -> Iterable[tuple[str, dict, object]]:
    for q in data.queues(conn, count_limit=0):
        labels = {"queue": q["queue"]}
        yield "tasklease_tasks", {**labels, "status": "queued"}, q["queued"]
        yield "tasklease_tasks", {**labels, "status": "running"}, q["running"]
        yield "tasklease_runnable_tasks", labels, q["runnable"]
        yield ("tasklease_oldest_runnable_age_seconds", labels,
               float(q["oldest_runnable_s"] or 0))
        yield "tasklease_stale_tasks", labels, q["stale"]
        yield "tasklease_dead_worker_tasks", labels, q["dead_owner_tasks"]
    for r in data.rows(conn, """
            SELECT queue, sum(completed) AS completed, sum(failed) AS failed,
                sum(cancelled) AS cancelled
            FROM tasklease.console_throughput(60) GROUP BY queue ORDER BY queue"""):
        for status in ("completed", "failed", "cancelled"):
            yield ("tasklease_finished_tasks_1h", {"queue": r["queue"], "status": status},
                   int(r[status]))
    for r in data.decisions_last_hour(conn):
        yield ("tasklease_reaper_decisions_1h",
               {"queue": r["queue"], "action": r["action"], "reason": r["reason"]}, r["n"])


def render(conn: psycopg.Connection) -> str:
    by_name: dict[str, list[str]] = {name: [] for name in GAUGES}
    for name, labels, value in samples(conn):
        by_name[name].append(_line(name, labels, value))
    out: list[str] = []
    for name, help_text in GAUGES.items():
        out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", *by_name[name]]
    return "\n".join(out) + "\n"
