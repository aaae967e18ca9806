-- Handler failure: spend one unit of the handler-failure budget (failures
-- against max_attempts) and requeue with backoff, or fail when it is spent.
-- Fenced like completion.  Locks: the one row.  Time source: now().

CREATE OR REPLACE FUNCTION tasklease.fail_task(
    task_id bigint,
    owner text,
    lease_token bigint,
    error text,
    retry_in_s int DEFAULT NULL
)
RETURNS tasklease.task_status
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_owner text := tasklease._check_owner(fail_task.owner);
    v_error text := left(coalesce(fail_task.error, '(no error message)'),
        tasklease._setting('max_error_len'));
    v_status tasklease.task_status;
BEGIN
    PERFORM tasklease._check_id('task_id', fail_task.task_id);
    PERFORM tasklease._check_id('lease_token', fail_task.lease_token);
    IF fail_task.retry_in_s IS NOT NULL THEN
        PERFORM tasklease._check_range('retry_in_s', fail_task.retry_in_s, 0,
            tasklease._setting('retry_max_s'), 'TL002');
    END IF;
    -- The handler-failure budget: this failure is number failures + 1.  Only
    -- fail_task spends it; crashes spend requeue_count (the reaper's budget).
    UPDATE tasklease.tasks AS t SET
        failures = t.failures + 1,
        status = CASE WHEN t.failures + 1 < t.max_attempts
            THEN 'queued'::tasklease.task_status ELSE 'failed'::tasklease.task_status END,
        run_after = CASE WHEN t.failures + 1 < t.max_attempts
            THEN now() + coalesce(make_interval(secs => fail_task.retry_in_s),
                tasklease._backoff(tasklease._setting('retry_base_s'), t.failures + 1))
            ELSE t.run_after END,
        owner_id = CASE WHEN t.failures + 1 < t.max_attempts THEN NULL ELSE t.owner_id END,
        lease_token = CASE WHEN t.failures + 1 < t.max_attempts THEN NULL ELSE t.lease_token END,
        lease_expires_at = NULL,
        last_error = v_error,
        finished_at = CASE WHEN t.failures + 1 < t.max_attempts THEN NULL ELSE now() END,
        updated_at = now()
    WHERE t.id = fail_task.task_id AND t.status = 'running'
        AND t.owner_id = v_owner AND t.lease_token = fail_task.lease_token
    RETURNING t.status INTO v_status;
    RETURN v_status;
END
$$;

COMMENT ON FUNCTION tasklease.fail_task(bigint, text, bigint, text, int) IS
'Records a handler failure (failures + 1): queued again after retry_in_s (default: jittered '
'exponential backoff) while failures < max_attempts, else failed.  NULL when the lease is '
'not held.';
