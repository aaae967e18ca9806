"""What the reaper_log vocabulary means, in words, for the console's pages."""

from __future__ import annotations

REASONS = {
    "lease_expired": "its lease ran out: the worker stopped renewing it (crashed, frozen or "
                     "cut off from the database)",
    "owner_dead": "its worker stopped heartbeating for worker_ttl_s, or said it stopped, "
                  "while still holding it",
    "no_lease": "it ran without a lease and nobody touched it for stale_s (set running by "
                "code that predates leases, or by hand)",
    "owner_restarted": "its worker restarted under the same name and gave back what its "
                       "previous life held",
    "released": "its worker shut down before the handler started: given back, no budget spent",
    "cleanup": "the emergency cleanup found it not renewed for stale_s",
    "abandoned": "its worker shut down while the handler was still running after the grace "
                 "period",
    "taken_back": "an operator took it back from a worker known to be gone",
    "operator": "an operator acted on it (console or SQL)",
}

ACTIONS = {
    "requeued": "queued again (one unit of the crash budget spent)",
    "failed": "failed: its crash budget was spent",
    "released": "queued again, no budget spent",
    "retried": "queued again by an operator, both budgets fresh",
    "cancelled": "cancelled",
    "rescheduled": "made runnable now",
}


def reason(code: str | None) -> str:
    return REASONS.get(code or "", code or "")


def action(code: str | None) -> str:
    return ACTIONS.get(code or "", code or "")
