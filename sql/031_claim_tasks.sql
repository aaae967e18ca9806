-- Claims: take the next runnable tasks (FOR UPDATE SKIP LOCKED), mark them
-- running and give each a new lease: owner, a fresh lease_token, an expiry.
-- Locks: the claimed rows; rows another claimer holds are skipped.  While a
-- queue is limited or paused (set_queue), claims go through
-- _claim_controlled, which also locks the tasklease.queue_settings rows of
-- the limited queues it claims from.
-- Time source: now().  Errors: TL001, TL002, TL003, TL005, TL006.

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
SET enable_seqscan = off
AS $$
#variable_conflict use_column
DECLARE
    v_owner text;
    v_n int;
    v_lease interval;
BEGIN
    -- The settings are constants of this function's cached plans (_setting,
    -- 010_settings.sql): no look-up per claim.  Flow control rides along as
    -- a counter (controlled_queues, kept by set_queue): while no queue is
    -- limited or paused, the claim below is exactly the one without flow
    -- control.  Reading tasklease.queue_settings here instead cost a scan
    -- node per claim (bench/README.md).
    v_owner := tasklease._check_owner_len(claim_tasks.owner, tasklease._setting('max_owner_len'));
    v_n := tasklease._check_range('max_tasks', claim_tasks.max_tasks, 1,
        tasklease._setting('max_batch'), 'TL003');
    v_lease := make_interval(secs => tasklease._check_range(
        'lease_s', coalesce(claim_tasks.lease_s, tasklease._setting('lease_s')), 1,
        tasklease._setting('max_lease_s'), 'TL002'));

    -- Some queue is controlled.  A claim of every queue, or of a controlled
    -- queue, goes through _claim_controlled; a claim of another queue only
    -- pays this look-up and goes on below.  Two IFs, not one AND: a condition
    -- with a subquery runs through the executor on every call (opening
    -- queue_settings and its index) even when its first operand is false,
    -- which cost the plain claim about 10% (bench/README.md).
    IF tasklease._setting('controlled_queues') > 0 THEN
        IF claim_tasks.queue IS NULL OR EXISTS (
            SELECT 1 FROM tasklease.queue_settings AS s
            WHERE s.queue = claim_tasks.queue AND (s.paused OR s.max_running IS NOT NULL)
        ) THEN
            RETURN QUERY
            SELECT * FROM tasklease._claim_controlled(v_owner, v_n, claim_tasks.queue, v_lease);
            RETURN;
        END IF;
    END IF;

    -- Two statements rather than one "queue IS NULL OR" predicate, so that
    -- each uses its own partial index in claim order.  The MATERIALIZED CTE
    -- locks exactly the rows it picks: never more than max_tasks.  The
    -- UPDATE finds them by primary key (id = ANY of the picked ids), a plan
    -- that does not depend on max_tasks: so one generic plan serves every
    -- call (plan_cache_mode above) instead of a custom plan per call, whose
    -- planning cost more than the claim itself (bench/README.md).  That one
    -- plan is made at a session's first claim, with the statistics of that
    -- moment: made on an empty, never analyzed table (a new install, the
    -- start of a burst) it could find the picked ids with a sequential scan,
    -- and kept it while the table grew, until autovacuum's first visit made
    -- the plan be rebuilt.  A claim never wants to read the whole table:
    -- enable_seqscan = off (above) keeps that plan out whatever the statistics.
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
        IF NOT tasklease._queue_ok(claim_tasks.queue) THEN  -- inlined: no statement
            PERFORM tasklease._check_queue(claim_tasks.queue);
        END IF;
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
'a new lease_token each, lease for lease_s seconds (default: setting lease_s).  Nothing from '
'a paused queue, and never more running tasks of a queue than its max_running (set_queue).';

