-- The task lifecycle: enqueue, claim, renew, complete, fail, cancel.
--
-- Fencing: every write to a claimed task presents (task_id, owner,
-- lease_token) and changes the row only while that triple still holds the
-- lease (status running, same owner, same token).  A lease is held until it
-- is reaped, released or re-claimed: expiry alone makes it reapable, not void.
-- Locks: claims take row locks with FOR UPDATE SKIP LOCKED; the other writes
-- lock the one row they change.  Time source: now().

CREATE OR REPLACE FUNCTION tasklease.enqueue_many(
    payloads jsonb [],
    queue text DEFAULT 'default',
    run_after timestamptz DEFAULT now(),
    priority int DEFAULT 0,
    max_attempts int DEFAULT NULL
)
RETURNS SETOF bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_queue text := tasklease._check_queue(enqueue_many.queue);
    v_max_attempts int := tasklease._check_range(
        'max_attempts',
        coalesce(enqueue_many.max_attempts, tasklease._setting('max_attempts')),
        1, 1000000, 'TL007'
    );
    v_max_bytes int := tasklease._setting('max_payload_bytes');
    v_bad int;
BEGIN
    IF payloads IS NULL OR cardinality(payloads) = 0 THEN
        RAISE EXCEPTION 'payloads must be a non-empty array' USING ERRCODE = 'TL004';
    END IF;
    SELECT min(p.ord) INTO v_bad
    FROM unnest(payloads) WITH ORDINALITY AS p (payload, ord)
    WHERE p.payload IS NULL OR pg_column_size(p.payload) > v_max_bytes;
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'payload % is NULL or larger than max_payload_bytes (% bytes)',
            v_bad, v_max_bytes
            USING ERRCODE = 'TL004',
                  HINT = 'Use the JSON value null (''null''::jsonb) for an empty payload; '
                         'store large data elsewhere and enqueue a reference.';
    END IF;

    RETURN QUERY
    INSERT INTO tasklease.tasks AS t (queue, payload, priority, run_after, max_attempts)
    SELECT v_queue, p.payload, coalesce(enqueue_many.priority, 0),
        coalesce(enqueue_many.run_after, now()), v_max_attempts
    FROM unnest(payloads) WITH ORDINALITY AS p (payload, ord)
    ORDER BY p.ord
    RETURNING t.id;

    PERFORM tasklease._notify(v_queue);
END
$$;

COMMENT ON FUNCTION tasklease.enqueue_many(jsonb [], text, timestamptz, int, int) IS
'Adds one task per payload, in order, with one statement and one NOTIFY; returns the ids.';

