-- Cancellation by a producer or operator, logged in reaper_log (action
-- cancelled, reason operator).  A running holder keeps its owner_id on the
-- row but finds its lease gone.  Locks: the one row.  Time source: now().

CREATE OR REPLACE FUNCTION tasklease.cancel_task(task_id bigint)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_n int;
BEGIN
    PERFORM tasklease._check_id('task_id', cancel_task.task_id);
    WITH old AS (
        SELECT t.id, t.owner_id, t.lease_token
        FROM tasklease.tasks AS t
        WHERE t.id = cancel_task.task_id AND t.status IN ('queued', 'running')
        FOR UPDATE
    ),

    upd AS (
        UPDATE tasklease.tasks AS t SET
            status = 'cancelled',
            lease_expires_at = NULL, finished_at = now(), updated_at = now()
        FROM old WHERE t.id = old.id
        RETURNING t.id, old.owner_id, old.lease_token, t.attempts, t.requeue_count
    ),

    logged AS (
        INSERT INTO tasklease.reaper_log
            (task_id, action, reason, owner_id, lease_token, attempts, requeue_count, actor)
        SELECT u.id, 'cancelled', 'operator', u.owner_id, u.lease_token, u.attempts,
            u.requeue_count, 'cancel_task'
        FROM upd AS u
        RETURNING 1
    )

    SELECT count(*) INTO v_n FROM logged;
    IF v_n > 0 THEN
        RETURN true;
    END IF;
    PERFORM tasklease._check_task_exists(cancel_task.task_id);
    RETURN false;
END
$$;

COMMENT ON FUNCTION tasklease.cancel_task(bigint) IS
'Cancels a queued or running task (a running holder then finds its lease gone) and logs it; '
'false when the task had already finished, TL009 when it does not exist.';