-- The claim of a queue under flow control, or of every queue while some
-- queue is.  Paused queues hand out nothing.  A limited queue is claimed by
-- one session at a time: the claim updates the queue's settings row (a row
-- lock held until the claim commits), then counts the queue's running tasks
-- in a later statement, whose READ COMMITTED snapshot includes every claim
-- committed before the lock was granted; so running + claimed never exceeds
-- max_running, whoever claims.  (Only updating the row, not merely locking
-- it, also makes a claimer under REPEATABLE READ whose snapshot predates the
-- last claim fail with 40001 rather than count a stale running set.)
--   one queue   waits for that queue's row
--   any queue   takes the rows of the limited queues it can without waiting
--               (SKIP LOCKED); a limited queue another session is claiming
--               right now is left out of this claim, as a paused one is
-- The count goes through the running set (tasks_running_owner_idx), as the
-- reaper does: its cost follows the running tasks, not the table.  (An index
-- of its own made every plain claim slower: bench/README.md.)
-- A claim of every queue takes at most each held queue's free places from
-- it and fills the batch from the other queues, in claim order, picking from
-- each runnable queue in turn: its cost follows the number of queues with
-- queued tasks, never the backlog of a paused or full one.
-- Plans: one generic plan per session, as in claim_tasks, so it must hold at
-- any table size.  One made while tasks was small, or around a parameter the
-- planner cannot estimate (a first version filtered queue <> ALL($skip) in
-- the scan of tasks: estimated 1 row, planned as a seq scan and sort, 0.3x),
-- is kept for the session.  Every statement here is right on an index at any
-- size, so seq scans, bitmap scans and sorts that an ordered index scan can
-- avoid are ruled out; and JIT, which the cost those settings add to the
-- remaining sorts would otherwise trigger (0.5 s of compilation per claim).
CREATE OR REPLACE FUNCTION tasklease._claim_controlled(
    p_owner text,
    p_n int,
    p_queue text,
    p_lease interval
)
RETURNS SETOF tasklease.claimed_task
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_sort = off
SET jit = off
AS $$
DECLARE
    v_n int := p_n;
    v_running int;
    v_limited boolean := false;
    v_held text [] := '{}';      -- limited queues whose row this claim holds
    v_free int [] := '{}';       -- their free capacity, in the same order
    v_skip text [];              -- paused and limited queues
    q record;
