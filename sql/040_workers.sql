-- Worker liveness and identity: heartbeat, registration, graceful release and
-- startup recovery.  A worker name (owner) is stable across restarts; each
-- process is one incarnation of it.  Locks: the owner's workers row, and the
-- owner's running task rows.  Time source: now().

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

CREATE OR REPLACE FUNCTION tasklease.release_owner(owner text)
RETURNS int
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_owner text := tasklease._check_owner(release_owner.owner);
    v_n int;
    v_queues text[];
BEGIN
    WITH old AS (
        SELECT t.id, t.owner_id, t.lease_token
        FROM tasklease.tasks AS t
        WHERE t.status = 'running' AND t.owner_id = v_owner
        ORDER BY t.id
        FOR UPDATE
    ),

    rel AS (
        UPDATE tasklease.tasks AS t SET
            status = 'queued', owner_id = NULL, lease_token = NULL, lease_expires_at = NULL,
            attempts = greatest(t.attempts - 1, 0), run_after = now(), updated_at = now()
        FROM old WHERE t.id = old.id
        RETURNING t.id, t.queue, old.owner_id, old.lease_token, t.attempts, t.requeue_count
    ),

    logged AS (
        INSERT INTO tasklease.reaper_log
            (task_id, action, reason, owner_id, lease_token, attempts, requeue_count, actor)
        SELECT r.id, 'released', 'released', r.owner_id, r.lease_token, r.attempts,
            r.requeue_count, 'release_owner'
        FROM rel AS r
        RETURNING task_id
    )

    SELECT count(*), array_agg(DISTINCT r.queue) INTO v_n, v_queues
    FROM rel AS r WHERE r.id IN (SELECT l.task_id FROM logged AS l);

    PERFORM tasklease._notify(q) FROM unnest(v_queues) AS q;
    RETURN v_n;
END
$$;

COMMENT ON FUNCTION tasklease.release_owner(text) IS
'Graceful shutdown: gives back every task owner is running, runnable now, as if never '
'claimed (neither attempts nor requeue_count counts it); returns how many.';

CREATE OR REPLACE FUNCTION tasklease.recover_owner(owner text)
RETURNS int
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_owner text := tasklease._check_owner(recover_owner.owner);
    v_ids bigint[];
    v_n int;
BEGIN
    SELECT array_agg(t.id ORDER BY t.id) INTO v_ids
    FROM (
        SELECT t.id FROM tasklease.tasks AS t
        WHERE t.status = 'running' AND t.owner_id = v_owner
        ORDER BY t.id
        FOR UPDATE
    ) AS t;
    IF v_ids IS NULL THEN
        RETURN 0;
    END IF;
    SELECT count(*) INTO v_n
    FROM tasklease._requeue_or_fail(
        v_ids, array_fill('owner_restarted'::text, ARRAY[cardinality(v_ids)]),
        tasklease._setting('max_requeue'), 'recover_owner'
    );
    RETURN v_n;
END
$$;

COMMENT ON FUNCTION tasklease.recover_owner(text) IS
'Startup recovery: what a previous life of worker name owner still runs is treated as '
'crashed (reason owner_restarted, crash budget as the reaper); returns how many.';
