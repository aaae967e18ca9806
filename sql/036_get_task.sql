-- Look-up of one task for producers (who have no table privileges).

CREATE OR REPLACE FUNCTION tasklease.get_task(task_id bigint)
RETURNS SETOF tasklease.tasks
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM tasklease.tasks AS t WHERE t.id = get_task.task_id;
$$;

COMMENT ON FUNCTION tasklease.get_task(bigint) IS
'The task row with this id: 0 or 1 row.';
