-- Worker identity: a stable name (owner) with one incarnation per process.
-- register_worker claims the name at start, worker_stopped records a graceful
-- end.  Locks: the name's workers row.  Time source: now().

-- Registration of a new incarnation.  Refused (TL008) while the name is held
-- by a live incarnation (_worker_alive).  takeover skips that check: the
-- shim passes it when the previous incarnation ran on this host under a pid
-- that no longer exists, which it can see and the database cannot; with
-- previous_incarnation it takes over only that incarnation, so that two
-- processes that both saw the same dead pid cannot both take the name.
-- Concurrent registrations of one name serialise: the row is created with
-- ON CONFLICT DO NOTHING, which waits for a concurrent registration to commit
-- (or roll back), and only then is the row read and judged.
CREATE OR REPLACE FUNCTION tasklease.register_worker(
    owner text,
    incarnation text,
    host text DEFAULT NULL,
    pid int DEFAULT NULL,
    info jsonb DEFAULT NULL,
    takeover boolean DEFAULT FALSE,
    previous_incarnation text DEFAULT NULL
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
    v_info jsonb := coalesce(register_worker.info, '{}'::jsonb);
    v_prev tasklease.workers;
BEGIN
    IF register_worker.incarnation IS NULL OR register_worker.incarnation = '' THEN
        RAISE EXCEPTION 'incarnation must be a non-empty text' USING ERRCODE = 'TL007';
    END IF;
    IF jsonb_typeof(v_info) <> 'object' THEN
        RAISE EXCEPTION 'info must be a JSON object' USING ERRCODE = 'TL007';
    END IF;
    INSERT INTO tasklease.workers AS w
        (owner_id, incarnation, host, pid, started_at, last_heartbeat, stopped_at, info)
    VALUES (v_owner, register_worker.incarnation, register_worker.host, register_worker.pid,
        now(), now(), NULL, v_info)
    ON CONFLICT (owner_id) DO NOTHING;
    IF FOUND THEN
        RETURN v_prev;  -- a new name: no previous incarnation (all NULL)
    END IF;

    -- A statement of its own, so that (in READ COMMITTED) it sees the row of
    -- a registration that committed while the INSERT waited for it.
    SELECT * INTO v_prev FROM tasklease.workers AS w WHERE w.owner_id = v_owner FOR UPDATE;
    IF v_prev.incarnation IS DISTINCT FROM register_worker.incarnation
        AND tasklease._worker_alive(v_prev.last_heartbeat, v_prev.stopped_at, now(),
            tasklease._setting('worker_ttl_s'))
        AND NOT (
            coalesce(register_worker.takeover, FALSE)
            AND (register_worker.previous_incarnation IS NULL
                 OR register_worker.previous_incarnation = v_prev.incarnation)
        )
    THEN
        RAISE EXCEPTION 'worker name "%" is in use by a live worker', v_owner
            USING ERRCODE = 'TL008',
                  DETAIL = format('incarnation %s on host %s, pid %s, last heartbeat %s',
                      v_prev.incarnation, v_prev.host, v_prev.pid, v_prev.last_heartbeat),
                  HINT = 'Choose another name, stop that worker, or wait worker_ttl_s seconds.';
    END IF;
    UPDATE tasklease.workers AS w SET
        incarnation = register_worker.incarnation, host = register_worker.host,
        pid = register_worker.pid, started_at = now(), last_heartbeat = now(),
        stopped_at = NULL, info = v_info
    WHERE w.owner_id = v_owner;
    RETURN v_prev;
END
$$;

COMMENT ON FUNCTION tasklease.register_worker(text, text, text, int, jsonb, boolean, text) IS
'Registers a new incarnation of worker name owner and returns the previous row (NULLs when '
'none); TL008 while a live incarnation holds the name, unless takeover (of '
'previous_incarnation, when given).  Concurrent registrations of one name serialise.';

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
