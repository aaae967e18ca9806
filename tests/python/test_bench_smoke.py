"""The benchmark's smoke run: bench/run.py's code in quick mode, so it never rots.

It runs in a fresh database of its own (the floor table included) and leaves nothing behind.
It asserts the shape of the results and that every measurement is a number > 0; it never
asserts a timing (speed targets are the bench's business, printed as PASS/MISS).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import backend
import psycopg
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tasklease.migrate import migrate  # noqa: E402

from bench import report  # noqa: E402
from bench import run as bench_run  # noqa: E402
from bench.config import SECTIONS, make_config  # noqa: E402

PATHS = ("floor_single", "api_single", "floor_batch", "api_batch")


def positive(x) -> bool:
    return isinstance(x, (int, float)) and not math.isnan(x) and x > 0


@pytest.fixture(scope="module")
def quick_results(pg_backend):
    """One quick run of every section in a fresh, migrated database (dropped afterwards)."""
    factory = backend.DatabaseFactory(pg_backend, prefix="tl_bench")
    try:
        dsn = factory.create()
        migrate(dsn, schedule=False)
        cfg = make_config(quick=True)
        results = bench_run.run_bench(dsn, cfg, log=lambda _msg: None)
        with psycopg.connect(dsn, autocommit=True) as conn:
            left = conn.execute("SELECT count(*) FROM tasklease.tasks").fetchone()[0]
            floor = conn.execute(
                "SELECT count(*) FROM pg_namespace"
                " WHERE nspname IN ('bench_floor', 'tasklease_bench')"
            ).fetchone()[0]
        yield cfg, results, left, floor
    finally:
        factory.drop_all()


def test_throughput_and_latency_are_positive_numbers(quick_results):
    cfg, results, _, _ = quick_results
    for path in PATHS:
        for c in cfg.concurrencies:
            m = results["throughput"][path][str(c)]
            assert positive(m["jobs_per_s"]), (path, c, m)
            assert len(m["runs"]) == cfg.reps
            assert positive(m["claim_p50_ms"]) and m["claim_p99_ms"] >= m["claim_p50_ms"]
    assert set(results["latency"]) == set(PATHS)


def test_worker_end_to_end_is_measured_for_both_flavours(quick_results):
    cfg, results, _, _ = quick_results
    for key in ("worker", "worker_async"):
        for procs, threads in cfg.worker_shapes:
            m = results[key][f"{procs}x{threads}"]
            assert positive(m["jobs_per_s"]), (key, procs, threads, m)
            assert (m["processes"], m["threads"]) == (procs, threads)


def test_pgqueuer_is_drained_as_the_peer(quick_results):
    cfg, results, _, _ = quick_results
    peer = results["peer"]["pgqueuer"]
    assert set(peer) == {str(p) for p in cfg.peer_procs}
    assert all(positive(m["jobs_per_s"]) and m["batch"] == cfg.batch for m in peer.values())


def test_enqueue_steady_burst_and_recovery_are_measured(quick_results):
    cfg, results, _, _ = quick_results
    enq = results["enqueue"]
    assert positive(enq["rates"]["enqueue"]["per_s"]) and positive(enq["ratio"])
    # The target is the median ratio enqueue / raw of rounds run back to back.
    assert len(enq["pair_ratios"]) == cfg.enqueue_pairs
    assert enq["ratio"] == pytest.approx(sorted(enq["pair_ratios"])[cfg.enqueue_pairs // 2],
                                         abs=0.001)
    assert enq["wake"]["tasks"] == cfg.wake_tasks and positive(enq["wake"]["max_ms"])
    # The function layer alone is measured too, in the same rounds (its schema is dropped:
    # test_every_target_has_a_verdict_and_nothing_is_left_behind).
    assert positive(enq["rates"]["definer"]["per_s"]) and positive(enq["definer_ratio"])
    assert positive(enq["over_definer"])
    st = results["steady"]
    assert positive(st["pickup_p99_ms"]) and positive(st["saturation_jobs_per_s"])
    burst = results["burst"]
    assert [(p["rate"], p["seconds"]) for p in burst["phases"]] == list(cfg.burst_phases)
    assert all(positive(p["pickup_p99_ms"]) for p in burst["phases"])
    rec = results["recovery"]
    assert len(rec["runs"]) == cfg.recovery_runs
    for r in rec["runs"]:
        assert r["actor"].startswith("reap_if_due:"), "a live worker took the dead one's task"
        assert 0 < r["requeued_s"] <= r["running_s"]


def test_history_layouts_are_compared(quick_results):
    _, results, _, _ = quick_results
    hist = results["history"]
    assert {"table", "empty"} <= set(hist["layouts"])
    assert set(hist["layouts"]) | set(hist["errors"]) == {"table", "empty", "partitioned"}
    for m in hist["layouts"].values():
        assert positive(m["jobs_per_s"]) and positive(m["vacuum_ms"])


def test_reaper_acts_on_the_stale_set_at_every_size(quick_results):
    cfg, results, _, _ = quick_results
    assert set(results["reaper"]) == {str(n) for n in cfg.reaper_finished}
    for r in results["reaper"].values():
        for kind in ("dry_run", "real"):
            assert positive(r[kind]["ms"])
            assert r[kind]["acted_on"] == [cfg.reaper_stale] * cfg.reaper_repeats


def test_hot_share_and_soak_are_measured(quick_results):
    cfg, results, _, _ = quick_results
    hot = results["hot"]
    assert hot["renewals"] == cfg.hot_tasks * cfg.hot_rounds
    assert hot["updates"] >= hot["renewals"] and 0 <= hot["hot_updates"] <= hot["updates"]
    soak = results["soak"]
    assert soak["cycles"] >= cfg.soak
    assert len(soak["samples"]) >= 2
    assert all(positive(s["table_bytes"]) and positive(s["index_bytes"]) for s in soak["samples"])


def test_profile_compares_the_function_bodies_run_inline(quick_results):
    _, results, _, _ = quick_results
    assert {"claim (LIMIT 1)", "complete_task", "renew_lease"} <= set(results["profile"]["explain"])
    for by_c in results["profile"]["inline"].values():
        assert all(positive(m["jobs_per_s"]) for m in by_c.values())
    if results["meta"]["pg_stat_statements"]:  # the worker sampled with py-spy
        assert set(results["profile"]["worker"]) == {"1x1", "1x8"}


def test_console_pages_are_timed_by_the_server(quick_results):
    cfg, results, _, _ = quick_results
    ui = results["ui"]
    assert ui["finished"] == cfg.ui_finished
    assert {"/", "/tasks", "/workers", "/reaper", "/metrics"} <= set(ui["pages"])
    for m in ui["pages"].values():
        assert positive(m["ms"]) and len(m["runs_ms"]) == cfg.ui_repeats


def test_flow_control_claims_and_enqueues_are_measured(quick_results):
    cfg, results, _, _ = quick_results
    flow = results["flow"]
    for part, key in (("claim", "jobs_per_s"), ("enqueue", "per_s")):
        assert flow[part], part
        for name, by_c in flow[part].items():
            assert set(by_c) == {str(c) for c in cfg.flow_concurrencies}, name
            assert all(positive(m[key]) for m in by_c.values()), (name, by_c)
    assert "Flow control" in report.render(results)


def test_every_target_has_a_verdict_and_nothing_is_left_behind(quick_results):
    _, results, left, floor = quick_results
    assert results["targets"] and all(t["pass"] in (True, False) for t in results["targets"])
    assert left == 0 and floor == 0


def test_report_files_are_written(quick_results, tmp_path):
    _, results, _, _ = quick_results
    report.write_json(results, tmp_path / "results.json")
    written = report.plot(results, tmp_path)
    assert (tmp_path / "results.json").stat().st_size > 0
    assert {p.name for p in written} == {"throughput.png", "soak.png"}
    text = report.render(results)
    assert "Targets:" in text and ("PASS" in text or "MISS" in text)


def test_targets_judge_ratios_against_the_floor():
    def tp(jobs_per_s):
        return {"1": {"jobs_per_s": jobs_per_s}}

    results = {"throughput": {"floor_single": tp(1000.0), "api_single": tp(790.0),
                              "floor_batch": tp(1000.0), "api_batch": tp(900.0)}}
    verdicts = {t["target"].split(" >=")[0]: t["pass"] for t in report.targets(results)}
    assert verdicts["SQL API single"] is False
    assert verdicts["SQL API batched"] is True


def test_unknown_section_is_refused():
    with pytest.raises(ValueError):
        make_config(only="floor,nosuchsection")
    assert make_config(only="reaper").only == ("reaper",)
    assert set(make_config().only) == set(SECTIONS)
