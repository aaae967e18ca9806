-- Completion: store the result of a task whose lease (task_id, owner,
-- lease_token) is still held; a zombie gets false and changes nothing.
-- A result larger than max_result_bytes is refused (TL012) before anything
-- changes: the caller then records a handler failure for that task instead.
-- Locks: the completed rows.  Time source: now().

CREATE OR REPLACE FUNCTION tasklease._check_results(p_ids bigint [], p_results jsonb [])
RETURNS void
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    v_max int;
    v_bad record;
BEGIN
    IF p_results IS NULL THEN
        RETURN;
    END IF;
    v_max := tasklease._setting('max_result_bytes');
    SELECT r.ord, pg_column_size(r.result) AS bytes INTO v_bad
    FROM unnest(p_results) WITH ORDINALITY AS r (result, ord)
    WHERE pg_column_size(r.result) > v_max
    ORDER BY r.ord
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'the result of task % is % bytes, larger than max_result_bytes (%)',
            p_ids[v_bad.ord], v_bad.bytes, v_max
            USING ERRCODE = 'TL012',
                  DETAIL = format('task_id=%s', p_ids[v_bad.ord]),
                  HINT = 'Store large results elsewhere and return a reference to them.';
    END IF;
END
$$;

COMMENT ON FUNCTION tasklease._check_results(bigint [], jsonb []) IS
'Raises TL012 naming the first task whose result is larger than max_result_bytes.';

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
    PERFORM tasklease._check_results(ARRAY[complete_task.task_id], ARRAY[complete_task.result]);
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
'false and no change otherwise (a zombie worker).  TL012 for a result larger than '
'max_result_bytes.';

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
BEGIN
    -- The worker's hot path (it stores every batch of outcomes with this, in
    -- the statement that claims the next tasks): the checks inline, as in
    -- claim_tasks, with the settings as constants of the cached plans
    -- (_setting, 010_settings.sql).  Same checks, same errors as _check_owner,
    -- _check_pairs and _check_results.
    PERFORM tasklease._check_owner_len(complete_tasks.owner,
        tasklease._setting('max_owner_len'));
    IF task_ids IS NULL OR lease_tokens IS NULL
        OR cardinality(task_ids) <> cardinality(lease_tokens) THEN
        RAISE EXCEPTION 'task_ids and lease_tokens must be arrays of the same length'
            USING ERRCODE = 'TL007';
    END IF;
    PERFORM tasklease._check_range('task_ids', cardinality(task_ids), 1,
        tasklease._setting('max_batch'), 'TL003');
    IF results IS NOT NULL AND cardinality(results) <> cardinality(task_ids) THEN
        RAISE EXCEPTION 'results must be as long as task_ids' USING ERRCODE = 'TL007';
    END IF;
    IF results IS NOT NULL AND EXISTS (
        SELECT FROM unnest(results) AS r (result)
        WHERE pg_column_size(r.result) > tasklease._setting('max_result_bytes')
    ) THEN
        PERFORM tasklease._check_results(task_ids, results);  -- raises TL012 naming the task
    END IF;
    RETURN QUERY
    UPDATE tasklease.tasks AS t SET
        status = 'completed', result = c.result, lease_expires_at = NULL,
        finished_at = now(), updated_at = now()
    FROM unnest(task_ids, lease_tokens, coalesce(results, array_fill(NULL::jsonb,
        ARRAY[cardinality(task_ids)]))) AS c (id, token, result)
    WHERE t.id = c.id AND t.status = 'running' AND t.owner_id = complete_tasks.owner
        AND t.lease_token = c.token
    RETURNING t.id;
END
$$;

COMMENT ON FUNCTION tasklease.complete_tasks(text, bigint [], bigint [], jsonb []) IS
'Batch complete_task, fenced per task: returns the ids whose completion was accepted.  '
'TL012 (nothing changes) when a result is larger than max_result_bytes.';
