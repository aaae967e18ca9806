-- 003_flow_control: de-duplication keys, per-queue limits and pause, and
-- periodic tasks (issue 13).
--
-- Safe on a live database (release 0.1.0 workers keep running through it):
-- the new columns are nullable or have a constant default, so adding them
-- only changes the catalog; the new tables are empty; the indexes on
-- tasklease.tasks are built CONCURRENTLY after this transaction commits (the
-- section at the end), so no claim, enqueue or completion waits for a build.

-- De-duplication: while a queued or running task of a queue holds a key,
-- enqueue with that key returns it instead of adding another.  NULL: no key.
ALTER TABLE tasklease.tasks ADD COLUMN dedupe_key text;

-- Set when a claim took the task under its queue's max_running limit, so that
-- the limited claim path can count its queue's running tasks through a small
-- partial index that the plain claim path never writes to.
ALTER TABLE tasklease.tasks ADD COLUMN limited boolean NOT NULL DEFAULT FALSE;

-- Per-queue flow control (tasklease.set_queue).  A queue without a row, or
-- with neither a limit nor a pause, is claimed as before.
CREATE TABLE tasklease.queue_settings (
    queue text PRIMARY KEY,
    max_running int,
    paused boolean NOT NULL DEFAULT FALSE,
    claimed_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT queue_settings_queue_check
    CHECK (queue ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$'),
    CONSTRAINT queue_settings_max_running_check
    CHECK (max_running IS NULL OR max_running >= 1)
);

-- Periodic tasks (tasklease.schedule_task): what each pg_cron job
-- tasklease-periodic:<name> enqueues.
CREATE TABLE tasklease.periodic_schedules (
    name text PRIMARY KEY,
    schedule text NOT NULL,
    queue text NOT NULL,
    payload jsonb NOT NULL,
    priority int NOT NULL DEFAULT 0,
    max_attempts int,
    last_tick timestamptz,
    last_task_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT periodic_schedules_name_check
    CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$'),
    CONSTRAINT periodic_schedules_queue_check
    CHECK (queue ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$')
);

-- What enqueue_tasks returns per payload: the task's id, and whether this
-- call added it (false: a task holding the de-duplication key was returned).
CREATE TYPE tasklease.enqueued AS (
    id bigint,
    created boolean
);

-- tasklease:concurrently
-- One live task per (queue, key): the arbiter of enqueue's ON CONFLICT, so
-- two producers racing with one key get one task.  Rows without a key never
-- enter it.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS tasks_dedupe_live_idx
ON tasklease.tasks (queue, dedupe_key)
WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running');

-- Finished tasks that still hold their key for a while (enqueue's dedupe_for).
CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_dedupe_finished_idx
ON tasklease.tasks (queue, dedupe_key, finished_at)
WHERE dedupe_key IS NOT NULL AND status IN ('completed', 'failed', 'cancelled');

-- Running tasks of a limited queue, counted by the limited claim path.
CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_running_limited_idx
ON tasklease.tasks (queue)
WHERE status = 'running' AND limited;
