-- The reaper and the emergency cleanup.
--
-- A running task is stale when (first reason that applies):
--   lease_expired  lease_expires_at < now()
--   owner_dead     its owner's workers row says stopped, or has not heartbeated
--                  for worker_ttl_s (owners without a row are judged by lease)
--   no_lease       no lease at all and updated_at < now() - stale_s
-- Within the crash budget (requeue_count < max_requeue) it is requeued, else
-- failed; every decision is a row of tasklease.reaper_log.
-- Locks: candidate task rows FOR UPDATE SKIP LOCKED (two reapers split the
-- work, never act twice on a task), the owners' workers rows FOR SHARE SKIP
-- LOCKED (a row being heartbeated right now is alive).  Cost: the running
-- set, through tasks_running_owner_idx, whatever the size of the table.
-- Time source: now().

-- The reaper rule.  p_worker_heartbeat is NULL when the owner has no worker
-- row we may judge (it never heartbeats, or its row is being updated right
-- now): such an owner is judged by its lease alone.  The first reason that
-- applies, in this order, is reported.
CREATE OR REPLACE FUNCTION tasklease._stale_reason(
    p_lease_expires_at timestamptz,
    p_updated_at timestamptz,
    p_worker_heartbeat timestamptz,
    p_worker_stopped_at timestamptz,
    p_now timestamptz,
    p_worker_ttl_s int,
    p_stale_s int
)
RETURNS text
LANGUAGE sql
-- STABLE, not IMMUTABLE: timestamptz - interval is STABLE (it reads TimeZone),
-- and PostgreSQL never inlines an IMMUTABLE SQL function whose body holds a
-- STABLE call.  Not inlined, it ran as a function call twice per running task
-- in stale_tasks and the reaper: 48 ms instead of 4 ms for 2,000 running tasks
-- (bench section reaper; tests/python/test_reaper_plans.py keeps it inlined).
STABLE
AS $$
    SELECT CASE
        WHEN p_lease_expires_at < p_now THEN 'lease_expired'
        WHEN p_worker_heartbeat IS NOT NULL
            AND NOT tasklease._worker_alive(
                p_worker_heartbeat, p_worker_stopped_at, p_now, p_worker_ttl_s
            )
            THEN 'owner_dead'
        WHEN p_lease_expires_at IS NULL
            AND p_updated_at < p_now - make_interval(secs => p_stale_s)
            THEN 'no_lease'
    END;
$$;

COMMENT ON FUNCTION tasklease._stale_reason(
    timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int
) IS
'Why a running task is stale (lease_expired, owner_dead, no_lease), or NULL when it is not.';

CREATE OR REPLACE FUNCTION tasklease._budget_action(p_requeue_count int, p_max_requeue int)
RETURNS text
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT CASE WHEN p_requeue_count < p_max_requeue THEN 'requeued' ELSE 'failed' END;
$$;

COMMENT ON FUNCTION tasklease._budget_action(int, int) IS
'The retry-budget rule of stale tasks: requeued while requeue_count < max_requeue, else failed.';

