-- 006_wakeups: when each queue last woke its idle workers, so that enqueue
-- sends at most one NOTIFY per queue per notify_window_ms (sql/030_enqueue.sql).
--
-- A NOTIFY serialises commits: PostgreSQL holds one cluster-wide lock from a
-- notifying transaction's pre-commit until its commit record is flushed, so
-- every enqueue that notified paid its own WAL flush in turn (bench/README.md).
--
-- A new table: nothing existing is locked or rewritten; release 0.1.0 workers
-- and producers keep running through this migration.  Rows are added by
-- enqueue on first use of a queue.  Updated in place (notified_at is not
-- indexed; fillfactor leaves room on the page): HOT updates.

CREATE TABLE tasklease.queue_wakeups (
    queue text PRIMARY KEY,
    notified_at timestamptz NOT NULL
) WITH (fillfactor = 50);
