"""What one bench run measures, and how much of it: the sizes of every section."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

SECTIONS = ("floor", "api", "worker", "peer", "enqueue", "steady", "burst", "recovery",
            "history", "reaper", "hot", "soak", "profile", "ui", "flow")

# The full run's soak: 1,000,000 claim/complete cycles took about 4-5 minutes on the 2-core
# machine this was written on (the limit for the full size is about ten); a slower
# machine can pass a smaller --soak N, which the output then reports.
DEFAULT_SOAK = 1_000_000


@dataclass(frozen=True)
class Config:
    jobs: int = 20_000  # jobs per throughput measurement
    reps: int = 3  # runs per measurement; the median is reported
    concurrencies: tuple = (1, 4, 8, 16)  # client connections (one process each)
    worker_shapes: tuple = ((4, 1), (4, 4), (4, 8))  # worker processes x concurrency
    peer_procs: tuple = (4,)  # PgQueuer worker processes (batch_size = batch)
    batch: int = 10  # claim size of the batched paths
    soak: int = DEFAULT_SOAK  # claim/complete cycles of the bloat soak
    soak_procs: int = 4
    soak_backlog: int = 1_000  # queued tasks kept ahead of the soak's claimers
    reaper_finished: tuple = (10_000, 1_000_000)  # finished tasks beside the running set
    reaper_running: int = 2_000
    reaper_stale: int = 200
    reaper_repeats: int = 5
    hot_tasks: int = 2_000  # running tasks renewed in the HOT phase
    hot_rounds: int = 5  # renewals of each
    latency_concurrency: int = 16
    ui_finished: int = 1_000_000  # finished tasks beside the console's pages
    ui_repeats: int = 5  # requests per page (after one warm-up); the median is reported
    flow_jobs: int = 10_000  # jobs per claim measurement of the flow section
    flow_enqueues: int = 5_000  # tasks each producer enqueues per flow measurement
    flow_concurrencies: tuple = (1, 8)
    enqueue_procs: int = 4  # processes of the enqueue section
    enqueue_tasks: int = 16_000  # tasks per enqueue measurement (all processes)
    enqueue_pairs: int = 9  # rounds of raw/definer/enqueue runs; the median round ratio is reported
    wake_tasks: int = 10  # lone enqueues on an idle worker
    producer_procs: int = 3  # processes sending the fixed-rate load
    steady_rate: int = 600  # tasks/s of the steady section
    steady_s: int = 20
    steady_concurrency: int = 32
    saturation_jobs: int = 20_000
    burst_phases: tuple = ((900, 20), (1350, 40))  # (tasks/s, seconds)
    burst_concurrency: int = 64
    recovery_runs: int = 3  # kill -9 recoveries measured
    history_finished: int = 1_000_000  # finished tasks beside the live ones (history section)
    history_jobs: int = 10_000  # tasks drained per layout
    quick: bool = False
    only: tuple = field(default=SECTIONS)

    def wants(self, section: str) -> bool:
        return section in self.only


QUICK = Config(
    jobs=200,
    reps=1,
    concurrencies=(1, 4),
    worker_shapes=((1, 1), (2, 2)),
    peer_procs=(2,),
    soak=3_000,
    soak_procs=2,
    soak_backlog=100,
    reaper_finished=(1_000, 10_000),
    reaper_running=100,
    reaper_stale=10,
    reaper_repeats=2,
    hot_tasks=100,
    hot_rounds=3,
    latency_concurrency=4,
    ui_finished=2_000,
    ui_repeats=2,
    flow_jobs=200,
    flow_enqueues=200,
    flow_concurrencies=(1, 2),
    enqueue_procs=2,
    enqueue_tasks=200,
    enqueue_pairs=1,
    wake_tasks=2,
    producer_procs=1,
    steady_rate=100,
    steady_s=2,
    steady_concurrency=4,
    saturation_jobs=200,
    burst_phases=((100, 1), (200, 1)),
    burst_concurrency=4,
    recovery_runs=1,
    history_finished=2_000,
    history_jobs=200,
    quick=True,
)


def make_config(
    quick: bool = False,
    only: Optional[str] = None,
    jobs: Optional[int] = None,
    soak: Optional[int] = None,
) -> Config:
    """The full or quick configuration, with the command line's overrides applied."""
    cfg = QUICK if quick else Config()
    if only:
        wanted = tuple(s.strip() for s in only.split(",") if s.strip())
        unknown = [s for s in wanted if s not in SECTIONS]
        if unknown:
            raise ValueError(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
        cfg = replace(cfg, only=wanted)
    if jobs is not None:
        cfg = replace(cfg, jobs=jobs)
    if soak is not None:
        cfg = replace(cfg, soak=soak)
    if cfg.latency_concurrency not in cfg.concurrencies:
        cfg = replace(cfg, latency_concurrency=max(cfg.concurrencies))
    return cfg
