"""tasklease: a Postgres-native task queue with fenced, time-boxed leases."""

from .errors import (
    CronUnavailable,
    InvalidInput,
    MigrationError,
    TaskleaseError,
    TaskNotFound,
    WorkerNameInUse,
)
from .migrate import migrate

__all__ = [
    "CronUnavailable",
    "InvalidInput",
    "MigrationError",
    "TaskNotFound",
    "TaskleaseError",
    "WorkerNameInUse",
    "migrate",
]
__version__ = "0.1.0"
