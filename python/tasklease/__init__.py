"""tasklease: a Postgres-native task queue with fenced, time-boxed leases."""

__version__ = "0.2.0"

from .aio import AsyncClient, AsyncWorker  # noqa: E402
from .client import (  # noqa: E402
    Client,
    Enqueued,
    QueueCount,
    ReaperEntry,
    Snapshot,
    StaleTask,
    Stats,
    TaskInfo,
    WorkerInfo,
)
from .errors import (  # noqa: E402
    ConnectionLost,
    CronUnavailable,
    InvalidInput,
    InvalidWorkerConfig,
    MigrationError,
    PoolerMisconfigured,
    TaskleaseError,
    TaskNotFound,
    WorkerNameInUse,
)
from .migrate import migrate  # noqa: E402
from .worker import Task, Worker  # noqa: E402

__all__ = [
    "AsyncClient",
    "AsyncWorker",
    "Client",
    "ConnectionLost",
    "CronUnavailable",
    "Enqueued",
    "InvalidInput",
    "InvalidWorkerConfig",
    "MigrationError",
    "PoolerMisconfigured",
    "QueueCount",
    "ReaperEntry",
    "Snapshot",
    "StaleTask",
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