-- Acts on stale tasks that the caller has already locked (FOR UPDATE):
-- requeue within the crash budget, else fail; one reaper_log row per task.
CREATE OR REPLACE FUNCTION tasklease._requeue_or_fail(
    p_ids bigint[], p_reasons text[], p_max_requeue int, p_actor text
)
RETURNS SETOF tasklease.reap_result
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_backoff_s int := tasklease._setting('requeue_backoff_s');
BEGIN
    RETURN QUERY
    WITH old AS (
        SELECT
            t.id, t.owner_id, t.lease_token, r.reason,
            tasklease._budget_action(t.requeue_count, p_max_requeue) = 'requeued' AS requeue
        FROM tasklease.tasks AS t
        JOIN unnest(p_ids, p_reasons) AS r (id, reason) ON r.id = t.id
        WHERE t.status = 'running'
    ),

    upd AS (
        UPDATE tasklease.tasks AS t SET
            status = CASE WHEN old.requeue
                THEN 'queued'::tasklease.task_status
                ELSE 'failed'::tasklease.task_status END,
            requeue_count = t.requeue_count + CASE WHEN old.requeue THEN 1 ELSE 0 END,
            run_after = CASE WHEN old.requeue
                THEN now() + tasklease._backoff(v_backoff_s, t.requeue_count + 1)
                ELSE t.run_after END,
            owner_id = CASE WHEN old.requeue THEN NULL ELSE t.owner_id END,
            lease_token = CASE WHEN old.requeue THEN NULL ELSE t.lease_token END,
            lease_expires_at = NULL,
            last_error = CASE WHEN old.requeue THEN t.last_error
                ELSE format(
                    'requeue budget exhausted: %s stale requeues (max_requeue %s); last reason %s',
                    t.requeue_count, p_max_requeue, old.reason
                ) END,
            finished_at = CASE WHEN old.requeue THEN NULL ELSE now() END,
            updated_at = now()
        FROM old
        WHERE t.id = old.id
        RETURNING
            t.id, old.reason, old.owner_id, old.lease_token, t.attempts, t.requeue_count,
            CASE WHEN old.requeue THEN 'requeued' ELSE 'failed' END AS action
    ),

    logged AS (
        INSERT INTO tasklease.reaper_log
            (task_id, action, reason, owner_id, lease_token, attempts, requeue_count, actor)
        SELECT u.id, u.action, u.reason, u.owner_id, u.lease_token, u.attempts, u.requeue_count,
            p_actor
        FROM upd AS u
        RETURNING task_id
    )

    SELECT u.id, u.action, u.reason, u.owner_id, u.attempts
    FROM upd AS u
    WHERE u.id IN (SELECT l.task_id FROM logged AS l)
    ORDER BY u.id;
END
$$;

COMMENT ON FUNCTION tasklease._requeue_or_fail(bigint[], text[], int, text) IS
'Applies the crash budget to running tasks the caller has locked and logs each decision.';

CREATE OR REPLACE VIEW tasklease.stale_tasks AS
SELECT
    t.id AS task_id,
    tasklease._budget_action(t.requeue_count, s.max_requeue) AS action,
    r.reason,
    t.owner_id,
    t.attempts,
    t.requeue_count,
    t.lease_token,
    t.lease_expires_at,
    w.last_heartbeat AS owner_last_heartbeat,
    w.stopped_at AS owner_stopped_at,
    t.updated_at,
    t.queue
FROM tasklease.tasks AS t
CROSS JOIN (
    SELECT
        max(st.value) FILTER (WHERE st.name = 'max_requeue') AS max_requeue,
        max(st.value) FILTER (WHERE st.name = 'worker_ttl_s') AS worker_ttl_s,
        max(st.value) FILTER (WHERE st.name = 'stale_s') AS stale_s
    FROM tasklease.settings AS st
) AS s
LEFT JOIN tasklease.workers AS w ON t.owner_id = w.owner_id
CROSS JOIN LATERAL (
    SELECT tasklease._stale_reason(
        t.lease_expires_at, t.updated_at, w.last_heartbeat, w.stopped_at,
        now(), s.worker_ttl_s, s.stale_s
    ) AS reason
) AS r
WHERE t.status = 'running' AND r.reason IS NOT NULL;

COMMENT ON VIEW tasklease.stale_tasks IS
'What the reaper would do now, and why: one row per stale running task.';

-- The reaper itself, for reap_stale_tasks (pg_cron, psql, the CLI) and
-- reap_if_due (live workers): p_actor is what reaper_log records as the
-- decider.  The run is recorded in reaper_runs unless another reaper holds
-- that row right now (never waited for).
CREATE OR REPLACE FUNCTION tasklease._reap(p_batch int, p_actor text)
RETURNS SETOF tasklease.reap_result
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_ttl int := tasklease._setting('worker_ttl_s');
    v_stale int := tasklease._setting('stale_s');
    v_ids bigint[];
    v_reasons text[];