BEGIN
    IF p_queue IS NOT NULL THEN
        IF NOT tasklease._queue_ok(p_queue) THEN
            PERFORM tasklease._check_queue(p_queue);
        END IF;
        SELECT s.max_running, s.paused INTO q
        FROM tasklease.queue_settings AS s WHERE s.queue = p_queue;
        IF FOUND AND q.paused THEN
            RETURN;
        END IF;
        IF FOUND AND q.max_running IS NOT NULL THEN
            UPDATE tasklease.queue_settings AS s SET claimed_at = now()
            WHERE s.queue = p_queue
            RETURNING s.max_running, s.paused INTO q;  -- as it is now that we hold it
            IF q.paused THEN
                RETURN;
            END IF;
            v_limited := q.max_running IS NOT NULL;
        END IF;
        IF v_limited THEN
            SELECT count(*) INTO v_running FROM tasklease.tasks AS t
            WHERE t.status = 'running' AND t.queue = p_queue;
            v_n := least(p_n, q.max_running - v_running);
            IF v_n <= 0 THEN
                RETURN;
            END IF;
        END IF;

        RETURN QUERY
        WITH picked AS MATERIALIZED (
            SELECT t.id FROM tasklease.tasks AS t
            WHERE t.status = 'queued' AND t.queue = p_queue AND t.run_after <= now()
            ORDER BY t.priority, t.run_after, t.id
            LIMIT v_n
            FOR UPDATE SKIP LOCKED
        ),

        claimed AS (
            UPDATE tasklease.tasks AS t SET
                status = 'running', owner_id = p_owner,
                lease_token = nextval('tasklease.lease_token_seq'),
                lease_expires_at = now() + p_lease, last_heartbeat = now(),
                attempts = t.attempts + 1, updated_at = now()
            WHERE t.id = ANY(ARRAY(SELECT p.id FROM picked AS p))
            RETURNING t.id, t.queue, t.payload, t.attempts, t.lease_token, t.lease_expires_at,
                t.priority, t.run_after
        )

        SELECT c.id, c.queue, c.payload, c.attempts, c.lease_token, c.lease_expires_at
        FROM claimed AS c ORDER BY c.priority, c.run_after, c.id;
        RETURN;
    END IF;

    -- Every queue.  Paused queues and limited ones we do not hold are left
    -- out; a held limited queue gives at most its free places.
    SELECT coalesce(array_agg(s.queue), '{}'),
        coalesce(bool_or(s.max_running IS NOT NULL AND NOT s.paused), false)
    INTO v_skip, v_limited
    FROM tasklease.queue_settings AS s
    WHERE s.paused OR s.max_running IS NOT NULL;
    IF v_limited THEN
        -- Hold what we can of the limited queues, in a fixed order, never waiting.
        WITH held AS (
            UPDATE tasklease.queue_settings AS s SET claimed_at = now()
            FROM (
                SELECT l.queue FROM tasklease.queue_settings AS l
                WHERE l.max_running IS NOT NULL AND NOT l.paused
                ORDER BY l.queue
                FOR UPDATE SKIP LOCKED
            ) AS l
            WHERE s.queue = l.queue
            RETURNING s.queue, s.max_running
        )

        SELECT coalesce(array_agg(h.queue ORDER BY h.queue), '{}'),
            coalesce(array_agg(h.max_running ORDER BY h.queue), '{}')
        INTO v_held, v_free
        FROM held AS h;
        -- A later statement: it sees every claim committed before our locks.
        SELECT coalesce(array_agg(h.free ORDER BY h.ord), '{}')
        INTO v_free
        FROM (
            SELECT u.queue, u.ord, u.max_running - (
                SELECT count(*) FROM tasklease.tasks AS t
                WHERE t.status = 'running' AND t.queue = u.queue
            ) AS free
            FROM unnest(v_held, v_free) WITH ORDINALITY AS u (queue, max_running, ord)
        ) AS h;
    END IF;

    -- The runnable queues are walked one by one (a loose scan of
    -- tasks_claim_queue_idx: one index descent per queue), and each eligible
    -- queue gives its first tasks in claim order.  Filtering one scan of every
    -- queue's tasks instead would pass every task of a paused or full queue
    -- that sorts first: a claim then cost as much as that queue's backlog.
    RETURN QUERY
    WITH RECURSIVE queues AS (
        (
            SELECT t.queue FROM tasklease.tasks AS t
            WHERE t.status = 'queued'
            ORDER BY t.queue
            LIMIT 1
        )
        UNION ALL
        SELECT (
            SELECT t.queue FROM tasklease.tasks AS t
            WHERE t.status = 'queued' AND t.queue > prev.queue
            ORDER BY t.queue
            LIMIT 1
        )
        FROM queues AS prev
        WHERE prev.queue IS NOT NULL
    ),

    candidates AS MATERIALIZED (
        SELECT c.id, c.priority, c.run_after
        FROM queues AS rq
        LEFT JOIN unnest(v_held, v_free) AS h (queue, free) ON rq.queue = h.queue
        CROSS JOIN LATERAL (
            SELECT t.id, t.priority, t.run_after FROM tasklease.tasks AS t
            WHERE t.status = 'queued' AND t.queue = rq.queue AND t.run_after <= now()
            ORDER BY t.priority, t.run_after, t.id
            LIMIT greatest(least(coalesce(h.free, p_n), p_n), 0)
            FOR UPDATE SKIP LOCKED
        ) AS c
        WHERE rq.queue IS NOT NULL
            AND (h.free > 0 OR (h.queue IS NULL AND rq.queue <> ALL(v_skip)))
    ),

    -- The first p_n in claim order (the other candidates stay locked until
    -- this claim commits, then are free again).
    picked AS (
        SELECT c.id FROM candidates AS c
        ORDER BY c.priority, c.run_after, c.id
        LIMIT p_n
    ),

    claimed AS (
        UPDATE tasklease.tasks AS t SET
            status = 'running', owner_id = p_owner,
            lease_token = nextval('tasklease.lease_token_seq'),
            lease_expires_at = now() + p_lease, last_heartbeat = now(),
            attempts = t.attempts + 1, updated_at = now()
        WHERE t.id = ANY(ARRAY(SELECT p.id FROM picked AS p))
        RETURNING t.id, t.queue, t.payload, t.attempts, t.lease_token, t.lease_expires_at,
            t.priority, t.run_after
    )

    SELECT c.id, c.queue, c.payload, c.attempts, c.lease_token, c.lease_expires_at
    FROM claimed AS c ORDER BY c.priority, c.run_after, c.id;
END
$$;

COMMENT ON FUNCTION tasklease._claim_controlled(text, int, text, interval) IS
'claim_tasks while some queue is limited or paused: nothing from a paused queue; a limited '
'queue claimed by one session at a time, never past max_running running tasks.';

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