CREATE OR REPLACE FUNCTION tasklease.enqueue(
    payload jsonb,
    queue text DEFAULT 'default',
    run_after timestamptz DEFAULT now(),
    priority int DEFAULT 0,
    max_attempts int DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    -- plpgsql, not sql: a sql function with SET is planned again on every call.
    SELECT e.id INTO v_id FROM tasklease.enqueue_many(
        ARRAY[enqueue.payload], enqueue.queue, enqueue.run_after,
        enqueue.priority, enqueue.max_attempts
    ) AS e (id);
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION tasklease.enqueue(jsonb, text, timestamptz, int, int) IS
'Adds one task and returns its id.  NULL run_after means now, NULL max_attempts the '
'max_attempts setting.  TL004 for a NULL or oversized payload, TL005 for a bad queue name.';

CREATE OR REPLACE FUNCTION tasklease.claim_tasks(
    owner text,
    max_tasks int,
    queue text DEFAULT NULL,
    lease_s int DEFAULT NULL
)
RETURNS SETOF tasklease.claimed_task
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    v_owner text;
    v_n int;
    v_lease interval;
    l record;
BEGIN
    -- The hot path reads its four settings in one query and checks inline
    -- (about 15 us less per claim than one _setting() call per check).
    SELECT
        max(s.value) FILTER (WHERE s.name = 'max_owner_len') AS max_owner_len,
        max(s.value) FILTER (WHERE s.name = 'max_batch') AS max_batch,
        max(s.value) FILTER (WHERE s.name = 'lease_s') AS lease_s,
        max(s.value) FILTER (WHERE s.name = 'max_lease_s') AS max_lease_s
    INTO l
    FROM tasklease.settings AS s
    WHERE s.name IN ('max_owner_len', 'max_batch', 'lease_s', 'max_lease_s');
    IF num_nulls(l.max_owner_len, l.max_batch, l.lease_s, l.max_lease_s) > 0 THEN
        -- A deleted setting: _setting raises TL006 naming it.
        PERFORM tasklease._setting('max_owner_len'), tasklease._setting('max_batch'),
            tasklease._setting('lease_s'), tasklease._setting('max_lease_s');
    END IF;
    v_owner := tasklease._check_owner_len(claim_tasks.owner, l.max_owner_len);
    v_n := tasklease._check_range('max_tasks', claim_tasks.max_tasks, 1, l.max_batch, 'TL003');
    v_lease := make_interval(secs => tasklease._check_range(
        'lease_s', coalesce(claim_tasks.lease_s, l.lease_s), 1, l.max_lease_s, 'TL002'));

    -- Two statements rather than one "queue IS NULL OR" predicate, so that
    -- each uses its own partial index in claim order.  The MATERIALIZED CTE
    -- locks exactly the rows it picks: never more than max_tasks.  The
    -- UPDATE finds them by primary key (id = ANY of the picked ids), a plan
    -- that does not depend on max_tasks: so one generic plan serves every
    -- call (plan_cache_mode above) instead of a custom plan per call, whose
    -- planning cost more than the claim itself (bench/README.md).
    IF claim_tasks.queue IS NULL THEN
        RETURN QUERY
        WITH picked AS MATERIALIZED (
            SELECT t.id FROM tasklease.tasks AS t
            WHERE t.status = 'queued' AND t.run_after <= now()
            ORDER BY t.priority, t.run_after, t.id
            LIMIT v_n
            FOR UPDATE SKIP LOCKED
        ),

        claimed AS (
            UPDATE tasklease.tasks AS t SET
                status = 'running', owner_id = v_owner,
                lease_token = nextval('tasklease.lease_token_seq'),
                lease_expires_at = now() + v_lease, last_heartbeat = now(),
                attempts = t.attempts + 1, updated_at = now()
            WHERE t.id = ANY(ARRAY(SELECT p.id FROM picked AS p))
            RETURNING t.id, t.queue, t.payload, t.attempts, t.lease_token, t.lease_expires_at,
                t.priority, t.run_after
        )

        SELECT c.id, c.queue, c.payload, c.attempts, c.lease_token, c.lease_expires_at
        FROM claimed AS c ORDER BY c.priority, c.run_after, c.id;
    ELSE
        PERFORM tasklease._check_queue(claim_tasks.queue);
        RETURN QUERY
        WITH picked AS MATERIALIZED (
            SELECT t.id FROM tasklease.tasks AS t
            WHERE t.status = 'queued' AND t.queue = claim_tasks.queue AND t.run_after <= now()
            ORDER BY t.priority, t.run_after, t.id
            LIMIT v_n
            FOR UPDATE SKIP LOCKED
        ),

        claimed AS (
            UPDATE tasklease.tasks AS t SET
                status = 'running', owner_id = v_owner,
                lease_token = nextval('tasklease.lease_token_seq'),
                lease_expires_at = now() + v_lease, last_heartbeat = now(),
                attempts = t.attempts + 1, updated_at = now()
            WHERE t.id = ANY(ARRAY(SELECT p.id FROM picked AS p))
            RETURNING t.id, t.queue, t.payload, t.attempts, t.lease_token, t.lease_expires_at,
                t.priority, t.run_after
        )

        SELECT c.id, c.queue, c.payload, c.attempts, c.lease_token, c.lease_expires_at
        FROM claimed AS c ORDER BY c.priority, c.run_after, c.id;
    END IF;
END
$$;

COMMENT ON FUNCTION tasklease.claim_tasks(text, int, text, int) IS
'Claims up to max_tasks runnable tasks (priority, run_after, id order) for owner: running, '
'a new lease_token each, lease for lease_s seconds (default: setting lease_s).';

CREATE OR REPLACE FUNCTION tasklease.claim_task(
    owner text,
    queue text DEFAULT NULL,
    lease_s int DEFAULT NULL
)
RETURNS SETOF tasklease.claimed_task
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- plpgsql, not sql: a sql function with SET is never inlined and plans
    -- its statement again on every call; plpgsql keeps the plan.
    RETURN QUERY
    SELECT * FROM tasklease.claim_tasks(claim_task.owner, 1, claim_task.queue, claim_task.lease_s);
END
$$;

COMMENT ON FUNCTION tasklease.claim_task(text, text, int) IS
'Claims the next runnable task for owner: 0 or 1 row (id, queue, payload, attempts, '
'lease_token, lease_expires_at).';

CREATE OR REPLACE FUNCTION tasklease.renew_lease(
    task_id bigint,
    owner text,
    lease_token bigint DEFAULT NULL,
    lease_s int DEFAULT NULL
)
RETURNS timestamptz
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_owner text := tasklease._check_owner(renew_lease.owner);
    v_lease interval := make_interval(secs => tasklease._lease_s(renew_lease.lease_s));
    v_expires timestamptz;
BEGIN
    PERFORM tasklease._check_id('task_id', renew_lease.task_id);
    UPDATE tasklease.tasks AS t SET
        lease_expires_at = now() + v_lease, last_heartbeat = now(), updated_at = now()
    WHERE t.id = renew_lease.task_id
        AND t.status = 'running'
        AND t.owner_id = v_owner
        AND t.lease_token IS NOT NULL
        AND (renew_lease.lease_token IS NULL OR t.lease_token = renew_lease.lease_token)
    RETURNING t.lease_expires_at INTO v_expires;
    RETURN v_expires;
END
$$;

COMMENT ON FUNCTION tasklease.renew_lease(bigint, text, bigint, int) IS
'Extends a lease this owner (and token, when given) still holds to now() + lease_s; '
'returns the new expiry, or NULL when the lease is no longer held.';

CREATE OR REPLACE FUNCTION tasklease.renew_leases(
    owner text,
    task_ids bigint [],
    lease_tokens bigint [],
    lease_s int DEFAULT NULL
)
RETURNS TABLE (task_id bigint, lease_expires_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_owner text := tasklease._check_owner(renew_leases.owner);
    v_lease interval := make_interval(secs => tasklease._lease_s(renew_leases.lease_s));
BEGIN
    PERFORM tasklease._check_pairs(task_ids, lease_tokens);
    RETURN QUERY
    UPDATE tasklease.tasks AS t SET
        lease_expires_at = now() + v_lease, last_heartbeat = now(), updated_at = now()
    FROM unnest(task_ids, lease_tokens) AS r (id, token)
    WHERE t.id = r.id AND t.status = 'running' AND t.owner_id = v_owner
        AND t.lease_token = r.token
    RETURNING t.id, t.lease_expires_at;
END
$$;

COMMENT ON FUNCTION tasklease.renew_leases(text, bigint [], bigint [], int) IS
'Batch renew_lease: extends each (task_id, lease_token) lease this owner still holds; '
'returns one row per lease still held.';

CREATE OR REPLACE FUNCTION tasklease.complete_task(
    task_id bigint,
    owner text,
    lease_token bigint,
    result jsonb DEFAULT NULL
)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_owner text := tasklease._check_owner(complete_task.owner);
BEGIN
    PERFORM tasklease._check_id('task_id', complete_task.task_id);
    PERFORM tasklease._check_id('lease_token', complete_task.lease_token);
    UPDATE tasklease.tasks AS t SET
        status = 'completed', result = complete_task.result, lease_expires_at = NULL,
        finished_at = now(), updated_at = now()
    WHERE t.id = complete_task.task_id AND t.status = 'running'
        AND t.owner_id = v_owner AND t.lease_token = complete_task.lease_token;
    RETURN FOUND;
END
$$;

COMMENT ON FUNCTION tasklease.complete_task(bigint, text, bigint, jsonb) IS
'Marks the task completed with result while (task_id, owner, lease_token) holds the lease; '
'false and no change otherwise (a zombie worker).';

CREATE OR REPLACE FUNCTION tasklease.complete_tasks(
    owner text,
    task_ids bigint [],
    lease_tokens bigint [],
    results jsonb [] DEFAULT NULL
)
RETURNS SETOF bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_owner text := tasklease._check_owner(complete_tasks.owner);
BEGIN
    PERFORM tasklease._check_pairs(task_ids, lease_tokens);
    IF results IS NOT NULL AND cardinality(results) <> cardinality(task_ids) THEN
        RAISE EXCEPTION 'results must be as long as task_ids' USING ERRCODE = 'TL007';
    END IF;
    RETURN QUERY
    UPDATE tasklease.tasks AS t SET
        status = 'completed', result = c.result, lease_expires_at = NULL,
        finished_at = now(), updated_at = now()
    FROM unnest(task_ids, lease_tokens, coalesce(results, array_fill(NULL::jsonb,
        ARRAY[cardinality(task_ids)]))) AS c (id, token, result)
    WHERE t.id = c.id AND t.status = 'running' AND t.owner_id = v_owner
        AND t.lease_token = c.token
    RETURNING t.id;
END
$$;

COMMENT ON FUNCTION tasklease.complete_tasks(text, bigint [], bigint [], jsonb []) IS
'Batch complete_task, fenced per task: returns the ids whose completion was accepted.';

CREATE OR REPLACE FUNCTION tasklease.fail_task(
    task_id bigint,
    owner text,
    lease_token bigint,
    error text,
    retry_in_s int DEFAULT NULL
)
RETURNS tasklease.task_status
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_owner text := tasklease._check_owner(fail_task.owner);
    v_error text := left(coalesce(fail_task.error, '(no error message)'),
        tasklease._setting('max_error_len'));
    v_status tasklease.task_status;
BEGIN
    PERFORM tasklease._check_id('task_id', fail_task.task_id);
    PERFORM tasklease._check_id('lease_token', fail_task.lease_token);
    IF fail_task.retry_in_s IS NOT NULL THEN
        PERFORM tasklease._check_range('retry_in_s', fail_task.retry_in_s, 0,
            tasklease._setting('retry_max_s'), 'TL002');
    END IF;
    UPDATE tasklease.tasks AS t SET
        status = CASE WHEN t.attempts < t.max_attempts
            THEN 'queued'::tasklease.task_status ELSE 'failed'::tasklease.task_status END,
        run_after = CASE WHEN t.attempts < t.max_attempts
            THEN now() + coalesce(make_interval(secs => fail_task.retry_in_s),
                tasklease._backoff(tasklease._setting('retry_base_s'), t.attempts))
            ELSE t.run_after END,
        owner_id = CASE WHEN t.attempts < t.max_attempts THEN NULL ELSE t.owner_id END,
        lease_token = CASE WHEN t.attempts < t.max_attempts THEN NULL ELSE t.lease_token END,
        lease_expires_at = NULL,
        last_error = v_error,
        finished_at = CASE WHEN t.attempts < t.max_attempts THEN NULL ELSE now() END,
        updated_at = now()
    WHERE t.id = fail_task.task_id AND t.status = 'running'
        AND t.owner_id = v_owner AND t.lease_token = fail_task.lease_token
    RETURNING t.status INTO v_status;
    RETURN v_status;
END
$$;

COMMENT ON FUNCTION tasklease.fail_task(bigint, text, bigint, text, int) IS
'Records a handler failure: queued again after retry_in_s (default: jittered exponential '
'backoff) while attempts < max_attempts, else failed.  NULL when the lease is not held.';

CREATE OR REPLACE FUNCTION tasklease.cancel_task(task_id bigint)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM tasklease._check_id('task_id', cancel_task.task_id);
    UPDATE tasklease.tasks AS t SET
        status = 'cancelled',
        owner_id = CASE WHEN t.status = 'queued' THEN NULL ELSE t.owner_id END,
        lease_expires_at = NULL, finished_at = now(), updated_at = now()
    WHERE t.id = cancel_task.task_id AND t.status IN ('queued', 'running');
    IF FOUND THEN
        RETURN true;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM tasklease.tasks AS t WHERE t.id = cancel_task.task_id) THEN
        RAISE EXCEPTION 'task % does not exist', cancel_task.task_id USING ERRCODE = 'TL009';
    END IF;
    RETURN false;
END
$$;

COMMENT ON FUNCTION tasklease.cancel_task(bigint) IS
'Cancels a queued or running task (a running holder then finds its lease gone); '
'false when the task had already finished, TL009 when it does not exist.';

CREATE OR REPLACE FUNCTION tasklease.get_task(task_id bigint)
RETURNS SETOF tasklease.tasks
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM tasklease.tasks AS t WHERE t.id = get_task.task_id;
$$;

COMMENT ON FUNCTION tasklease.get_task(bigint) IS
'The task row with this id: 0 or 1 row.';
