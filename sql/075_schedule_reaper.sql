-- The pg_cron schedule of the reaper and the pruner.  pg_cron is optional:
-- without it these functions raise TL010 and the reaper can be run by any
-- scheduler (SELECT * FROM tasklease.reap_stale_tasks()).

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

-- pg_cron runs each job as the role that scheduled it (here the owner of
-- these functions) or as run_as.  A job cannot bound its own
-- statement_timeout (SET in the job's command has no effect on pg_cron 1.4):
-- bound it on that role, e.g. ALTER ROLE tasklease_reaper SET
-- statement_timeout = '60s'; the reaper bounds its own lock waits.
CREATE OR REPLACE FUNCTION tasklease.schedule_reaper(
    schedule text DEFAULT NULL,
    run_as text DEFAULT NULL
)
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
    v_run_as text := coalesce(schedule_reaper.run_as, current_user);
    v_job bigint;
    v_reaper_job bigint;
    v_name text;
    v_when text;
    v_command text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles AS r
                   WHERE r.rolname = v_run_as AND r.rolcanlogin) THEN
        RAISE EXCEPTION 'run_as role % does not exist or cannot log in', quote_ident(v_run_as)
            USING ERRCODE = 'TL007',
                  HINT = 'pg_cron runs jobs only as roles with the LOGIN attribute.';
    END IF;
    FOR v_name, v_when, v_command IN
        VALUES
        ('tasklease-reaper', v_schedule, 'SELECT count(*) FROM tasklease.reap_stale_tasks()'),
        ('tasklease-prune', '* * * * *', 'SELECT * FROM tasklease.prune()')
    LOOP
        -- Idempotent: one job per name.  pg_cron updates a job of the same
        -- name and user in place (same job id); one under another user (an
        -- earlier run_as) is removed.
        PERFORM tasklease._cron_unschedule(v_name, v_run_as);
        BEGIN
            EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4, $5)' INTO v_job
            USING v_name, v_when, v_command, current_database(), v_run_as;
        EXCEPTION WHEN invalid_parameter_value OR data_exception THEN
            RAISE EXCEPTION 'pg_cron % rejected the schedule %',
                array_to_string(v_version, '.'), quote_literal(v_when)
                USING ERRCODE = 'TL011',
                      DETAIL = SQLERRM,
                      HINT = 'Use cron syntax (''* * * * *'' is every minute); '
                             'schedules in seconds (''30 seconds'') need pg_cron 1.5 or newer.';
        END;
        IF v_name = 'tasklease-reaper' THEN
            v_reaper_job := v_job;
        END IF;
    END LOOP;
    RETURN v_reaper_job;
END
$$;

COMMENT ON FUNCTION tasklease.schedule_reaper(text, text) IS
'Registers (or updates) the pg_cron jobs tasklease-reaper (default every 30 seconds on pg_cron '
'1.5+, every minute before) and tasklease-prune, run as run_as (default: the function owner); '
'idempotent; returns the reaper''s job id.';

CREATE OR REPLACE FUNCTION tasklease._cron_unschedule(p_name text, p_keep_user text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_job bigint;
    v_found boolean := FALSE;
BEGIN
    FOR v_job IN EXECUTE
        'SELECT jobid FROM cron.job WHERE jobname = $1 AND username::text COLLATE "C" IS DISTINCT FROM $2'
        USING p_name, p_keep_user
    LOOP
        EXECUTE 'SELECT cron.unschedule($1)' USING v_job;
        v_found := TRUE;
    END LOOP;
    RETURN v_found;
END
$$;

COMMENT ON FUNCTION tasklease._cron_unschedule(text, text) IS
'Removes the pg_cron jobs named p_name, except one run by p_keep_user; true when one existed.';

CREATE OR REPLACE FUNCTION tasklease.unschedule_reaper()
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM tasklease._cron_version();
    PERFORM tasklease._cron_unschedule('tasklease-prune');
    RETURN tasklease._cron_unschedule('tasklease-reaper');
END
$$;

COMMENT ON FUNCTION tasklease.unschedule_reaper() IS
'Removes the pg_cron jobs of tasklease; true when a reaper job existed.';
