-- 001_initial: the tables, types and sequences of tasklease.
--
-- Migrations hold what cannot be re-created (tables, types, indexes, data
-- fixes) and are never edited once landed; functions, views, settings
-- defaults and grants live in sql/ and are re-applied on every migrate.
-- The migrator runs this file in one transaction together with its row in
-- tasklease.schema_migrations.

CREATE TYPE tasklease.task_status AS ENUM (
    'queued', 'running', 'completed', 'failed', 'cancelled'
);

-- Every claim takes a fresh value: lease tokens are strictly increasing per
-- task (claims of one task are serialised by its row lock) and never reused.
CREATE SEQUENCE tasklease.lease_token_seq AS bigint;

CREATE TABLE tasklease.settings (
    name text PRIMARY KEY,
    value int NOT NULL,
    description text,
    CONSTRAINT settings_name_check CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$')
);

CREATE TABLE tasklease.tasks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue text NOT NULL DEFAULT 'default',
    payload jsonb NOT NULL,
    priority int NOT NULL DEFAULT 0,
    status tasklease.task_status NOT NULL DEFAULT 'queued',
    run_after timestamptz NOT NULL DEFAULT now(),
    attempts int NOT NULL DEFAULT 0,
    max_attempts int NOT NULL DEFAULT 5,
    requeue_count int NOT NULL DEFAULT 0,
    owner_id text,
    lease_token bigint,
    lease_expires_at timestamptz,
    last_heartbeat timestamptz,
    result jsonb,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    CONSTRAINT tasks_queue_check
    CHECK (queue ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$'),
    CONSTRAINT tasks_counters_check
    CHECK (attempts >= 0 AND requeue_count >= 0 AND max_attempts >= 1),
    -- The state machine, one constraint (each CHECK costs every write; five
    -- separate ones made a claim + complete 35% slower, bench/README.md):
    --   queued   nobody's: no owner, token, lease or finished_at
    --   running  has an owner; may lack a lease only in the reaper rule's
    --            no_lease case (rows set running by pre-lease code); a lease
    --            always comes with its token; not finished
    --   completed, failed, cancelled: no lease, finished_at set
    CONSTRAINT tasks_state_check
    CHECK (
        CASE status
            WHEN 'queued' THEN owner_id IS NULL AND lease_token IS NULL
                AND lease_expires_at IS NULL AND finished_at IS NULL
            WHEN 'running' THEN owner_id IS NOT NULL AND finished_at IS NULL
                AND (lease_expires_at IS NULL OR lease_token IS NOT NULL)
            ELSE lease_expires_at IS NULL AND finished_at IS NOT NULL
        END
    )
) WITH (fillfactor = 70);

-- Indexes: none covers lease_expires_at, last_heartbeat or updated_at, the
-- columns a renewal changes, so renewals stay HOT (in-place) updates; the
-- fillfactor leaves room on each page for them.

-- The claim path: runnable rows in claim order, per queue and across queues.
CREATE INDEX tasks_claim_queue_idx
ON tasklease.tasks (queue, priority, run_after, id)
WHERE status = 'queued';

CREATE INDEX tasks_claim_any_idx
ON tasklease.tasks (priority, run_after, id)
WHERE status = 'queued';

-- The running set is small: the reaper, recover_owner and release_owner find
-- it here and filter on expiry, so their cost follows the running count.
CREATE INDEX tasks_running_owner_idx
ON tasklease.tasks (owner_id)
WHERE status = 'running';

-- Pruning of finished tasks by age.
CREATE INDEX tasks_finished_idx
ON tasklease.tasks (finished_at)
WHERE status IN ('completed', 'failed', 'cancelled');

CREATE TABLE tasklease.workers (
    owner_id text PRIMARY KEY,
    incarnation text,
    host text,
    pid int,
    started_at timestamptz NOT NULL DEFAULT now(),
    last_heartbeat timestamptz NOT NULL DEFAULT now(),
    stopped_at timestamptz,
    info jsonb NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT workers_info_is_object_check CHECK (jsonb_typeof(info) = 'object')
) WITH (fillfactor = 70);

CREATE TABLE tasklease.reaper_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    task_id bigint NOT NULL,
    action text NOT NULL,
    reason text NOT NULL,
    owner_id text,
    lease_token bigint,
    attempts int,
    requeue_count int,
    actor text NOT NULL,
    CONSTRAINT reaper_log_action_check
    CHECK (action IN ('requeued', 'failed', 'released')),
    CONSTRAINT reaper_log_reason_check
    CHECK (
        reason IN (
            'lease_expired', 'owner_dead', 'no_lease',
            'owner_restarted', 'released', 'cleanup'
        )
    )
);

CREATE INDEX reaper_log_at_idx ON tasklease.reaper_log (at);
CREATE INDEX reaper_log_task_idx ON tasklease.reaper_log (task_id);

-- Row types returned by the API (composite types, not RETURNS TABLE: an
-- output column named like an input parameter, such as queue, is rejected).
CREATE TYPE tasklease.claimed_task AS (
    id bigint,
    queue text,
    payload jsonb,
    attempts int,
    lease_token bigint,
    lease_expires_at timestamptz
);

CREATE TYPE tasklease.reap_result AS (
    task_id bigint,
    action text,
    reason text,
    owner_id text,
    attempts int
);
