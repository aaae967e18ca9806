-- Claims: take the next runnable tasks (FOR UPDATE SKIP LOCKED), mark them
-- running and give each a new lease: owner, a fresh lease_token, an expiry.
-- Locks: the claimed rows; rows another claimer holds are skipped.
-- Time source: now().

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
