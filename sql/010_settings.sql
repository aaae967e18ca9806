-- Settings: the one rule of valid values (_check_setting), enforced on the
-- table itself so that no write (set_setting or a plain UPDATE) can leave a
-- value the functions would reject later; the defaults; the one reader
-- (_setting) and the one writer (set_setting).  A default row is inserted
-- only when missing: an upgrade never resets a value an operator chose.
-- Errors: TL006.  Locks: the settings rows read or written; a change takes
-- the transaction advisory lock ("task", "sets") (_settings_changed below).

-- Every writer of settings (set_setting, set_queue's count, this file on an
-- upgrade) takes this lock before any settings row: each rewrites
-- _setting's pg_proc row (_settings_changed below), and of two transactions
-- rewriting it at once the later would fail with an internal error.
CREATE OR REPLACE FUNCTION tasklease._lock_settings()
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_advisory_xact_lock(1952543595, 1936028787);  -- "task", "sets"
$$;

COMMENT ON FUNCTION tasklease._lock_settings() IS
'Takes the transaction advisory lock every writer of tasklease.settings takes before a row.';

SELECT tasklease._lock_settings();

-- Bounds per setting, and the relations between settings that the functions
-- rely on (a lease no longer than max_lease_s, batches no larger than
-- max_batch).  New settings get their line here in the same release.
CREATE OR REPLACE FUNCTION tasklease._check_setting(p_name text, p_value int)
RETURNS int
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b record;
    v_other int;
    v_rel text;
BEGIN
    SELECT r.lo, r.hi, r.le, r.ge INTO b
    FROM (VALUES
        -- name, min, max, must be <= setting, must be >= setting(s)
        ('lease_s', 1, 2147483647, 'max_lease_s', NULL),
        ('stale_s', 1, 2147483647, NULL, NULL),
        ('max_requeue', 0, 1000000, NULL, NULL),
        ('reap_batch', 1, 2147483647, 'max_batch', NULL),
        ('worker_ttl_s', 1, 2147483647, NULL, NULL),
        ('max_attempts', 1, 1000000, NULL, NULL),
        ('requeue_backoff_s', 0, 2147483647, NULL, NULL),
        ('retry_base_s', 1, 2147483647, NULL, NULL),
        ('retry_max_s', 1, 2147483647, NULL, NULL),
        ('max_lease_s', 1, 2147483647, NULL, 'lease_s'),
        ('max_batch', 1, 1000000, NULL, 'reap_batch,prune_batch'),
        ('max_owner_len', 1, 10000, NULL, NULL),
        ('max_payload_bytes', 1, 268435455, NULL, NULL),
        ('max_result_bytes', 1, 268435455, NULL, NULL),
        ('max_error_len', 1, 1048576, NULL, NULL),
        ('finished_retention_s', 1, 2147483647, NULL, NULL),
        ('log_retention_s', 1, 2147483647, NULL, NULL),
        ('prune_batch', 1, 2147483647, 'max_batch', NULL),
        ('prune_budget_ms', 0, 3600000, NULL, NULL),
        ('reaper_lock_timeout_ms', 0, 2147483647, NULL, NULL),
        ('reap_interval_s', 1, 86400, NULL, NULL),
        ('notify_window_ms', 0, 60000, NULL, NULL),
        ('controlled_queues', 0, 2147483647, NULL, NULL)
    ) AS r (name, lo, hi, le, ge)
    WHERE r.name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tasklease setting "%" does not exist', p_name
            USING ERRCODE = 'TL006',
                  HINT = 'SELECT name FROM tasklease.settings lists the settings.';
    END IF;
    IF p_value IS NULL OR p_value < b.lo OR p_value > b.hi THEN
        RAISE EXCEPTION 'setting % must be between % and %, got %',
            p_name, b.lo, b.hi, coalesce(p_value::text, 'NULL')
            USING ERRCODE = 'TL006';
    END IF;
    SELECT s.value INTO v_other FROM tasklease.settings AS s WHERE s.name = b.le;
    IF v_other IS NOT NULL AND p_value > v_other THEN
        RAISE EXCEPTION 'setting % must not exceed % (%), got %', p_name, b.le, v_other, p_value
            USING ERRCODE = 'TL006',
                  HINT = format('Raise %s first.', b.le);
    END IF;
    -- Derived, not chosen: the claim path reads it with the other settings and
    -- skips flow control while it is 0, so it must always be the true count.
    IF p_name = 'controlled_queues' THEN
        SELECT count(*) INTO v_other FROM tasklease.queue_settings AS q
        WHERE q.max_running IS NOT NULL OR q.paused;
        IF p_value <> v_other THEN
            RAISE EXCEPTION 'setting controlled_queues is % (the queues with a limit or a pause), '
                'not %', v_other, p_value
                USING ERRCODE = 'TL006',
                      HINT = 'It is kept up to date by tasklease.set_queue; change queues with it.';
        END IF;
    END IF;
    FOREACH v_rel IN ARRAY coalesce(string_to_array(b.ge, ','), '{}') LOOP
        SELECT s.value INTO v_other FROM tasklease.settings AS s WHERE s.name = v_rel;
        IF v_other IS NOT NULL AND p_value < v_other THEN
            RAISE EXCEPTION 'setting % must be at least % (%), got %',
                p_name, v_rel, v_other, p_value
                USING ERRCODE = 'TL006',
                      HINT = format('Lower %s first.', v_rel);
        END IF;
    END LOOP;
    RETURN p_value;
