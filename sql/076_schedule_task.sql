-- Periodic tasks: schedule_task(name, schedule, payload, queue, ...) stores
-- what to enqueue in tasklease.periodic_schedules and registers the pg_cron
-- job tasklease-periodic:<name>, whose command is
-- SELECT tasklease.enqueue_periodic('<name>').  The job runs as the reaper's
-- role (_cron_reaper_role; schedule_reaper moves the jobs along), so the
-- same role-level statement_timeout bounds it, and enqueue_periodic bounds
-- its own lock waits with reaper_lock_timeout_ms.
--
-- Exactly once per tick: enqueue_periodic works out the tick it runs for,
-- the latest time at or before now() that the schedule names, and enqueues
-- with the de-duplication key periodic:<name>@<tick>, kept taken for
-- finished_retention_s after the task finished.  So a second job with the
-- same schedule, a run that pg_cron starts late (after a long run, or a busy
-- launcher: it still maps to its own tick, or to a later one it then shares
-- with that tick's run), or a run repeated by hand never enqueue one tick
-- twice.  Ticks missed altogether (pg_cron stopped) are not made up for.
--
-- Schedules: cron syntax as pg_cron reads it (five fields of numbers,
-- ranges, steps, lists, month and weekday names; @hourly, @daily,
-- @midnight, @weekly, @monthly, @yearly, @annually), in pg_cron's time zone
-- (cron.timezone on 1.5+, GMT before); and '<1-59> seconds' on pg_cron 1.5+,
-- whose ticks are the multiples of that many seconds since the epoch.
-- Locks: the periodic_schedules row; pg_cron's cron.job rows.
-- Time source: now(), or the at argument of enqueue_periodic (tests).
-- Errors: TL004, TL005, TL007, TL009, TL010, TL011, TL013.

-- The values a cron field allows, or NULL when pg_cron would refuse it (or
-- it allows none).  p_names: the lower-case names of p_low, p_low + 1, ...
CREATE OR REPLACE FUNCTION tasklease._cron_field(
    p_field text, p_low int, p_high int, p_names text []
)
RETURNS int []
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_set int [] := '{}';
    v_part text;
    m text [];
    v_bounds int [];
    v_step int;
BEGIN
    FOREACH v_part IN ARRAY string_to_array(p_field, ',') LOOP
        -- * | a | a-b, each optionally /step; a step needs * or a range, as in vixie cron
        m := regexp_match(v_part, '^(?:(\*)|([0-9a-z]{1,9})(?:-([0-9a-z]{1,9}))?)(?:/([0-9]{1,9}))?$');
        IF m IS NULL OR (m[2] IS NOT NULL AND m[3] IS NULL AND m[4] IS NOT NULL) THEN
            RETURN NULL;
        END IF;
        IF m[1] IS NOT NULL THEN
            v_bounds := ARRAY[p_low, p_high];
        ELSE
            SELECT array_agg(CASE
                WHEN x.tok ~ '^[0-9]+$' THEN x.tok::int
                ELSE p_low + array_position(p_names, x.tok) - 1
            END ORDER BY x.ord)
            INTO v_bounds
            FROM unnest(ARRAY[m[2], coalesce(m[3], m[2])]) WITH ORDINALITY AS x (tok, ord);
        END IF;
        v_step := coalesce(m[4]::int, 1);
        IF v_bounds[1] IS NULL OR v_bounds[2] IS NULL OR v_step < 1
            OR v_bounds[1] < p_low OR v_bounds[1] > p_high
            OR v_bounds[2] < p_low OR v_bounds[2] > p_high THEN
            RETURN NULL;
        END IF;
        v_set := v_set || ARRAY(SELECT generate_series(v_bounds[1], v_bounds[2], v_step));
    END LOOP;
    RETURN CASE WHEN cardinality(v_set) > 0 THEN v_set END;
END
$$;

COMMENT ON FUNCTION tasklease._cron_field(text, int, int, text []) IS
'The values one field of a cron schedule allows (numbers, names, ranges, steps, lists), or '
'NULL when it is not valid cron syntax or allows nothing.';

-- The tick a run at p_at belongs to: the latest time <= p_at that the
-- schedule names (see the header), or NULL for a schedule this function does
-- not understand or that has not fired in the last years.
CREATE OR REPLACE FUNCTION tasklease._cron_last_tick(p_schedule text, p_at timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_s text := lower(btrim(p_schedule));
    v_tz text := coalesce(nullif(current_setting('cron.timezone', true), ''), 'GMT');
    v_secs int;
    v_f text [];
    v_min int [];
    v_hour int [];
    v_dom int [];
    v_month int [];
    v_dow int [];
    v_day_ok boolean;
    v_t timestamp;
BEGIN
    IF v_s ~ '^[0-9]{1,2} +seconds?$' THEN
        v_secs := (regexp_match(v_s, '^[0-9]+'))[1]::int;
        IF v_secs NOT BETWEEN 1 AND 59 THEN
            RETURN NULL;
        END IF;
        RETURN to_timestamp(floor(extract(EPOCH FROM p_at) / v_secs) * v_secs);
    END IF;
    v_s := CASE v_s
        WHEN '@yearly' THEN '0 0 1 1 *'
        WHEN '@annually' THEN '0 0 1 1 *'
        WHEN '@monthly' THEN '0 0 1 * *'
        WHEN '@weekly' THEN '0 0 * * 0'
        WHEN '@daily' THEN '0 0 * * *'
        WHEN '@midnight' THEN '0 0 * * *'
        WHEN '@hourly' THEN '0 * * * *'
        ELSE v_s
    END;
    v_f := regexp_split_to_array(v_s, '\s+');
    IF cardinality(v_f) <> 5 THEN
        RETURN NULL;
    END IF;
    v_min := tasklease._cron_field(v_f[1], 0, 59, NULL);
    v_hour := tasklease._cron_field(v_f[2], 0, 23, NULL);
    v_dom := tasklease._cron_field(v_f[3], 1, 31, NULL);
    v_month := tasklease._cron_field(v_f[4], 1, 12, ARRAY[
        'jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']);
    v_dow := tasklease._cron_field(v_f[5], 0, 7, ARRAY[
        'sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);
    IF num_nulls(v_min, v_hour, v_dom, v_month, v_dow) > 0 THEN
        RETURN NULL;
    END IF;
    IF 7 = ANY(v_dow) THEN
        v_dow := v_dow || 0;  -- 7 is Sunday too
    END IF;

    -- Walk back from p_at's minute, skipping a whole month, day or hour that
    -- cannot match.  Days, as in cron: when the day-of-month and weekday
    -- fields are both restricted (neither starts with *), either may match.
    v_t := date_trunc('minute', p_at AT TIME ZONE v_tz);
    FOR v_step IN 1..20000 LOOP
        IF NOT extract(MONTH FROM v_t)::int = ANY(v_month) THEN
            v_t := date_trunc('month', v_t) - interval '1 minute';
            CONTINUE;
        END IF;
        v_day_ok := CASE WHEN left(v_f[3], 1) = '*' OR left(v_f[5], 1) = '*'
            THEN extract(DAY FROM v_t)::int = ANY(v_dom)
                AND extract(DOW FROM v_t)::int = ANY(v_dow)
            ELSE extract(DAY FROM v_t)::int = ANY(v_dom)
                OR extract(DOW FROM v_t)::int = ANY(v_dow)
        END;
        IF NOT v_day_ok THEN
            v_t := date_trunc('day', v_t) - interval '1 minute';
            CONTINUE;
        END IF;
        IF NOT extract(HOUR FROM v_t)::int = ANY(v_hour) THEN
            v_t := date_trunc('hour', v_t) - interval '1 minute';
            CONTINUE;
        END IF;
        IF NOT extract(MINUTE FROM v_t)::int = ANY(v_min) THEN
            v_t := v_t - interval '1 minute';
            CONTINUE;
        END IF;
        RETURN v_t AT TIME ZONE v_tz;
    END LOOP;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION tasklease._cron_last_tick(text, timestamptz) IS
'The latest time at or before p_at that a pg_cron schedule names (its tick), in pg_cron''s '
'time zone; NULL for a schedule not understood or that never fired lately.';

CREATE OR REPLACE FUNCTION tasklease._periodic_job(p_name text)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'tasklease-periodic:' || p_name;
$$;

COMMENT ON FUNCTION tasklease._periodic_job(text) IS
'The name of the pg_cron job of a periodic task: tasklease-periodic:<name>.';

CREATE OR REPLACE FUNCTION tasklease._periodic_command(p_name text)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('SELECT tasklease.enqueue_periodic(%L)', p_name);
$$;

COMMENT ON FUNCTION tasklease._periodic_command(text) IS
'The command of the pg_cron job of a periodic task.';

CREATE OR REPLACE FUNCTION tasklease._periodic_key(p_name text, p_tick timestamptz)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('periodic:%s@%s', p_name,
        to_char(p_tick AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
$$;

COMMENT ON FUNCTION tasklease._periodic_key(text, timestamptz) IS
'The de-duplication key of one tick of a periodic task: periodic:<name>@<tick, UTC>.';

CREATE OR REPLACE FUNCTION tasklease.schedule_task(
    name text,
    schedule text,
    payload jsonb,
    queue text DEFAULT 'default',
    priority int DEFAULT 0,
    max_attempts int DEFAULT NULL
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
    v_name text := schedule_task.name;
    v_schedule text := btrim(schedule_task.schedule);
    v_queue text := tasklease._check_queue(schedule_task.queue);
    v_run_as text;
BEGIN
    IF v_name IS NULL OR length(v_name) > 63
        OR v_name !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$' THEN
        RAISE EXCEPTION 'invalid periodic task name %', coalesce(quote_literal(v_name), 'NULL')
            USING ERRCODE = 'TL007',
                  DETAIL = 'A name is 1 to 63 characters: letters, digits and _ . : -, '
                           'starting with a letter or digit.';
    END IF;
    IF schedule_task.payload IS NULL
        OR pg_column_size(schedule_task.payload) > tasklease._setting('max_payload_bytes') THEN
        RAISE EXCEPTION 'payload is NULL or larger than max_payload_bytes'
            USING ERRCODE = 'TL004',
                  HINT = 'Use the JSON value null (''null''::jsonb) for an empty payload.';
    END IF;
    PERFORM tasklease._check_range('max_attempts', coalesce(schedule_task.max_attempts, 1),
        1, 1000000, 'TL007');
    IF tasklease._cron_last_tick(v_schedule, now()) IS NULL THEN
        RAISE EXCEPTION 'schedule % is not one a periodic task can use',
            coalesce(quote_literal(v_schedule), 'NULL')
            USING ERRCODE = 'TL011',
                  HINT = 'Use five cron fields (''*/5 * * * *''), an @hourly-style macro, or '
                         '''<1-59> seconds'' (pg_cron 1.5 or newer); it must fire at least '
                         'once a year.';
    END IF;
    v_run_as := tasklease._cron_check_role(
        tasklease._cron_reaper_role(),
        ARRAY['tasklease.enqueue_periodic(text, timestamp with time zone)']);

    INSERT INTO tasklease.periodic_schedules AS p
        (name, schedule, queue, payload, priority, max_attempts)
    VALUES (v_name, v_schedule, v_queue, schedule_task.payload,
        coalesce(schedule_task.priority, 0), schedule_task.max_attempts)
    ON CONFLICT (name) DO UPDATE SET
        schedule = excluded.schedule, queue = excluded.queue, payload = excluded.payload,
        priority = excluded.priority, max_attempts = excluded.max_attempts, updated_at = now();
    RETURN tasklease._cron_schedule(
        tasklease._periodic_job(v_name), v_schedule, tasklease._periodic_command(v_name),
        v_run_as);
END
$$;

COMMENT ON FUNCTION tasklease.schedule_task(text, text, jsonb, text, int, int) IS
'Registers (or updates) the periodic task name: the pg_cron job tasklease-periodic:<name>, run '
'as the reaper''s role, enqueues payload on queue once per tick of schedule (never twice: see '
'enqueue_periodic).  Returns the job id.  TL010 without pg_cron, TL011 for a schedule it '
'cannot use, TL013 for a missing privilege.';

CREATE OR REPLACE FUNCTION tasklease.unschedule_task(name text)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_defined boolean;
BEGIN
    PERFORM tasklease._cron_version();
    DELETE FROM tasklease.periodic_schedules AS p WHERE p.name = unschedule_task.name;
    v_defined := FOUND;
    RETURN tasklease._cron_unschedule(tasklease._periodic_job(unschedule_task.name)) OR v_defined;
END
$$;

COMMENT ON FUNCTION tasklease.unschedule_task(text) IS
'Removes the periodic task name and its pg_cron job; true when either existed.  Its tasks '
'already enqueued stay.';

CREATE OR REPLACE FUNCTION tasklease.enqueue_periodic(name text, at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    p tasklease.periodic_schedules;
    v_tick timestamptz;
    r tasklease.enqueued;
BEGIN
    PERFORM set_config('lock_timeout', tasklease._setting('reaper_lock_timeout_ms') || 'ms', true);
    SELECT * INTO p FROM tasklease.periodic_schedules AS s WHERE s.name = enqueue_periodic.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'periodic task % does not exist', quote_literal(enqueue_periodic.name)
            USING ERRCODE = 'TL009',
                  HINT = 'A pg_cron job left behind by hand: remove it with '
                         'tasklease.unschedule_task(name).';
    END IF;
    v_tick := tasklease._cron_last_tick(p.schedule, coalesce(enqueue_periodic.at, now()));
    IF v_tick IS NULL THEN
        RAISE EXCEPTION 'schedule % of periodic task % is not one a periodic task can use',
            quote_literal(p.schedule), quote_literal(p.name)
            USING ERRCODE = 'TL011';
    END IF;
    SELECT * INTO r FROM tasklease.enqueue_tasks(
        ARRAY[p.payload], p.queue, now(), p.priority, p.max_attempts,
        ARRAY[tasklease._periodic_key(p.name, v_tick)],
        make_interval(secs => tasklease._setting('finished_retention_s'))
    );
    UPDATE tasklease.periodic_schedules AS s SET last_tick = v_tick, last_task_id = r.id
    WHERE s.name = p.name AND (s.last_tick IS NULL OR s.last_tick <= v_tick);
    RETURN r.id;
END
$$;

COMMENT ON FUNCTION tasklease.enqueue_periodic(text, timestamptz) IS
'What the pg_cron job of a periodic task runs: enqueues its payload for the current tick of its '
'schedule (at: now() unless given), keyed periodic:<name>@<tick>, so one tick is enqueued '
'once however often this runs; returns the task id.  TL009 for an unknown name.';

-- tasklease's own pg_cron jobs, as the owner sees them; none without pg_cron
-- (or without the privilege to read cron.job), so that the view below always
-- works.
CREATE OR REPLACE FUNCTION tasklease._cron_jobs()
RETURNS TABLE (jobid bigint, jobname text, schedule text, username text, active boolean)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF to_regclass('cron.job') IS NULL
        OR NOT pg_catalog.has_schema_privilege('cron', 'USAGE')
        OR NOT pg_catalog.has_table_privilege('cron.job', 'SELECT') THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE
        'SELECT j.jobid, j.jobname::text, j.schedule::text, j.username::text, j.active '
        'FROM cron.job AS j WHERE j.jobname LIKE ''tasklease-%''';
END
$$;

COMMENT ON FUNCTION tasklease._cron_jobs() IS
'The pg_cron jobs named tasklease-%, or none when pg_cron is absent or not readable.';

CREATE OR REPLACE VIEW tasklease.periodic_tasks AS
SELECT
    p.name,
    p.schedule,
    p.queue,
    p.payload,
    p.priority,
    p.max_attempts,
    j.jobid,
    j.username AS run_as,
    coalesce(j.active, FALSE) AS active,
    p.last_tick,
    p.last_task_id,
    p.created_at,
    p.updated_at
FROM tasklease.periodic_schedules AS p
LEFT JOIN tasklease._cron_jobs() AS j ON j.jobname = tasklease._periodic_job(p.name);

COMMENT ON VIEW tasklease.periodic_tasks IS
'Each periodic task: its schedule, what it enqueues, its pg_cron job (jobid, run_as, active; '
'NULL when the job is missing) and the last tick it enqueued.';
