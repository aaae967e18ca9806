-- Maintenance: settings changes, pruning of finished tasks and of the audit
-- trail, and the pg_cron schedule of the reaper and the pruner.
-- pg_cron is optional: without it these functions raise TL010 and the reaper
-- can be run by any scheduler (SELECT * FROM tasklease.reap_stale_tasks()).
-- Locks: pruning deletes at most prune_batch rows per table and call, picked
-- with SKIP LOCKED, so it never waits on or blocks a worker for long.

CREATE OR REPLACE FUNCTION tasklease.set_setting(name text, value int)
RETURNS int
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_min int := CASE set_setting.name
        WHEN 'max_requeue' THEN 0
        WHEN 'requeue_backoff_s' THEN 0
        ELSE 1 END;
    v_old int;
BEGIN
    SELECT s.value INTO v_old FROM tasklease.settings AS s WHERE s.name = set_setting.name
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tasklease setting "%" does not exist', set_setting.name
            USING ERRCODE = 'TL006',
                  HINT = 'SELECT name FROM tasklease.settings lists the settings.';
    END IF;
    IF set_setting.value IS NULL OR set_setting.value < v_min THEN
        RAISE EXCEPTION 'setting % must be at least %, got %',
            set_setting.name, v_min, coalesce(set_setting.value::text, 'NULL')
            USING ERRCODE = 'TL006';
    END IF;
    UPDATE tasklease.settings AS s SET value = set_setting.value WHERE s.name = set_setting.name;
    RETURN v_old;
END
$$;

COMMENT ON FUNCTION tasklease.set_setting(text, int) IS
'Changes one setting (validated; TL006 for an unknown name or bad value); returns the old value.';

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

CREATE OR REPLACE FUNCTION tasklease._cron_version()
RETURNS int []
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text;
BEGIN
    SELECT e.extversion INTO v FROM pg_catalog.pg_extension AS e WHERE e.extname = 'pg_cron';
    IF v IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not installed in database %', current_database()
            USING ERRCODE = 'TL010',
                  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to '
                         'this database and CREATE EXTENSION pg_cron; or run '
                         'tasklease.reap_stale_tasks() from another scheduler.';
    END IF;
    RETURN string_to_array(regexp_replace(v, '[^0-9.].*$', ''), '.')::int [];
END
$$;

COMMENT ON FUNCTION tasklease._cron_version() IS
'Version of the pg_cron extension in this database as an int array; TL010 when absent.';

-- The command pg_cron runs: bounded by the reaper's statement_timeout setting.
CREATE OR REPLACE FUNCTION tasklease._cron_command(p_call text)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('SET statement_timeout = %L; SELECT %s',
        tasklease._setting('reaper_statement_timeout_ms') || 'ms', p_call);
$$;

CREATE OR REPLACE FUNCTION tasklease.schedule_reaper(schedule text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_version int [] := tasklease._cron_version();
    v_schedule text := coalesce(
        nullif(btrim(schedule_reaper.schedule), ''),
        CASE WHEN v_version >= ARRAY[1, 5] THEN '30 seconds' ELSE '* * * * *' END
    );
    v_job bigint;
BEGIN
    BEGIN
        EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO v_job
        USING 'tasklease-reaper', v_schedule,
            tasklease._cron_command('count(*) FROM tasklease.reap_stale_tasks()');
    EXCEPTION WHEN invalid_parameter_value OR data_exception THEN
        RAISE EXCEPTION 'pg_cron % rejected the schedule %', array_to_string(v_version, '.'),
            quote_literal(v_schedule)
            USING ERRCODE = 'TL011',
                  DETAIL = SQLERRM,
                  HINT = 'Use cron syntax (''* * * * *'' is every minute); '
                         'schedules in seconds (''30 seconds'') need pg_cron 1.5 or newer.';
    END;
    EXECUTE 'SELECT cron.schedule($1, $2, $3)'
    USING 'tasklease-prune', '*/5 * * * *',
        tasklease._cron_command(
            'tasklease.prune_finished_tasks(), tasklease.prune_reaper_log()'
        );
    RETURN v_job;
END
$$;

COMMENT ON FUNCTION tasklease.schedule_reaper(text) IS
'Registers (or updates) the pg_cron jobs tasklease-reaper (default every 30 seconds on pg_cron '
'1.5+, every minute before) and tasklease-prune; idempotent; returns the reaper''s job id.';

CREATE OR REPLACE FUNCTION tasklease.unschedule_reaper()
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_found boolean := false;
    v_job bigint;
    v_name text;
BEGIN
    PERFORM tasklease._cron_version();
    FOREACH v_name IN ARRAY ARRAY['tasklease-reaper', 'tasklease-prune'] LOOP
        FOR v_job IN EXECUTE 'SELECT jobid FROM cron.job WHERE jobname = $1' USING v_name LOOP
            EXECUTE 'SELECT cron.unschedule($1)' USING v_job;
            v_found := v_found OR v_name = 'tasklease-reaper';
        END LOOP;
    END LOOP;
    RETURN v_found;
END
$$;

COMMENT ON FUNCTION tasklease.unschedule_reaper() IS
'Removes the pg_cron jobs of tasklease; true when a reaper job existed.';