BEGIN
    PERFORM set_config('lock_timeout', tasklease._setting('reaper_lock_timeout_ms') || 'ms', true);
    UPDATE tasklease.reaper_runs AS r SET last_run_at = now(), last_actor = p_actor
    WHERE r.id IN (SELECT r2.id FROM tasklease.reaper_runs AS r2 FOR UPDATE SKIP LOCKED);

    -- ORDER BY id + 0, here and below: with the bare id the planner may walk
    -- the primary key and filter on status, passing every finished task
    -- before it reaches the running ones (the newest ids): 130 ms at 1M
    -- finished tasks.  id + 0 has no index, so the running set is found
    -- through tasks_running_owner_idx and sorted (bench/README.md).

    -- 1. Lock the candidates.  Rows a worker or another reaper holds are
    --    skipped: they are acted on by the next run if still stale.
    SELECT array_agg(c.id ORDER BY c.id) INTO v_ids
    FROM (
        SELECT t.id
        FROM tasklease.tasks AS t
        LEFT JOIN tasklease.workers AS w ON t.owner_id = w.owner_id
        WHERE t.status = 'running'
            AND tasklease._stale_reason(t.lease_expires_at, t.updated_at, w.last_heartbeat,
                w.stopped_at, now(), v_ttl, v_stale) IS NOT NULL
        ORDER BY t.id + 0
        LIMIT p_batch
        FOR UPDATE OF t SKIP LOCKED
    ) AS c;
    IF v_ids IS NULL THEN
        RETURN;
    END IF;

    -- 2. Judge them again with a new snapshot, taken after the task locks:
    --    a renewal or heartbeat that committed before this point wins.  The
    --    owners' rows are locked FOR SHARE so that no heartbeat commits while
    --    we decide; a row we cannot lock is being heartbeated: alive.
    WITH owners AS (
        SELECT w.owner_id, w.last_heartbeat, w.stopped_at
        FROM tasklease.workers AS w
        WHERE w.owner_id IN (
            SELECT t.owner_id FROM tasklease.tasks AS t WHERE t.id = ANY(v_ids)
        )
        ORDER BY w.owner_id
        FOR SHARE SKIP LOCKED
    )

    SELECT array_agg(j.id ORDER BY j.id), array_agg(j.reason ORDER BY j.id)
    INTO v_ids, v_reasons
    FROM (
        SELECT t.id, tasklease._stale_reason(t.lease_expires_at, t.updated_at,
            o.last_heartbeat, o.stopped_at, now(), v_ttl, v_stale) AS reason
        FROM tasklease.tasks AS t
        LEFT JOIN owners AS o ON t.owner_id = o.owner_id
        WHERE t.id = ANY(v_ids) AND t.status = 'running'
    ) AS j
    WHERE j.reason IS NOT NULL;
    IF v_ids IS NULL THEN
        RETURN;
    END IF;

    -- 3. Requeue within the crash budget, else fail; log each decision.
    RETURN QUERY
    SELECT * FROM tasklease._requeue_or_fail(
        v_ids, v_reasons, tasklease._setting('max_requeue'), p_actor
    );
END
$$;

COMMENT ON FUNCTION tasklease._reap(int, text) IS
'The reaper: requeues (within max_requeue) or fails up to p_batch stale running tasks, logged '
'with p_actor as the decider; records the run in reaper_runs.';

CREATE OR REPLACE FUNCTION tasklease.reap_stale_tasks(
    batch int DEFAULT NULL,
    dry_run boolean DEFAULT FALSE
)
RETURNS SETOF tasklease.reap_result
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_batch int := tasklease._batch('batch', reap_stale_tasks.batch, 'reap_batch');
BEGIN
    IF coalesce(dry_run, FALSE) THEN
        RETURN QUERY
        SELECT s.task_id, s.action, s.reason, s.owner_id, s.attempts
        FROM tasklease.stale_tasks AS s
        ORDER BY s.task_id + 0  -- not the primary key's order: see _reap
        LIMIT v_batch;
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM tasklease._reap(v_batch, 'reap_stale_tasks');
END
$$;

COMMENT ON FUNCTION tasklease.reap_stale_tasks(int, boolean) IS
'The reaper: requeues (within max_requeue) or fails up to batch stale running tasks and '
'returns one row per decision (task_id, action, reason, owner_id, attempts).  dry_run: '
'what it would do, changing nothing.';

