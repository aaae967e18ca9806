-- 005_reaper_runs: when the reaper last ran and who ran it, so that live
-- workers can share the reaper's work with pg_cron at a bounded rate
-- (reap_if_due): recovery then waits for worker_ttl_s plus a few seconds,
-- not for the next pg_cron tick (one minute on pg_cron 1.4).
--
-- A new table: nothing existing is locked or rewritten.

CREATE TABLE tasklease.reaper_runs (
    id boolean PRIMARY KEY DEFAULT TRUE,
    last_run_at timestamptz NOT NULL DEFAULT '-infinity',
    last_actor text,
    CONSTRAINT reaper_runs_one_row_check CHECK (id)
);

INSERT INTO tasklease.reaper_runs DEFAULT VALUES;
