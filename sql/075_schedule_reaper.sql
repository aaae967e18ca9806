-- The pg_cron schedule of the reaper and the pruner, and the helpers that
-- every tasklease pg_cron job is scheduled with.  pg_cron is optional:
-- without it these functions raise TL010 and the reaper can be run by any
-- scheduler (SELECT * FROM tasklease.reap_stale_tasks()).
-- Locks: pg_cron's own (cron.job rows).  Time source: none.
-- Errors: TL007, TL010, TL011, TL013.

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
                  HINT = 'A superuser adds pg_cron to shared_preload_libraries, sets '
                         'cron.database_name to this database, restarts, and runs CREATE '
                         'EXTENSION pg_cron here (tasklease migrate does it when it can); or '
                         'run tasklease.reap_stale_tasks() from another scheduler.';
    END IF;
    RETURN string_to_array(regexp_replace(v, '[^0-9.].*$', ''), '.')::int [];
END
$$;

COMMENT ON FUNCTION tasklease._cron_version() IS
'Version of the pg_cron extension in this database as an int array; TL010 when absent.';

-- pg_cron runs each job as a LOGIN role: run_as, or by default the owner of
-- these functions (current_user inside them).  A job cannot bound its own
-- statement_timeout (a SET in the job's command has no effect on pg_cron
-- 1.4): bound it on that role, e.g. ALTER ROLE tasklease_reaper SET
-- statement_timeout = '60s'; the reaper bounds its own lock waits.
--
-- Who may schedule what (pg_cron 1.4 and later):
--   superuser owner      cron.schedule_in_database(..., username => run_as)
--   non-superuser owner  cron.schedule(name, schedule, command): the jobs run
--                        as the owner, in this database (pg_cron lives only in
--                        the database cron.database_name, so the extension
--                        being here means this is it); needs USAGE on schema
--                        cron, and pg_cron refuses any other run_as.
-- Every missing piece is TL013 with a HINT naming the GRANT that fixes it,
-- checked before anything is scheduled, so that no job is created that would
-- then fail every minute in cron.job_run_details.  The same helpers schedule
-- the periodic tasks (076_schedule_task.sql), which run as the reaper's role.

-- The role the jobs will run as (p_run_as, else the owner), once every check
-- above passed for it and for each of p_functions, the functions its jobs call.
CREATE OR REPLACE FUNCTION tasklease._cron_check_role(p_run_as text, p_functions text [])
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_run_as text := coalesce(p_run_as, current_user);
    v_super boolean := (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r
                        WHERE r.rolname = current_user);
    v_function text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles AS r
                   WHERE r.rolname = v_run_as AND r.rolcanlogin) THEN
        RAISE EXCEPTION 'run_as role % does not exist or cannot log in', quote_ident(v_run_as)
            USING ERRCODE = CASE WHEN p_run_as IS NULL THEN 'TL013' ELSE 'TL007' END,
                  HINT = CASE WHEN p_run_as IS NULL
                      THEN format('pg_cron runs jobs only as LOGIN roles: ALTER ROLE %I LOGIN, '
                                  'or pass run_as.', v_run_as)
                      ELSE 'pg_cron runs jobs only as roles with the LOGIN attribute.' END;
    END IF;
    IF NOT v_super AND v_run_as <> current_user THEN
        RAISE EXCEPTION 'only a superuser can schedule pg_cron jobs as another role (%)',
            quote_ident(v_run_as)
            USING ERRCODE = 'TL013',
                  DETAIL = format('The tasklease functions are owned by %I, not a superuser; '
                                  'pg_cron refuses any username from a non-superuser.',
                                  current_user),
                  HINT = format('Omit run_as: the jobs then run as %I (bound them with ALTER '
                                'ROLE %I SET statement_timeout).', current_user, current_user);
    END IF;
    FOREACH v_function IN ARRAY p_functions LOOP
        IF NOT (pg_catalog.has_schema_privilege(v_run_as, 'tasklease', 'USAGE')
                AND pg_catalog.has_function_privilege(v_run_as, v_function, 'EXECUTE')) THEN
            RAISE EXCEPTION 'role % may not run %: the pg_cron job would fail every run',
                quote_ident(v_run_as), v_function
                USING ERRCODE = 'TL013',
                      HINT = format('GRANT tasklease_admin TO %I;', v_run_as);
        END IF;
    END LOOP;
    IF NOT v_super AND NOT pg_catalog.has_schema_privilege('cron', 'USAGE') THEN
        RAISE EXCEPTION 'role % may not use pg_cron (no USAGE on schema cron)',
            quote_ident(current_user)
            USING ERRCODE = 'TL013',
                  HINT = format('As a superuser: GRANT USAGE ON SCHEMA cron TO %I;',
                                current_user);
    END IF;
    RETURN v_run_as;
