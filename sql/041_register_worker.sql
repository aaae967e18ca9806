-- Worker identity: a stable name (owner) with one incarnation per process.
-- register_worker claims the name at start, worker_stopped records a graceful
-- end.  Locks: the name's workers row.  Time source: now().

-- Registration of a new incarnation.  Refused (TL008) while the name is held
-- by a live incarnation: one that has not stopped and heartbeated within
-- worker_ttl_s.  p_takeover skips that check: the shim passes it when the
-- previous incarnation ran on this host under a pid that no longer exists,
-- which it can see and the database cannot.
CREATE OR REPLACE FUNCTION tasklease.register_worker(
    owner text,
    incarnation text,
    host text DEFAULT NULL,
    pid int DEFAULT NULL,
    info jsonb DEFAULT NULL,
    takeover boolean DEFAULT FALSE
)
RETURNS tasklease.workers
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_owner text := tasklease._check_owner(register_worker.owner);
    v_prev tasklease.workers;
BEGIN
    IF register_worker.incarnation IS NULL OR register_worker.incarnation = '' THEN
        RAISE EXCEPTION 'incarnation must be a non-empty text' USING ERRCODE = 'TL007';
    END IF;
    IF register_worker.info IS NOT NULL AND jsonb_typeof(register_worker.info) <> 'object' THEN
        RAISE EXCEPTION 'info must be a JSON object' USING ERRCODE = 'TL007';
    END IF;
    SELECT * INTO v_prev FROM tasklease.workers AS w WHERE w.owner_id = v_owner FOR UPDATE;
    IF FOUND AND NOT coalesce(register_worker.takeover, FALSE)
        AND v_prev.incarnation IS DISTINCT FROM register_worker.incarnation
        AND v_prev.stopped_at IS NULL
        AND v_prev.last_heartbeat >= now() - make_interval(secs => tasklease._setting('worker_ttl_s'))
    THEN
        RAISE EXCEPTION 'worker name "%" is in use by a live worker', v_owner
            USING ERRCODE = 'TL008',
                  DETAIL = format('incarnation %s on host %s, pid %s, last heartbeat %s',
                      v_prev.incarnation, v_prev.host, v_prev.pid, v_prev.last_heartbeat),
                  HINT = 'Choose another name, stop that worker, or wait worker_ttl_s seconds.';
    END IF;
    INSERT INTO tasklease.workers AS w
        (owner_id, incarnation, host, pid, started_at, last_heartbeat, stopped_at, info)
    VALUES (v_owner, register_worker.incarnation, register_worker.host, register_worker.pid,
        now(), now(), NULL, coalesce(register_worker.info, '{}'::jsonb))
    ON CONFLICT (owner_id) DO UPDATE SET
        incarnation = excluded.incarnation, host = excluded.host, pid = excluded.pid,
        started_at = excluded.started_at, last_heartbeat = excluded.last_heartbeat,
        stopped_at = NULL, info = excluded.info;
    RETURN v_prev;
END
$$;

COMMENT ON FUNCTION tasklease.register_worker(text, text, text, int, jsonb, boolean) IS
'Registers a new incarnation of worker name owner and returns the previous row (NULLs when '
'none); TL008 when a live incarnation holds the name, unless takeover.';

CREATE OR REPLACE FUNCTION tasklease.worker_stopped(owner text, incarnation text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_owner text := tasklease._check_owner(worker_stopped.owner);
BEGIN
    UPDATE tasklease.workers AS w SET stopped_at = now()
    WHERE w.owner_id = v_owner
        AND (worker_stopped.incarnation IS NULL OR w.incarnation = worker_stopped.incarnation);
    RETURN FOUND;
END
$$;

COMMENT ON FUNCTION tasklease.worker_stopped(text, text) IS
'Marks the worker (this incarnation, when given) stopped: the reaper then treats what it '
'still holds as owner_dead.';