CREATE OR REPLACE FUNCTION tasklease.cleanup_stale_tasks(
    stale_s int DEFAULT NULL,
    max_requeue int DEFAULT NULL,
    batch int DEFAULT NULL,
    dry_run boolean DEFAULT FALSE
)
RETURNS SETOF tasklease.reap_result
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_stale interval := make_interval(secs => tasklease._check_range('stale_s',
        coalesce(cleanup_stale_tasks.stale_s, tasklease._setting('stale_s')),
        1, 2147483647, 'TL002'));
    v_max_requeue int := tasklease._check_range('max_requeue',
        coalesce(cleanup_stale_tasks.max_requeue, tasklease._setting('max_requeue')),
        0, 1000000, 'TL007');
    v_batch int := tasklease._batch('batch', cleanup_stale_tasks.batch, 'reap_batch');
    v_ids bigint[];
BEGIN
    PERFORM set_config('lock_timeout', tasklease._setting('reaper_lock_timeout_ms') || 'ms', true);

    -- Time-based only: running without a renewal (or, for rows without a
    -- lease, without any update) for longer than stale_s.  No liveness check.
    IF coalesce(dry_run, FALSE) THEN
        RETURN QUERY
        SELECT t.id, tasklease._budget_action(t.requeue_count, v_max_requeue), 'cleanup'::text,
            t.owner_id, t.attempts
        FROM tasklease.tasks AS t
        WHERE t.status = 'running'
            AND coalesce(t.last_heartbeat, t.updated_at) < now() - v_stale
        ORDER BY t.id + 0  -- not the primary key's order: see reap_stale_tasks
        LIMIT v_batch;
        RETURN;
    END IF;

    SELECT array_agg(c.id ORDER BY c.id) INTO v_ids
    FROM (
        SELECT t.id
        FROM tasklease.tasks AS t
        WHERE t.status = 'running'
            AND coalesce(t.last_heartbeat, t.updated_at) < now() - v_stale
        ORDER BY t.id + 0  -- not the primary key's order: see reap_stale_tasks
        LIMIT v_batch
        FOR UPDATE SKIP LOCKED
    ) AS c;
    IF v_ids IS NULL THEN
        RETURN;
    END IF;

    RETURN QUERY
    SELECT * FROM tasklease._requeue_or_fail(
        v_ids, array_fill('cleanup'::text, ARRAY[cardinality(v_ids)]),
        v_max_requeue, 'cleanup_stale_tasks'
    );
END
$$;

COMMENT ON FUNCTION tasklease.cleanup_stale_tasks(int, int, int, boolean) IS
'Emergency cleanup, time-based only: requeues (within max_requeue) or fails running tasks '
'not renewed for stale_s seconds, with reason cleanup.  dry_run changes nothing.';

-- Live workers share the reaper's work: each calls reap_if_due every few
-- seconds, and at most one run per reap_interval_s happens across all of
-- them (and pg_cron's reaper, which records its runs too).  A caller that
-- finds the reaper_runs row locked (another reaper is running) or the last
-- run recent returns at once without waiting.  The decisions are logged with
-- actor reap_if_due:<worker>.  Locks: the reaper_runs row (SKIP LOCKED), then
-- as the reaper.  Time source: now().
CREATE OR REPLACE FUNCTION tasklease.reap_if_due(worker text)
RETURNS SETOF tasklease.reap_result
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_worker text := tasklease._check_owner(reap_if_due.worker);
    v_interval interval := make_interval(secs => tasklease._setting('reap_interval_s'));
BEGIN
    PERFORM 1 FROM tasklease.reaper_runs AS r
    WHERE r.last_run_at <= now() - v_interval
    FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM tasklease._reap(
        tasklease._batch('batch', NULL, 'reap_batch'), 'reap_if_due:' || v_worker
    );
END
$$;

COMMENT ON FUNCTION tasklease.reap_if_due(text) IS
'The reaper run by a live worker, at most once per reap_interval_s across all callers (never '
'waiting for another reaper); decisions are logged with actor reap_if_due:<worker>.';
