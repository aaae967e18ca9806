"""Targets (PASS/MISS), the printed table, bench/results.json and the PNG plots."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

PATH_ORDER = ("floor_single", "api_single", "floor_batch", "api_batch")
FLOOR_OF = {"api_single": "floor_single", "api_batch": "floor_batch"}


def _tput(results: dict, path: str, c) -> Optional[float]:
    m = results.get("throughput", {}).get(path, {}).get(str(c))
    return m["jobs_per_s"] if m else None


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def _target(name: str, value: Optional[float], ok: Optional[bool], detail: str) -> dict:
    return {"target": name, "value": value, "pass": ok, "detail": detail}


def _api_targets(results: dict) -> list:
    out = []
    pairs = (("api_single", "floor_single", 0.8), ("api_batch", "floor_batch", 0.9))
    for path, floor, need in pairs:
        by_c = results.get("throughput", {}).get(path, {})
        ratios = {c: _ratio(_tput(results, path, c), _tput(results, floor, c)) for c in by_c}
        ratios = {c: r for c, r in ratios.items() if r is not None}
        worst = min(ratios.values()) if ratios else None
        detail = ", ".join(f"x{c}: {r:.2f}" for c, r in ratios.items())
        label = "single" if path == "api_single" else "batched"
        out.append(_target(
            f"SQL API {label} >= {need}x the {label} floor (every concurrency)",
            worst, None if worst is None else worst >= need, detail,
        ))
    return out


def _worker_targets(results: dict) -> list:
    worker = results.get("worker", {})
    floor = results.get("throughput", {}).get("floor_single", {})
    peer = (results.get("peer") or {}).get("pgqueuer", {})
    out = []
    single = next((k for k in worker if k.endswith("x1")), None)
    if single and floor:
        procs = single.split("x")[0]
        fc = procs if procs in floor else max(floor, key=int)
        r = _ratio(worker[single]["jobs_per_s"], floor[fc]["jobs_per_s"])
        out.append(_target(
            f"worker {single} >= 1.0x the single-claim floor at {fc} connections", r,
            None if r is None else r >= 1.0,
            f"{worker[single]['jobs_per_s']:.0f} vs {floor[fc]['jobs_per_s']:.0f} jobs/s"))
    top = max(worker, key=lambda k: int(k.split("x")[1]), default=None)
    if top and peer:
        procs = top.split("x")[0]
        pk = procs if procs in peer else max(peer, key=int)
        r = _ratio(worker[top]["jobs_per_s"], peer[pk]["jobs_per_s"])
        out.append(_target(
            f"worker {top} >= PgQueuer x{pk} (batch {peer[pk]['batch']})", r,
            None if r is None else r >= 1.0,
            f"{worker[top]['jobs_per_s']:.0f} vs {peer[pk]['jobs_per_s']:.0f} jobs/s"))
    return out


def _pairs(enq: dict) -> str:
    """The per-pair ratios of the enqueue section ("n/a" in results of its first form)."""
    pairs = enq.get("pair_ratios")
    return "/".join(f"{x:.2f}" for x in pairs) if pairs else "n/a"


def _definer(enq: dict) -> str:
    """The function layer's share of the enqueue ratio ("" in results without it)."""
    if "definer_ratio" not in enq:
        return ""
    return (f"; a definer function holding only the INSERT {enq['definer_ratio']:.2f} of the"
            f" raw INSERT, enqueue() {enq['over_definer']:.2f} of that function")


