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
