-- Completion: store the result of a task whose lease (task_id, owner,
-- lease_token) is still held; a zombie gets false and changes nothing.
-- Locks: the completed rows.  Time source: now().

CREATE OR REPLACE FUNCTION tasklease.complete_task(
    task_id bigint,
    owner text,
    lease_token bigint,
    result jsonb DEFAULT NULL
)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_owner text := tasklease._check_owner(complete_task.owner);
BEGIN
    PERFORM tasklease._check_id('task_id', complete_task.task_id);
    PERFORM tasklease._check_id('lease_token', complete_task.lease_token);
    UPDATE tasklease.tasks AS t SET
        status = 'completed', result = complete_task.result, lease_expires_at = NULL,
        finished_at = now(), updated_at = now()
    WHERE t.id = complete_task.task_id AND t.status = 'running'
        AND t.owner_id = v_owner AND t.lease_token = complete_task.lease_token;
    RETURN FOUND;
END
$$;

COMMENT ON FUNCTION tasklease.complete_task(bigint, text, bigint, jsonb) IS
'Marks the task completed with result while (task_id, owner, lease_token) holds the lease; '
'false and no change otherwise (a zombie worker).';

CREATE OR REPLACE FUNCTION tasklease.complete_tasks(
    owner text,
    task_ids bigint [],
    lease_tokens bigint [],
    results jsonb [] DEFAULT NULL
)
RETURNS SETOF bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_owner text := tasklease._check_owner(complete_tasks.owner);
BEGIN
    PERFORM tasklease._check_pairs(task_ids, lease_tokens);
    IF results IS NOT NULL AND cardinality(results) <> cardinality(task_ids) THEN
        RAISE EXCEPTION 'results must be as long as task_ids' USING ERRCODE = 'TL007';
    END IF;
    RETURN QUERY
    UPDATE tasklease.tasks AS t SET
        status = 'completed', result = c.result, lease_expires_at = NULL,
        finished_at = now(), updated_at = now()
    FROM unnest(task_ids, lease_tokens, coalesce(results, array_fill(NULL::jsonb,
        ARRAY[cardinality(task_ids)]))) AS c (id, token, result)
    WHERE t.id = c.id AND t.status = 'running' AND t.owner_id = v_owner
        AND t.lease_token = c.token
    RETURNING t.id;
END
$$;

COMMENT ON FUNCTION tasklease.complete_tasks(text, bigint [], bigint [], jsonb []) IS
'Batch complete_task, fenced per task: returns the ids whose completion was accepted.';
