-- Graceful shutdown: give back what this owner still runs.  The caller says
-- which of its tasks had a handler running when its grace period ended
-- (started): those are abandoned, a crash by the rules of the reaper (reason
-- abandoned, crash budget, backoff), so a handler that never returns ends
-- failed after max_requeue deploys instead of surviving every one of them.
-- Every other running task of the owner (claimed, its handler never
-- started) is given back free, as if never claimed (reason released).
-- Locks: the owner's running task rows.  Time source: now().

CREATE OR REPLACE FUNCTION tasklease.release_owner(owner text, started bigint [] DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_owner text := tasklease._check_owner(release_owner.owner);
    v_abandoned bigint [];
    v_n int;
    v_m int := 0;
    v_queues text [];
BEGIN
    -- Lock every running task of the owner first, in id order (one order for
    -- every locker of several task rows: no deadlock with the reaper).
    SELECT array_agg(t.id ORDER BY t.id) FILTER (WHERE t.id = ANY(release_owner.started))
    INTO v_abandoned
    FROM (
        SELECT t.id FROM tasklease.tasks AS t
        WHERE t.status = 'running' AND t.owner_id = v_owner
        ORDER BY t.id
        FOR UPDATE
    ) AS t;

    IF v_abandoned IS NOT NULL THEN
        SELECT count(*) INTO v_m
        FROM tasklease._requeue_or_fail(
            v_abandoned, array_fill('abandoned'::text, ARRAY[cardinality(v_abandoned)]),
            tasklease._setting('max_requeue'), 'release_owner'
        );
    END IF;

    WITH old AS (
        SELECT t.id, t.owner_id, t.lease_token
        FROM tasklease.tasks AS t
        WHERE t.status = 'running' AND t.owner_id = v_owner
    ),

    rel AS (
        UPDATE tasklease.tasks AS t SET
            status = 'queued', owner_id = NULL, lease_token = NULL, lease_expires_at = NULL,
            attempts = greatest(t.attempts - 1, 0), run_after = now(), updated_at = now()
        FROM old WHERE t.id = old.id
        RETURNING t.id, t.queue, old.owner_id, old.lease_token, t.attempts, t.requeue_count
    ),

    logged AS (
        INSERT INTO tasklease.reaper_log
            (task_id, action, reason, owner_id, lease_token, attempts, requeue_count, actor)
        SELECT r.id, 'released', 'released', r.owner_id, r.lease_token, r.attempts,
            r.requeue_count, 'release_owner'
        FROM rel AS r
        RETURNING task_id
    )

    SELECT count(*), array_agg(DISTINCT r.queue) INTO v_n, v_queues
    FROM rel AS r WHERE r.id IN (SELECT l.task_id FROM logged AS l);

    PERFORM tasklease._notify(q) FROM unnest(v_queues) AS q;
    RETURN v_n + v_m;
END
$$;

COMMENT ON FUNCTION tasklease.release_owner(text, bigint []) IS
'Graceful shutdown: gives back every task owner is running and returns how many.  Tasks in '
'started (their handler was still running) are abandoned: requeued or failed by the crash '
'budget, reason abandoned.  The others are released free, as if never claimed.';

-- Give back tasks a worker claimed ahead and will not start after all (their
-- wait behind a long handler grew too long): each whose lease (task_id,
-- owner, lease_token) is still held goes back to queued free, as if never
-- claimed, keeping its place (run_after and priority unchanged), and idle
-- workers are woken.  Returns the ids given back; a lease no longer held is
-- left alone.  The worker gives back only tasks whose handler never started.
-- Locks: the given-back rows, in id order.  Time source: now().
CREATE OR REPLACE FUNCTION tasklease.release_tasks(
    owner text,
    task_ids bigint [],
    lease_tokens bigint []
)
RETURNS SETOF bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_owner text := tasklease._check_owner(release_tasks.owner);
    v_ids bigint [];
    v_queues text [];
BEGIN
    PERFORM tasklease._check_pairs(task_ids, lease_tokens);
    WITH mine AS (
        SELECT t.id, t.lease_token FROM tasklease.tasks AS t
        JOIN unnest(task_ids, lease_tokens) AS c (id, token) ON t.id = c.id
        WHERE t.status = 'running' AND t.owner_id = v_owner AND t.lease_token = c.token
        ORDER BY t.id
        FOR UPDATE OF t
    ),

    rel AS (
        UPDATE tasklease.tasks AS t SET
            status = 'queued', owner_id = NULL, lease_token = NULL, lease_expires_at = NULL,
            attempts = greatest(t.attempts - 1, 0), updated_at = now()
        FROM mine WHERE t.id = mine.id
        RETURNING t.id, t.queue, t.attempts, t.requeue_count, mine.lease_token
    ),

    logged AS (
        INSERT INTO tasklease.reaper_log
            (task_id, action, reason, owner_id, lease_token, attempts, requeue_count, actor)
        SELECT r.id, 'released', 'released', v_owner, r.lease_token, r.attempts,
            r.requeue_count, 'release_tasks'
        FROM rel AS r
        RETURNING task_id
    )

    SELECT array_agg(r.id ORDER BY r.id), array_agg(DISTINCT r.queue) INTO v_ids, v_queues
    FROM rel AS r WHERE r.id IN (SELECT l.task_id FROM logged AS l);

    PERFORM tasklease._notify(q) FROM unnest(v_queues) AS q;
    RETURN QUERY SELECT unnest(v_ids);
END
$$;

COMMENT ON FUNCTION tasklease.release_tasks(text, bigint [], bigint []) IS
'Gives back, free and in their place, the tasks of (task_ids, lease_tokens) whose lease owner '
'still holds (a worker''s claimed-ahead tasks it will not start); returns their ids.  '
'TL007 for arrays of different lengths, TL003 for an empty or oversized batch.';