END
$$;

COMMENT ON FUNCTION tasklease._check_setting(text, int) IS
'Returns p_value when it is a valid value of setting p_name (its bounds and its relations to '
'other settings), else raises TL006.';

-- The guard on the table: a new setting, or a changed value, must pass
-- _check_setting; settings are never deleted (the functions need them all).
-- An INSERT of a name that exists already is the ON CONFLICT of the
-- defaults below (it only refreshes the description): not checked.
CREATE OR REPLACE FUNCTION tasklease._settings_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF tg_op = 'DELETE' THEN
        RAISE EXCEPTION 'tasklease setting "%" cannot be deleted', old.name
            USING ERRCODE = 'TL006',
                  HINT = 'Change it with tasklease.set_setting(name, value).';
    END IF;
    IF tg_op = 'INSERT'
        AND EXISTS (SELECT 1 FROM tasklease.settings AS s WHERE s.name = new.name) THEN
        RETURN new;
    END IF;
    IF tg_op = 'UPDATE' AND new.name IS DISTINCT FROM old.name THEN
        RAISE EXCEPTION 'tasklease settings cannot be renamed' USING ERRCODE = 'TL006';
    END IF;
    IF tg_op = 'INSERT' OR new.value IS DISTINCT FROM old.value THEN
        PERFORM tasklease._check_setting(new.name, new.value);
    END IF;
    RETURN new;
END
$$;

COMMENT ON FUNCTION tasklease._settings_guard() IS
'Trigger of tasklease.settings: refuses values _check_setting refuses, renames and deletes.';

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_trigger
        WHERE tgname = 'settings_guard' AND tgrelid = 'tasklease.settings'::regclass
    ) THEN
        CREATE TRIGGER settings_guard
        BEFORE INSERT OR UPDATE OR DELETE ON tasklease.settings
        FOR EACH ROW EXECUTE FUNCTION tasklease._settings_guard();
    END IF;
END
$$;

INSERT INTO tasklease.settings AS s (name, value, description) VALUES
('lease_s', 600, 'Seconds a claim or renewal holds a lease unless the caller says.'),
('stale_s', 900, 'Seconds until a running task without a lease is stale (no_lease).'),
('max_requeue', 3, 'Stale requeues a task may have (crash budget), then failed.'),
('reap_batch', 200, 'Most tasks one reaper or cleanup call acts on.'),
('worker_ttl_s', 60, 'Seconds without a heartbeat until a worker is dead.'),
('max_attempts', 5, 'Default handler-failure budget: the failure that reaches it fails the task.'),
('requeue_backoff_s', 5, 'Base delay before a reaped task runs again; doubles, jittered.'),
('retry_base_s', 10, 'Base delay of fail_task retries; doubles per attempt, jittered.'),
('retry_max_s', 3600, 'Cap on any retry or requeue delay.'),
('max_lease_s', 86400, 'Largest lease_s a caller may ask for.'),
('max_batch', 10000, 'Largest batch any claim, renewal or reaper call may ask for.'),
('max_owner_len', 200, 'Longest owner (worker name) accepted, in characters.'),
('max_payload_bytes', 1048576, 'Largest payload accepted by enqueue, in bytes.'),
('max_result_bytes', 1048576, 'Largest result complete_task stores, in bytes (TL012 beyond).'),
('max_error_len', 8192, 'last_error texts are cut to this many characters.'),
('finished_retention_s', 604800, 'Finished tasks older than this are pruned.'),
('log_retention_s', 2592000, 'Reaper log rows older than this are pruned.'),
('prune_batch', 5000, 'Rows one prune batch deletes.'),
('prune_budget_ms', 5000, 'Time one prune() run may spend on further batches.'),
('reaper_lock_timeout_ms', 2000, 'lock_timeout of the reaper and cleanup calls.'),
('reap_interval_s', 5, 'Live workers run the reaper (reap_if_due) at most this often, together.'),
('notify_window_ms', 5, 'Enqueue wakes idle workers of a queue at most once per this many ms.')
ON CONFLICT (name) DO UPDATE SET description = excluded.description;

