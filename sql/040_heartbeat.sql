-- Worker liveness: heartbeat() upserts the worker row the reaper judges
-- (owner_dead after worker_ttl_s of silence).  Locks: that row.  Time: now().

CREATE OR REPLACE FUNCTION tasklease.heartbeat(owner text, info jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_owner text := tasklease._check_owner(heartbeat.owner);
BEGIN
    IF heartbeat.info IS NOT NULL AND jsonb_typeof(heartbeat.info) <> 'object' THEN
        RAISE EXCEPTION 'info must be a JSON object' USING ERRCODE = 'TL007';
    END IF;
    INSERT INTO tasklease.workers AS w (owner_id, last_heartbeat, info)
    VALUES (v_owner, now(), coalesce(heartbeat.info, '{}'::jsonb))
    ON CONFLICT (owner_id) DO UPDATE SET
        last_heartbeat = now(),
        stopped_at = NULL,
        info = coalesce(heartbeat.info, w.info);
END
$$;

COMMENT ON FUNCTION tasklease.heartbeat(text, jsonb) IS
'Records that owner is alive now (upsert of its workers row); info, when given, replaces '
'the row''s info object.';