def _rate_targets(results: dict) -> list:
    out = []
    enq = results.get("enqueue")
    if enq:
        wake = enq["wake"]
        out.append(_target(
            "enqueue() one per call >= 0.8x a raw INSERT, idle workers still woken",
            enq["ratio"], enq["ratio"] >= 0.8 and wake["max_ms"] < 100,
            f"{enq['rates']['enqueue']['per_s']:.0f} vs {enq['rates']['raw_insert']['per_s']:.0f}"
            f" tasks/s (medians); rounds {_pairs(enq)}{_definer(enq)}; wake-up p50"
            f" {wake['p50_ms']:.1f} ms, max {wake['max_ms']:.1f} ms"
            f" (poll {wake['poll_interval_s']:g} s)"))
    st = results.get("steady")
    if st:
        out.append(_target(
            f"pickup p99 <= 30 ms at {st['rate']}/s (concurrency {st['concurrency']})",
            st["pickup_p99_ms"], st["pickup_p99_ms"] <= 30,
            f"p50 {st['pickup_p50_ms']:.1f} ms, runs {st['p99_runs']}; saturation"
            f" {st['saturation_jobs_per_s']:.0f} jobs/s; min lease margin at renewal"
            f" {st['min_lease_margin_s']} s of {st['lease_s']} s"))
    burst = results.get("burst")
    if burst:
        last = burst["phases"][-1]
        ok = last["pickup_p99_ms"] < 1000 and last["max_backlog"] < last["rate"]
        out.append(_target(
            f"no stall when load steps up to {last['rate']}/s (p99 < 1 s, backlog < 1 s of"
            " load)", last["pickup_p99_ms"], ok,
            f"p99 {last['pickup_p99_ms']:.0f} ms, max backlog {last['max_backlog']},"
            f" slowest second {last['min_done_per_s']} done"))
    rec = results.get("recovery")
    if rec:
        out.append(_target(
            "recovery after kill -9 within worker_ttl_s + 1.4 reap intervals + backoff + 1 s",
            rec["running_max_s"], rec["running_max_s"] <= rec["bound_s"],
            f"median requeued {rec['requeued_s']:.1f} s, running {rec['running_s']:.1f} s,"
            f" bound {rec['bound_s']:.1f} s ({rec['settings']})"))
    return out


def _async_target(results: dict) -> dict:
    threads, aio = results.get("worker", {}), results.get("worker_async", {})
    shapes = set(aio) & set(threads)
    if not shapes:
        return _target("async worker end to end >= the threaded worker", None, None, "")
    top = max(shapes, key=lambda k: tuple(int(n) for n in k.split("x"))[::-1])
    r = _ratio(aio[top]["jobs_per_s"], threads[top]["jobs_per_s"])
    return _target(f"async worker {top} >= the threaded worker {top}", r,
                   None if r is None else r >= 1.0,
                   f"{aio[top]['jobs_per_s']:.0f} vs {threads[top]['jobs_per_s']:.0f} jobs/s")


def _reaper_targets(results: dict) -> list:
    reaper = results.get("reaper", {})
    if len(reaper) < 2:
        return [_target("reaper at 1M finished <= 1.5x at 10k", None, None, "")]
    small, big = sorted(reaper, key=int)[0], sorted(reaper, key=int)[-1]
    out = []
    for kind in ("dry_run", "real"):
        r = _ratio(reaper[big][kind]["ms"], reaper[small][kind]["ms"])
        out.append(_target(
            f"reaper {kind} at {int(big):,} finished <= 1.5x at {int(small):,}",
            r, None if r is None else r <= 1.5,
            f"{reaper[big][kind]['ms']:.2f} vs {reaper[small][kind]['ms']:.2f} ms",
        ))
    return out


def _ui_target(results: dict) -> dict:
    ui = results.get("ui")
    if not ui:
        return _target("every console page < 200 ms server time", None, None, "")
    slowest = max(ui["pages"], key=lambda p: ui["pages"][p]["ms"])
    worst = ui["pages"][slowest]["ms"]
    return _target(
        f"every console page < {ui['target_ms']:.0f} ms server time at"
        f" {ui['finished']:,} finished tasks", worst, worst < ui["target_ms"],
        f"slowest {slowest}: {worst:.1f} ms",
    )


def targets(results: dict) -> list:
    """Every target of the issue with its value and PASS (True), MISS (False) or n/a (None)."""
    out = (_api_targets(results) + _worker_targets(results) + [_async_target(results)]
           + _rate_targets(results) + _reaper_targets(results))
    out.append(_ui_target(results))
    hot = results.get("hot")
    out.append(_target(
        ">= 80% of renewals HOT", hot["hot_share"] if hot else None,
        hot["hot_share"] >= 0.8 if hot else None,
        f"{hot['hot_updates']} of {hot['updates']}" if hot else "",
    ))
    soak = results.get("soak")
    out.append(_target(
        "no steady growth of table or indexes over the soak (peak 2nd half <= 1.2x 1st)",
        max(soak["table_growth"], soak["index_growth"]) if soak else None,
        soak["no_growth"] if soak else None,
        f"table {soak['table_growth']:.2f}, indexes {soak['index_growth']:.2f},"
        f" {soak['cycles']:,} cycles" if soak else "",
    ))
    return out


