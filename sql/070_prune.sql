-- Pruning of finished tasks and of the audit trail.  Each batch deletes at
-- most prune_batch rows picked with SKIP LOCKED, so it never waits on or
-- blocks a worker for long.  Time source: now(), clock_timestamp().

CREATE OR REPLACE FUNCTION tasklease.prune_finished_tasks(batch int DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_batch int := tasklease._batch('batch', prune_finished_tasks.batch, 'prune_batch');
    v_before timestamptz := now()
        - make_interval(secs => tasklease._setting('finished_retention_s'));
    v_n int;
BEGIN
    WITH doomed AS MATERIALIZED (
        SELECT t.id FROM tasklease.tasks AS t
        WHERE t.status IN ('completed', 'failed', 'cancelled') AND t.finished_at < v_before
        ORDER BY t.finished_at
        LIMIT v_batch
        FOR UPDATE SKIP LOCKED
    )

    DELETE FROM tasklease.tasks AS t USING doomed WHERE t.id = doomed.id;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;

COMMENT ON FUNCTION tasklease.prune_finished_tasks(int) IS
'Deletes up to batch (default prune_batch) tasks finished more than finished_retention_s ago.';

CREATE OR REPLACE FUNCTION tasklease.prune_reaper_log(batch int DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_batch int := tasklease._batch('batch', prune_reaper_log.batch, 'prune_batch');
    v_before timestamptz := now() - make_interval(secs => tasklease._setting('log_retention_s'));
    v_n int;
BEGIN
    WITH doomed AS MATERIALIZED (
        SELECT l.id FROM tasklease.reaper_log AS l
        WHERE l.at < v_before
        ORDER BY l.at
        LIMIT v_batch
        FOR UPDATE SKIP LOCKED
    )

    DELETE FROM tasklease.reaper_log AS l USING doomed WHERE l.id = doomed.id;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;

COMMENT ON FUNCTION tasklease.prune_reaper_log(int) IS
'Deletes up to batch (default prune_batch) reaper_log rows older than log_retention_s.';

-- What the pg_cron job tasklease-prune runs every minute: batches of
-- prune_batch rows, first finished tasks then reaper_log rows, until nothing
-- is left or prune_budget_ms has passed (clock_timestamp, the database's
-- clock).  One transaction: only finished rows are locked, which no worker
-- touches; a busy queue is kept small without one long delete.
CREATE OR REPLACE FUNCTION tasklease.prune(budget_ms int DEFAULT NULL)
RETURNS TABLE (tasks_deleted bigint, log_rows_deleted bigint)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_end timestamptz := clock_timestamp() + make_interval(secs => tasklease._check_range(
        'budget_ms', coalesce(prune.budget_ms, tasklease._setting('prune_budget_ms')),
        0, 3600000, 'TL002') / 1000.0);
    v_batch int := tasklease._setting('prune_batch');
    v_n int;
    v_tasks bigint := 0;
    v_log bigint := 0;
BEGIN
    LOOP
        v_n := tasklease.prune_finished_tasks(v_batch);
        v_tasks := v_tasks + v_n;
        EXIT WHEN v_n < v_batch OR clock_timestamp() >= v_end;
    END LOOP;
    LOOP
        v_n := tasklease.prune_reaper_log(v_batch);
        v_log := v_log + v_n;
        EXIT WHEN v_n < v_batch OR clock_timestamp() >= v_end;
    END LOOP;
    RETURN QUERY SELECT v_tasks, v_log;
END
$$;

COMMENT ON FUNCTION tasklease.prune(int) IS
'Prunes finished tasks past finished_retention_s, then reaper_log rows past log_retention_s, '
'in prune_batch batches until none is left or budget_ms (default prune_budget_ms) has passed.';
