-- 003_flow_control: de-duplication keys, per-queue limits and pause, and
-- periodic tasks (issue 13).
--
-- Safe on a live database (release 0.1.0 workers keep running through it):
-- the new column is nullable, so adding it only changes the catalog; the new
-- tables are empty; the index on tasklease.tasks is built CONCURRENTLY after
-- this transaction commits (the section at the end), so no claim, enqueue or
-- completion waits for the build.
--
-- One new index on tasks, not more: every index of tasks, whatever its
-- predicate, is opened, locked and checked by each claim, completion and
-- enqueue.  A first version with three partial indexes (live keys, finished
-- keys, limited running tasks) made the plain claim + complete 5-8% slower
-- (bench/README.md).

-- De-duplication: while a queued or running task of a queue holds a key,
-- enqueue with that key returns it instead of adding another.  NULL: no key.
-- A finished task keeps its key until a later enqueue with it takes it over.
ALTER TABLE tasklease.tasks ADD COLUMN dedupe_key text;

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
-- At most one task per queue and key: the arbiter of enqueue's ON CONFLICT,
-- so two producers racing with one key get one task.  Rows without a key
-- never enter it.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS tasks_dedupe_key_idx
ON tasklease.tasks (queue, dedupe_key)
WHERE dedupe_key IS NOT NULL;
