-- Settings: their defaults, the one reader (_setting) and the one writer
-- (set_setting).  A default row is inserted only when missing: an upgrade
-- never resets a value an operator chose; only the description is refreshed.
INSERT INTO tasklease.settings AS s (name, value, description) VALUES
('lease_s', 600, 'Seconds a claim or renewal holds a lease unless the caller says.'),
('stale_s', 900, 'Seconds until a running task without a lease is stale (no_lease).'),
('max_requeue', 3, 'Stale requeues a task may have (crash budget), then failed.'),
('reap_batch', 200, 'Most tasks one reaper or cleanup call acts on.'),
('worker_ttl_s', 60, 'Seconds without a heartbeat until a worker is dead.'),
('max_attempts', 5, 'Default handler-failure budget (claims per task).'),
('requeue_backoff_s', 5, 'Base delay before a reaped task runs again; doubles, jittered.'),
('retry_base_s', 10, 'Base delay of fail_task retries; doubles per attempt, jittered.'),
('retry_max_s', 3600, 'Cap on any retry or requeue delay.'),
('max_lease_s', 86400, 'Largest lease_s a caller may ask for.'),
('max_batch', 10000, 'Largest batch any claim, renewal or reaper call may ask for.'),
('max_owner_len', 200, 'Longest owner (worker name) accepted, in characters.'),
('max_payload_bytes', 1048576, 'Largest payload accepted by enqueue, in bytes.'),
('max_error_len', 8192, 'last_error texts are cut to this many characters.'),
('finished_retention_s', 604800, 'Finished tasks older than this are pruned.'),
('log_retention_s', 2592000, 'Reaper log rows older than this are pruned.'),
('prune_batch', 5000, 'Rows one prune batch deletes.'),
('prune_budget_ms', 5000, 'Time one prune() run may spend on further batches.'),
('reaper_lock_timeout_ms', 2000, 'lock_timeout of the reaper and cleanup calls.')
ON CONFLICT (name) DO UPDATE SET description = excluded.description;

CREATE OR REPLACE FUNCTION tasklease._setting(p_name text)
RETURNS int
LANGUAGE plpgsql
STABLE
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
'Value of one row of tasklease.settings; TL006 when it is missing.';

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