END
$$;

COMMENT ON FUNCTION tasklease._cron_check_role(text, text []) IS
'The LOGIN role pg_cron jobs of tasklease will run as (p_run_as, else the owner), after '
'checking that it may be scheduled as and may run p_functions: TL007, TL013 otherwise.';

-- Registers (or updates) one job, run as p_run_as (checked by
-- _cron_check_role).  Idempotent: one job per name.  pg_cron updates a job of
-- the same name and user in place (same job id); one under another user (an
-- earlier run_as) is removed.  A schedule pg_cron rejects is TL011.
CREATE OR REPLACE FUNCTION tasklease._cron_schedule(
    p_name text, p_schedule text, p_command text, p_run_as text
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_job bigint;
BEGIN
    PERFORM tasklease._cron_unschedule(p_name, p_run_as);
    BEGIN
        IF (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user) THEN
            EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4, $5)' INTO v_job
            USING p_name, p_schedule, p_command, current_database(), p_run_as;
        ELSE
            EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO v_job
            USING p_name, p_schedule, p_command;
        END IF;
    EXCEPTION WHEN invalid_parameter_value OR data_exception THEN
        RAISE EXCEPTION 'pg_cron % rejected the schedule %',
            array_to_string(tasklease._cron_version(), '.'), quote_literal(p_schedule)
            USING ERRCODE = 'TL011',
                  DETAIL = SQLERRM,
                  HINT = 'Use cron syntax (''* * * * *'' is every minute); '
                         'schedules in seconds (''30 seconds'') need pg_cron 1.5 or newer.';
    END;
    RETURN v_job;
END
$$;

COMMENT ON FUNCTION tasklease._cron_schedule(text, text, text, text) IS
'Registers or updates the pg_cron job p_name (one per name), run as p_run_as in this database; '
'returns its id; TL011 when pg_cron rejects the schedule.';

-- The role the reaper's job runs as, which the periodic tasks' jobs share;
-- NULL (the owner, for _cron_check_role) when the reaper is not scheduled.
-- (cron.job shows a non-superuser owner its own jobs only, which are all of
-- tasklease's.)
CREATE OR REPLACE FUNCTION tasklease._cron_reaper_role()
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_role text;
BEGIN
    IF NOT pg_catalog.has_schema_privilege('cron', 'USAGE') THEN
        RETURN NULL;  -- _cron_check_role says what is missing
    END IF;
    EXECUTE 'SELECT username::text FROM cron.job WHERE jobname = $1 ORDER BY jobid LIMIT 1'
    INTO v_role USING 'tasklease-reaper';
    RETURN v_role;
END
$$;

COMMENT ON FUNCTION tasklease._cron_reaper_role() IS
'The role pg_cron runs the tasklease-reaper job as; NULL when there is none.';

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
    v_periodic boolean := EXISTS (SELECT 1 FROM tasklease.periodic_schedules);
    v_run_as text := tasklease._cron_check_role(
        schedule_reaper.run_as,
        ARRAY['tasklease.reap_stale_tasks(integer, boolean)', 'tasklease.prune(integer)']
        || CASE WHEN v_periodic
            THEN ARRAY['tasklease.enqueue_periodic(text, timestamp with time zone)']
            ELSE '{}'::text [] END
    );
    v_reaper_job bigint;
    p record;
BEGIN
    v_reaper_job := tasklease._cron_schedule(
        'tasklease-reaper', v_schedule, 'SELECT count(*) FROM tasklease.reap_stale_tasks()',
        v_run_as);
    PERFORM tasklease._cron_schedule(
        'tasklease-prune', '* * * * *', 'SELECT * FROM tasklease.prune()', v_run_as);
    -- The periodic tasks run as the reaper's role: they move with it.
    FOR p IN SELECT s.name, s.schedule FROM tasklease.periodic_schedules AS s ORDER BY s.name LOOP
        PERFORM tasklease._cron_schedule(
            tasklease._periodic_job(p.name), p.schedule, tasklease._periodic_command(p.name),
            v_run_as);
    END LOOP;
    RETURN v_reaper_job;
END
$$;

COMMENT ON FUNCTION tasklease.schedule_reaper(text, text) IS
'Registers (or updates) the pg_cron jobs tasklease-reaper (default every 30 seconds on pg_cron '
'1.5+, every minute before) and tasklease-prune, run as run_as (default: the function owner), '
'and moves the periodic tasks'' jobs to that role; idempotent; returns the reaper''s job id.  '
'TL013 names the GRANT or setting a non-superuser owner or run_as role lacks.';

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