# ---------------------------------------------------------------- the printed table


def _throughput_lines(results: dict) -> list:
    tp = results.get("throughput", {})
    worker: dict = {}
    cs = sorted({int(c) for by_c in tp.values() for c in by_c})
    if not cs:
        return []
    lines = ["Throughput, jobs/s (median of runs; ratio to the floor of the same kind):",
             f"  {'path':<14}" + "".join(f"{'x' + str(c):>18}" for c in cs)]
    rows = [(p, tp[p]) for p in PATH_ORDER if p in tp]
    if worker:
        rows.append(("worker_e2e", worker))
    for name, by_c in rows:
        cells = []
        for c in cs:
            m = by_c.get(str(c))
            if not m:
                cells.append(f"{'-':>18}")
                continue
            floor = "floor_single" if name.startswith("worker_") else FLOOR_OF.get(name)
            r = _ratio(m["jobs_per_s"], _tput(results, floor, c)) if floor else None
            cell = f"{m['jobs_per_s']:.0f}" + (f" ({r:.2f}x)" if r is not None else "")
            cells.append(f"{cell:>18}")
        lines.append(f"  {name:<14}" + "".join(cells))
    return lines


def _worker_lines(results: dict) -> list:
    worker = results.get("worker", {})
    floor = results.get("throughput", {}).get("floor_single", {})
    peer = (results.get("peer") or {}).get("pgqueuer", {})
    if not worker and not peer:
        return []
    lines = ["Worker end to end (no-op handler), jobs/s; ratio to the single-claim floor at as"
             " many connections as processes:"]
    rows = [(f"tasklease {k}", k.split("x")[0], m) for k, m in worker.items()]
    rows += [(f"tasklease {k} asyncio", k.split("x")[0], m)
             for k, m in results.get("worker_async", {}).items()]
    rows += [(f"pgqueuer x{k} (batch {m['batch']})", k, m) for k, m in peer.items()]
    for name, procs, m in rows:
        f = floor.get(procs)
        r = _ratio(m["jobs_per_s"], f["jobs_per_s"]) if f else None
        lines.append(f"  {name:<28} {m['jobs_per_s']:9.0f}"
                     + (f"  ({r:.2f}x floor x{procs})" if r is not None else ""))
    return lines


def _rate_lines(results: dict) -> list:
    lines = []
    enq = results.get("enqueue")
    if enq:
        lines.append(f"Enqueue, one task per call, {enq['procs']} processes: "
                     + ", ".join(f"{k} {v['per_s']:.0f}/s" for k, v in enq["rates"].items())
                     + f" (median round ratio enqueue / raw_insert {enq['ratio']:.2f},"
                     f" rounds {_pairs(enq)}{_definer(enq)});"
                     " idle worker woken in p50"
                     f" {enq['wake']['p50_ms']:.1f} ms, max {enq['wake']['max_ms']:.1f} ms")
    st = results.get("steady")
    if st:
        lines.append(f"Steady {st['rate']}/s, 1 ms handlers, concurrency {st['concurrency']}:"
                     f" pickup p50 {st['pickup_p50_ms']:.1f} ms, p99 {st['pickup_p99_ms']:.1f} ms;"
                     f" saturation {st['saturation_jobs_per_s']:.0f} jobs/s; smallest lease"
                     f" margin at renewal {st['min_lease_margin_s']} s (lease {st['lease_s']} s,"
                     f" {st['renewals']} renewals)")
    burst = results.get("burst")
    if burst:
        for p in burst["phases"]:
            lines.append(f"Burst {p['rate']}/s for {p['seconds']} s (concurrency"
                         f" {burst['concurrency']}): pickup p50 {p['pickup_p50_ms']:.1f} ms,"
                         f" p99 {p['pickup_p99_ms']:.1f} ms, max backlog {p['max_backlog']},"
                         f" slowest second {p['min_done_per_s']} done")
        lines.append(f"  autovacuum/analyze during the burst: {burst['vacuum'] or 'none'}")
    hist = results.get("history")
    if hist:
        lines.append(f"Live work vs history ({hist['finished']:,} finished tasks beside"
                     f" {hist['jobs']:,} drained at 4 connections; medians):")
        for name, m in hist["layouts"].items():
            lines.append(f"  {name:<12} {m['jobs_per_s']:7.0f} jobs/s, VACUUM"
                         f" {m['vacuum_ms']:7.1f} ms, live counts {m['live_reader_ms']:6.1f} ms,"
                         f" full counts {m['full_reader_ms']:7.1f} ms")
        for name, error in hist.get("errors", {}).items():
            lines.append(f"  {name:<12} failed: {error[:140]}")
    rec = results.get("recovery")
    if rec:
        lines.append(f"Recovery after kill -9 ({rec['settings']}): requeued after"
                     f" {rec['requeued_s']:.1f} s, running again after {rec['running_s']:.1f} s"
                     f" (median; max {rec['running_max_s']:.1f} s; by"
                     f" {', '.join(sorted({r['actor'] for r in rec['runs']}))})")
    return lines


