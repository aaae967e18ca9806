"""Prometheus text metrics of a worker, served with the standard library only."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Upper bounds (seconds) of the renew latency histogram.
RENEW_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_COUNTERS = {
    "claimed": "Tasks claimed.",
    "completed": "Task completions accepted by the database.",
    "failed": "Handler failures reported with fail_task.",
    "lost_leases": "Leases found gone (renewal or completion refused, or local deadline passed).",
    "released": "Tasks given back at shutdown with release_owner.",
    "given_back": "Tasks claimed ahead that waited too long behind busy slots, given back "
                  "unstarted with release_tasks.",
    "recovered": "Tasks of a previous life requeued at startup with recover_owner.",
    "reconnects": "Database reconnections after a lost connection.",
    "abandoned": "Tasks whose handler was still running when a graceful stop ended; given "
                 "back with release_owner at the cost of their crash budget.",
    "dropped_outcomes": "Outcomes the database refused even as fail_task; left to the reaper.",
    "reaped": "Stale tasks of other (dead) workers that this worker's reap_if_due calls "
              "requeued or failed.",
}


_LOOP_COUNTERS = {
    "loop_blocked": "Times the event loop did not run a callback within loop_lag_limit_s "
                    "(a handler blocking the loop).",
}


class Metrics:
    """Thread-safe counters, the in-flight gauge and the renew latency histogram; with loop
    (an AsyncWorker), also the event loop's lag and the leases at risk while it is blocked."""

    def __init__(self, worker: str = "", loop: bool = False) -> None:
        self.worker = worker
        self.loop = loop
        self._lock = threading.Lock()
        self._counters = {**_COUNTERS, **(_LOOP_COUNTERS if loop else {})}
        self._counts = dict.fromkeys(self._counters, 0)
        self._in_flight = 0
        self._loop_lag = 0.0
        self._at_risk = 0
        self._renew_buckets = [0] * len(RENEW_BUCKETS)
        self._renew_count = 0
        self._renew_sum = 0.0
        self._margin_min: float | None = None

    def inc(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def set_in_flight(self, n: int) -> None:
        with self._lock:
            self._in_flight = n

    def set_loop_lag(self, seconds: float, at_risk: int) -> None:
        with self._lock:
            self._loop_lag = seconds
            self._at_risk = at_risk

    def observe_renew(self, seconds: float) -> None:
        with self._lock:
            self._renew_count += 1
            self._renew_sum += seconds
            for i, bound in enumerate(RENEW_BUCKETS):
                if seconds <= bound:
                    self._renew_buckets[i] += 1

    def observe_margin(self, seconds: float) -> None:
        """The lease time a renewal found left (its local expiry minus the send time)."""
        with self._lock:
            if self._margin_min is None or seconds < self._margin_min:
                self._margin_min = seconds

    @property
    def margin_min(self) -> float | None:
        with self._lock:
            return self._margin_min

    def value(self, name: str) -> float:
        with self._lock:
            gauges = {"in_flight": self._in_flight, "loop_lag_seconds": self._loop_lag,
                      "leases_at_risk": self._at_risk}
            return gauges[name] if name in gauges else self._counts[name]

    def render(self) -> str:
        """The exposition text format (version 0.0.4)."""
        label = f'worker="{_escape(self.worker)}"'
        out: list[str] = []
        with self._lock:
            for name, help_text in self._counters.items():
                metric = f"tasklease_{name}_total"
                out += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter"]
                out.append(f"{metric}{{{label}}} {self._counts[name]}")
            out += [
                "# HELP tasklease_in_flight Tasks whose handler is running or whose outcome "
                "is not yet stored.",
                "# TYPE tasklease_in_flight gauge",
                f"tasklease_in_flight{{{label}}} {self._in_flight}",
                "# HELP tasklease_renew_seconds Latency of one renew_leases call.",
                "# TYPE tasklease_renew_seconds histogram",
            ]
            for bound, n in zip(RENEW_BUCKETS, self._renew_buckets):
                out.append(f'tasklease_renew_seconds_bucket{{{label},le="{bound}"}} {n}')
            out.append(f'tasklease_renew_seconds_bucket{{{label},le="+Inf"}} {self._renew_count}')
            out.append(f"tasklease_renew_seconds_sum{{{label}}} {self._renew_sum:.6f}")
            out.append(f"tasklease_renew_seconds_count{{{label}}} {self._renew_count}")
            if self._margin_min is not None:
                out += ["# HELP tasklease_lease_margin_min_seconds The smallest lease time left "
                        "when a renewal was sent (local clock), since the worker started.",
                        "# TYPE tasklease_lease_margin_min_seconds gauge",
                        f"tasklease_lease_margin_min_seconds{{{label}}} {self._margin_min:.3f}"]
            if self.loop:
                out += [
                    "# HELP tasklease_loop_lag_seconds How late the event loop ran the last "
                    "probe callback (or, while one waits, how long it has waited).",
                    "# TYPE tasklease_loop_lag_seconds gauge",
                    f"tasklease_loop_lag_seconds{{{label}}} {self._loop_lag:.6f}",
                    "# HELP tasklease_leases_at_risk Tasks in flight while the event loop is "
                    "blocked: their handlers cannot see lease_lost, their outcomes wait.",
                    "# TYPE tasklease_leases_at_risk gauge",
                    f"tasklease_leases_at_risk{{{label}}} {self._at_risk}",
                ]
        return "\n".join(out) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def serve(metrics: Metrics, port: int, host: str = "") -> ThreadingHTTPServer:
    """Serve metrics.render() at /metrics (and /) on port, from a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self.path.split("?")[0] not in ("/", "/metrics"):
                self.send_error(404)
                return
            body = metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="tasklease-metrics", daemon=True).start()
    return server
