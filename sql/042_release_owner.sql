-- Graceful shutdown: give back what this owner still runs.  Locks: the
-- owner's running task rows.  Time source: now().

CREATE OR REPLACE FUNCTION tasklease.release_owner(owner text)
RETURNS int
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_owner text := tasklease._check_owner(release_owner.owner);
    v_n int;
    v_queues text[];
BEGIN
    WITH old AS (
        SELECT t.id, t.owner_id, t.lease_token
        FROM tasklease.tasks AS t
        WHERE t.status = 'running' AND t.owner_id = v_owner
        ORDER BY t.id
        FOR UPDATE
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
    RETURN v_n;
END
$$;

COMMENT ON FUNCTION tasklease.release_owner(text) IS
'Graceful shutdown: gives back every task owner is running, runnable now, as if never '
'claimed (neither attempts nor requeue_count counts it); returns how many.';
