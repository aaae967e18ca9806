"""tasklease: a Postgres-native task queue with fenced, time-boxed leases."""

__version__ = "0.1.0"

from .client import Client, Enqueued, QueueCount, Stats, TaskInfo, WorkerInfo  # noqa: E402
from .errors import (  # noqa: E402
    CronUnavailable,
    InvalidInput,
    MigrationError,
    TaskleaseError,
    TaskNotFound,
    WorkerNameInUse,
)
from .migrate import migrate  # noqa: E402
from .worker import Task, Worker  # noqa: E402

__all__ = [
    "Client",
    "CronUnavailable",
    "Enqueued",
    "InvalidInput",
    "MigrationError",
    "QueueCount",
    "Stats",
    "Task",
    "TaskInfo",
    "TaskNotFound",
    "TaskleaseError",
    "Worker",
    "WorkerInfo",
    "WorkerNameInUse",
    "migrate",
]
