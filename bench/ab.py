"""Compare the claim path of two tasklease installations, A and B, on one server.

    .venv/bin/python bench/ab.py --a DSN_A --b DSN_B [--jobs 3000] [--rounds 8]

A and B are two databases of one cluster, each migrated by the release to compare (check out
the other release and run its `tasklease migrate --no-schedule` against A). Each round loads
`--jobs` queued tasks into each and drains them with a server-side loop: claim_task +
complete_task with a COMMIT per job, and claim_tasks(10) + complete_tasks per 10 jobs, so
no network and no client are measured. The order of A and B alternates per round. Reported:
wall and backend CPU time per job (CPU from /proc/<backend pid>/schedstat, so the server must
run on this host), the median over rounds, and the median of the per-round ratios B/A.

Why not `make bench`: on a shared machine the same scenario varies by 30-50% between
repetitions, which hides any difference of a few percent. Interleaving the two installations
round by round exposes both to the same load. An A/A run (both databases on the same
release) checks the method: its median ratios come out at 1.00 +- 0.01.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import psycopg

LOOPS = """
CREATE SCHEMA IF NOT EXISTS bench_ab;
CREATE OR REPLACE PROCEDURE bench_ab.single(n int) LANGUAGE plpgsql AS $$
DECLARE c record;
BEGIN
    FOR i IN 1..n LOOP
        SELECT * INTO c FROM tasklease.claim_task('bench-ab');
        PERFORM tasklease.complete_task(c.id, 'bench-ab', c.lease_token);
        COMMIT;
    END LOOP;
END $$;
CREATE OR REPLACE PROCEDURE bench_ab.batch(n int) LANGUAGE plpgsql AS $$
DECLARE ids bigint []; tokens bigint [];
BEGIN
    FOR i IN 1..n / 10 LOOP
        SELECT array_agg(id), array_agg(lease_token) INTO ids, tokens
        FROM tasklease.claim_tasks('bench-ab', 10);
        PERFORM count(*) FROM tasklease.complete_tasks('bench-ab', ids, tokens);
        COMMIT;
    END LOOP;
END $$;
"""
KINDS = ("single", "batch")
WARM = 30  # jobs drained first, so that every plan is cached before timing


def _cpu_ns(pid: int) -> int:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def _measure(conn: psycopg.Connection, kind: str, jobs: int) -> tuple[float, float]:
    """(wall us, CPU us) per job of one drain of `jobs` freshly loaded tasks."""
    conn.execute("TRUNCATE tasklease.tasks, tasklease.reaper_log")
    conn.execute("INSERT INTO tasklease.tasks (payload) "
                 "SELECT jsonb_build_object('n', g) FROM generate_series(1, %s) AS g", (jobs,))
    conn.execute("VACUUM ANALYZE tasklease.tasks")
    conn.execute(f"CALL bench_ab.{kind}(%s)", (WARM,))
    pid = conn.info.backend_pid
    t0, c0 = time.perf_counter(), _cpu_ns(pid)
    conn.execute(f"CALL bench_ab.{kind}(%s)", (jobs - WARM,))
    n = jobs - WARM
    return (time.perf_counter() - t0) / n * 1e6, (_cpu_ns(pid) - c0) / n / 1e3


def run(dsn_a: str, dsn_b: str, jobs: int, rounds: int) -> dict:
    conns = {"A": psycopg.connect(dsn_a, autocommit=True),
             "B": psycopg.connect(dsn_b, autocommit=True)}
    try:
        for conn in conns.values():
            conn.execute(LOOPS)
        raw = {(side, kind): {"wall": [], "cpu": []} for side in conns for kind in KINDS}
        for r in range(rounds):
            for kind in KINDS:
                for side in ("A", "B") if r % 2 == 0 else ("B", "A"):
                    wall, cpu = _measure(conns[side], kind, jobs)
                    raw[(side, kind)]["wall"].append(wall)
                    raw[(side, kind)]["cpu"].append(cpu)
        for conn in conns.values():
            conn.execute("TRUNCATE tasklease.tasks, tasklease.reaper_log")
            conn.execute("DROP SCHEMA bench_ab CASCADE")
    finally:
        for conn in conns.values():
            conn.close()
    out: dict = {}
    for kind in KINDS:
        for metric in ("wall", "cpu"):
            a, b = raw[("A", kind)][metric], raw[("B", kind)][metric]
            ratios = [y / x for x, y in zip(a, b)]
            out[f"{kind}_{metric}"] = {
                "a_us": statistics.median(a), "b_us": statistics.median(b),
                "ratio": statistics.median(ratios), "min": min(ratios), "max": max(ratios),
            }
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--a", required=True, help="DSN of installation A (the baseline)")
    p.add_argument("--b", required=True, help="DSN of installation B")
    p.add_argument("--jobs", type=int, default=3000, help="jobs per drain (default 3000)")
    p.add_argument("--rounds", type=int, default=8, help="rounds (default 8)")
    args = p.parse_args()
    for name, m in run(args.a, args.b, args.jobs, args.rounds).items():
        print(f"{name:<12} A {m['a_us']:8.1f} us/job   B {m['b_us']:8.1f} us/job   "
              f"B/A per round: median {m['ratio']:.3f} (min {m['min']:.3f}, max {m['max']:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