def _profile_lines(results: dict) -> list:
    inline = (results.get("profile") or {}).get("inline") or {}
    if not inline:
        return []
    lines = ["Profile: the function bodies sent as plain SQL on tasklease.tasks (inline), jobs/s"
             " (ratio to the floor):"]
    for kind in ("single", "batch"):
        for c, m in sorted(inline.get(f"inline_{kind}", {}).items(), key=lambda kv: int(kv[0])):
            floor = _tput(results, f"floor_{kind}", c)
            api = _tput(results, f"api_{kind}", c)
            parts = [f"inline {m['jobs_per_s']:.0f}"
                     + (f" ({m['jobs_per_s'] / floor:.2f}x)" if floor else "")]
            if api is not None:
                parts.append(f"api {api:.0f}" + (f" ({api / floor:.2f}x)" if floor else ""))
            if floor is not None:
                parts.append(f"floor {floor:.0f}")
            lines.append(f"  {kind:<6} x{c:<3} " + ", ".join(parts))
    return lines


def _flow_lines(results: dict) -> list:
    from .flow import BASELINE, ENQUEUE_BASELINE

    flow = results.get("flow")
    if not flow:
        return []
    lines = []
    for title, part, key, base in (
        ("Flow control: claims of one queue, jobs/s (ratio to the same claim without flow "
         "control)", "claim", "jobs_per_s", BASELINE),
        ("Enqueue, tasks/s (ratio to the same without de-duplication keys)", "enqueue",
         "per_s", ENQUEUE_BASELINE),
    ):
        by_path = flow.get(part, {})
        cs = sorted({int(c) for by_c in by_path.values() for c in by_c})
        lines += [title + ":", f"  {'path':<15}" + "".join(f"{'x' + str(c):>18}" for c in cs)]
        for name, by_c in by_path.items():
            cells = []
            for c in cs:
                m, b = by_c.get(str(c)), by_path.get(base.get(name, ""), {}).get(str(c))
                r = _ratio(m[key], b[key]) if m and b else None
                cell = "-" if not m else f"{m[key]:.0f}" + (f" ({r:.2f}x)" if r else "")
                cells.append(f"{cell:>18}")
            lines.append(f"  {name:<15}" + "".join(cells))
    return lines


def _other_lines(results: dict) -> list:
    lines = (_worker_lines(results) + _rate_lines(results) + _profile_lines(results)
             + _flow_lines(results))
    lat = results.get("latency", {})
    if lat:
        c = next(iter(lat.values()))["concurrency"]
        lines.append(f"Claim latency at {c} connections (ms, client round trip):")
        for name, m in lat.items():
            lines.append(
                f"  {name:<14} p50 {m['claim_p50_ms']:7.2f}   p99 {m['claim_p99_ms']:7.2f}"
            )
    reaper = results.get("reaper", {})
    if reaper:
        lines.append("Reaper (median ms; running set and stale set the same at every size):")
        for n in sorted(reaper, key=int):
            r = reaper[n]
            lines.append(f"  {int(n):>10,} finished: dry run {r['dry_run']['ms']:8.2f}"
                         f"   real {r['real']['ms']:8.2f}   table {r['table_mb']:.0f} MB")
    ui = results.get("ui")
    if ui:
        lines.append(f"Console pages at {ui['finished']:,} finished tasks (median server time,"
                     " Server-Timing):")
        for path, m in ui["pages"].items():
            lines.append(f"  {path:<56} {m['ms']:7.1f} ms")
    hot = results.get("hot")
    if hot:
        lines.append(f"HOT renewals: {hot['hot_updates']} of {hot['updates']} updates"
                     f" ({hot['hot_share']:.1%}) over {hot['renewals']} renewals")
    soak = results.get("soak")
    if soak:
        b, a = soak["before"], soak["after"]
        if soak["cycles"] < 1_000_000:
            lines.append(f"(soak of {soak['cycles']:,} cycles: smaller than the issue's 1,000,000)")
        lines.append(
            f"Soak: {soak['cycles']:,} claim/complete cycles in {soak['seconds']:.0f} s;"
            f" table {b['table_bytes'] >> 10} -> {a['table_bytes'] >> 10} kB"
            f" (peak {max(s['table_bytes'] for s in soak['samples']) >> 10} kB),"
            f" indexes {b['index_bytes'] >> 10} -> {a['index_bytes'] >> 10} kB"
            f" (peak {max(s['index_bytes'] for s in soak['samples']) >> 10} kB)"
        )
    return lines


