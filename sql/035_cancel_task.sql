-- Cancellation by a producer or operator.  Locks: the one row.  Time: now().

CREATE OR REPLACE FUNCTION tasklease.cancel_task(task_id bigint)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM tasklease._check_id('task_id', cancel_task.task_id);
    UPDATE tasklease.tasks AS t SET
        status = 'cancelled',
        owner_id = CASE WHEN t.status = 'queued' THEN NULL ELSE t.owner_id END,
        lease_expires_at = NULL, finished_at = now(), updated_at = now()
    WHERE t.id = cancel_task.task_id AND t.status IN ('queued', 'running');
    IF FOUND THEN
        RETURN true;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM tasklease.tasks AS t WHERE t.id = cancel_task.task_id) THEN
        RAISE EXCEPTION 'task % does not exist', cancel_task.task_id USING ERRCODE = 'TL009';
    END IF;
    RETURN false;
END
$$;

COMMENT ON FUNCTION tasklease.cancel_task(bigint) IS
'Cancels a queued or running task (a running holder then finds its lease gone); '
'false when the task had already finished, TL009 when it does not exist.';
