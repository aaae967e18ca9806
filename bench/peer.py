"""Section peer: PgQueuer drained the way the worker section drains tasklease.

PgQueuer is installed from PyPI into a virtual environment of the bench's own
(bench/.venv-peers, git-ignored), never into the project's: it is not a dependency of
tasklease, its tests or its dev tools.  Its processes run that environment's interpreter
with bench/peers/pgqueuer_drain.py.  Jobs are enqueued first; `procs` PgQueuer workers
(asyncpg, batch_size `batch`, a no-op async entrypoint, drain mode) are started, wait
until all are ready, then drain.  The time is PgQueuer's own log on the database clock:
first 'picked' to last 'successful'.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path
from typing import Callable, Optional

from . import drain
from .cluster import REPO_ROOT
from .config import Config

Log = Callable[[str], None]
PEERS_ENV = REPO_ROOT / "bench" / ".venv-peers"
SCRIPT = REPO_ROOT / "bench" / "peers" / "pgqueuer_drain.py"
REQUIREMENTS = ("pgqueuer==1.6.0", "asyncpg>=0.29", "py-spy==0.4.3")  # py-spy: profile.py


def python() -> Path:
    return PEERS_ENV / "bin" / "python"


def ensure_env(log: Log) -> Optional[Path]:
    """The peers' interpreter, created and filled on first use; None when pip fails (the
    section is then skipped, the rest of the bench runs)."""
    marker = PEERS_ENV / "requirements.txt"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if python().exists() and marker.exists() and marker.read_text() == wanted:
        return python()
    log(f"  peer: installing {', '.join(REQUIREMENTS)} into {PEERS_ENV.relative_to(REPO_ROOT)}")
    venv.EnvBuilder(with_pip=True, clear=True).create(PEERS_ENV)
    proc = subprocess.run([str(python()), "-m", "pip", "install", "-q", *REQUIREMENTS],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        log(f"  peer: pip failed, section skipped: {proc.stderr.strip()[-500:]}")
        return None
    marker.write_text(wanted)
    return python()


def _run(py: Path, *args: str, timeout: float = 600) -> str:
    proc = subprocess.run([str(py), str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"pgqueuer_drain {args[0]} failed: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def drain_once(py: Path, dsn: str, jobs: int, procs: int, batch: int) -> dict:
    _run(py, "enqueue", dsn, str(jobs))
    workers = [subprocess.Popen([str(py), str(SCRIPT), "work", dsn, str(batch)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(procs)]
    try:
        for w in workers:
            line = w.stdout.readline()  # type: ignore[union-attr]
            if line.strip() != "ready":
                raise RuntimeError(f"a PgQueuer worker did not start: {w.stderr.read()[-2000:]}")
        for w in workers:
            w.stdin.write("go\n")  # type: ignore[union-attr]
            w.stdin.flush()  # type: ignore[union-attr]
        for w in workers:
            if w.wait(timeout=max(300.0, jobs / 20)) != 0:
                raise RuntimeError(f"a PgQueuer worker failed: {w.stderr.read()[-2000:]}")
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    done, seconds = _run(py, "span", dsn).split()
    if int(done) != jobs:
        raise RuntimeError(f"PgQueuer completed {done} of {jobs} jobs")
    seconds_f = max(float(seconds), 1e-6)
    return {"jobs": jobs, "seconds": seconds_f, "jobs_per_s": jobs / seconds_f}


def run(dsn: str, cfg: Config, log: Log) -> Optional[dict]:
    """{"pgqueuer": {procs: {runs, jobs_per_s (median), batch}}}, or None when skipped."""
    py = ensure_env(log)
    if py is None:
        return None
    _run(py, "install", dsn)
    raw: dict = {p: [] for p in cfg.peer_procs}
    for rep in range(cfg.reps):
        for procs in cfg.peer_procs:
            r = drain_once(py, dsn, cfg.jobs, procs, cfg.batch)
            raw[procs].append(r)
            log(f"  run {rep + 1}/{cfg.reps} pgqueuer x{procs:<2} (batch {cfg.batch})"
                f" {r['jobs_per_s']:9.0f} jobs/s")
    return {"pgqueuer": {str(p): {"runs": [round(r["jobs_per_s"], 1) for r in runs],
                                  "jobs_per_s": drain.median([r["jobs_per_s"] for r in runs]),
                                  "batch": cfg.batch, "version": REQUIREMENTS[0]}
                         for p, runs in raw.items()}}


if __name__ == "__main__":  # python -m bench.peer DSN: one drain at 4 processes
    print(drain_once(ensure_env(print) or sys.exit(1), sys.argv[1], 20000, 4, 10))