-- Not a choice but a count kept by set_queue (sql/037_set_queue.sql): its
-- value is the one _check_setting accepts, also on an upgrade.
INSERT INTO tasklease.settings AS s (name, value, description)
SELECT
    'controlled_queues', count(*),
    'Queues with a max_running limit or paused (kept by set_queue; read-only).'
FROM tasklease.queue_settings AS q
WHERE q.max_running IS NOT NULL OR q.paused
ON CONFLICT (name) DO UPDATE SET description = excluded.description;

-- The one reader.  IMMUTABLE, though the table may change: called with a
-- constant name, as every function here calls it, the planner evaluates it
-- once and the cached plan holds the value as a constant, so the hot paths
-- (enqueue, claims, completions) pay no look-up per call; each look-up was
-- a query of its own (enqueue at 0.64 of a plain INSERT, bench/README.md).
-- What keeps the promise that a change takes effect at once is
-- _settings_changed below: every write of a value rewrites _setting's
-- pg_proc row, which invalidates every cached plan that folded a value in,
-- in every session; each plans again with the committed value at its next
-- statement that reads a table (at its next transaction at the latest).
CREATE OR REPLACE FUNCTION tasklease._setting(p_name text)
RETURNS int
LANGUAGE plpgsql
IMMUTABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v int;
BEGIN
    SELECT s.value INTO v FROM tasklease.settings AS s WHERE s.name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tasklease setting "%" does not exist', p_name
            USING ERRCODE = 'TL006',
                  HINT = 'Run tasklease migrate to insert the default settings.';
    END IF;
    RETURN v;
END
$$;

COMMENT ON FUNCTION tasklease._setting(text) IS
'Value of one row of tasklease.settings; TL006 when it is missing.  Folded into cached plans '
'as a constant; _settings_changed invalidates them on every change.';

-- After a new setting or a new value: rewrite _setting's catalog row (an
-- ALTER that changes nothing), which sends the invalidation of every plan
-- that folded a setting in.  SECURITY DEFINER: an admin's plain UPDATE of
-- the table must be able to, and only the owner may ALTER the function.
CREATE OR REPLACE FUNCTION tasklease._settings_changed()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM tasklease._lock_settings();
    ALTER FUNCTION tasklease._setting(text) IMMUTABLE;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION tasklease._settings_changed() IS
'Trigger of tasklease.settings: invalidates the cached plans that hold a setting (see _setting).';

CREATE OR REPLACE TRIGGER settings_changed_insert
AFTER INSERT ON tasklease.settings
FOR EACH ROW EXECUTE FUNCTION tasklease._settings_changed();

CREATE OR REPLACE TRIGGER settings_changed_update
AFTER UPDATE ON tasklease.settings
FOR EACH ROW WHEN (old.value IS DISTINCT FROM new.value)
EXECUTE FUNCTION tasklease._settings_changed();

CREATE OR REPLACE FUNCTION tasklease.set_setting(name text, value int)
RETURNS int
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_old int;
BEGIN
    -- The lock _settings_changed takes, taken before the row's: a migrate
    -- in progress holds it and waits for no settings row of ours.
    PERFORM tasklease._lock_settings();
    SELECT s.value INTO v_old FROM tasklease.settings AS s WHERE s.name = set_setting.name
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tasklease setting "%" does not exist', set_setting.name
            USING ERRCODE = 'TL006',
                  HINT = 'SELECT name FROM tasklease.settings lists the settings.';
    END IF;
    -- Validated by the table's guard (_check_setting), the same as a plain UPDATE.
    UPDATE tasklease.settings AS s SET value = set_setting.value WHERE s.name = set_setting.name;
    RETURN v_old;
END
$$;

COMMENT ON FUNCTION tasklease.set_setting(text, int) IS
'Changes one setting (validated by _check_setting: TL006 for an unknown name, a value out of '
'its bounds or inconsistent with another setting); returns the old value.';