def render(results: dict) -> str:
    meta = results.get("meta", {})
    m = meta.get("machine", {})
    s = m.get("settings", {})
    head = [
        f"tasklease bench ({'quick' if meta.get('quick') else 'full'} run)",
        f"Machine: {m.get('cores')} cores, {m.get('memory_gb')} GB, {m.get('platform')};"
        f" data on {m.get('data_fs')}",
        f"Server: {m.get('postgres', '?')[:60]}; fsync={s.get('fsync')},"
        f" synchronous_commit={s.get('synchronous_commit')},"
        f" full_page_writes={s.get('full_page_writes')}, shared_buffers={s.get('shared_buffers')},"
        f" autovacuum={s.get('autovacuum')} (naptime {s.get('autovacuum_naptime')})",
        f"Extra server settings: {meta.get('extra_settings') or 'none'}",
        f"Sizes: {meta.get('config', {}).get('jobs')} jobs per measurement,"
        f" {meta.get('config', {}).get('reps')} runs each",
    ]
    body = _throughput_lines(results) + _other_lines(results)
    tl = ["Targets:"]
    for t in results.get("targets", []):
        verdict = {True: "PASS", False: "MISS", None: "n/a "}[t["pass"]]
        value = "" if t["value"] is None else f" = {t['value']:.2f}"
        tl.append(f"  {verdict}  {t['target']}{value}  [{t['detail']}]")
    if meta.get("duration_s") is not None:
        tl.append(f"Run time: {meta['duration_s']:.0f} s")
    return "\n".join(head + [""] + body + [""] + tl)


# ---------------------------------------------------------------- files


def _clean(obj):
    """NaN is not JSON: write null instead."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def write_json(results: dict, path: Path) -> None:
    path.write_text(json.dumps(_clean(results), indent=2, default=str) + "\n")


def plot(results: dict, directory: Path) -> list:
    """throughput.png (jobs/s against concurrency) and, after a soak, soak.png; the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    series = dict(results.get("throughput", {}))
    if series:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name, by_c in series.items():
            cs = sorted(by_c, key=int)
            ax.plot([int(c) for c in cs], [by_c[c]["jobs_per_s"] for c in cs], marker="o",
                    label=name)
        ax.set_xlabel("concurrency (connections; worker: processes x threads)")
        ax.set_ylabel("jobs/s (median)")
        ax.set_title("tasklease throughput against concurrency")
        ax.set_xscale("log", base=2)
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        out = directory / "throughput.png"
        fig.savefig(out, dpi=100)
        plt.close(fig)
        written.append(out)
    soak = results.get("soak")
    if soak and soak.get("samples"):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        xs = [s["cycles"] for s in soak["samples"]]
        ax.plot(xs, [s["table_bytes"] / 1048576 for s in soak["samples"]], label="table")
        ax.plot(xs, [s["index_bytes"] / 1048576 for s in soak["samples"]], label="indexes")
        ax.set_xlabel("claim/complete cycles")
        ax.set_ylabel("MB")
        ax.set_title("tasklease.tasks size over the soak")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        out = directory / "soak.png"
        fig.savefig(out, dpi=100)
        plt.close(fig)
        written.append(out)
    return written
