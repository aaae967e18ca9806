-- The operations console (tasklease ui): operator actions, and the reads a
-- console needs for roles without table privileges.
--
-- Actions, for tasklease_admin (090_grants); each writes one reaper_log row
-- whose actor is the function and whose db_user is the session's login:
--   retry_task      failed or cancelled -> queued, runnable now, both budgets
--                   fresh (action retried, reason operator)
--   run_task_now    queued with a future run_after -> runnable now
--                   (action rescheduled, reason operator)
--   take_back_task  running, and the given lease token still holds the lease
--                   -> the crash budget decides: requeued or failed
--                   (reason taken_back, as the reaper would for a dead owner)
-- Reads, for the worker and producer roles too:
--   console_tasks       keyset pages of short task rows (payload and error cut
--                       short), newest first, by queue and status
--   console_queues      per queue: live counts, capped finished counts, the
--                       oldest runnable task's age, stale tasks, tasks held by
--                       dead workers
--   console_throughput  finished tasks per minute and queue
--   console_decisions   keyset pages of reaper_log with each task's queue
--   console_decision_counts  decisions per queue, action and reason
-- All are plpgsql with RETURNS TABLE, not views: migrate --target N applies
-- this file to the schema of migration N, and a view (or a sql function) is
-- checked against the columns there, a plpgsql body only when it runs.  So
-- the inputs are named *_filter where an output column has the plain name.
-- Cost: pages and counts read the partial indexes (claim, running set,
-- tasks_finished_queue_idx of migration 004), never every finished task.
-- They run with jit = off: the planner's estimates for the per-queue laterals
-- are far above jit_above_cost, and compiling took 700 ms of a 5 ms query.
-- Errors: TL005 bad queue, TL007 NULL or out-of-range argument, TL009 no such
-- task.  Locks: the one task row of an action, FOR UPDATE.  Time: now().

-- ------------------------------------------------------------------ actions

-- A failed task has spent one of its budgets (or an operator cancelled it).
-- Running it again with the spent budget would give it one more try at most,
-- so a retry starts both budgets afresh: failures and requeue_count go back
-- to 0.  attempts (claims, the task's history) and last_error are kept; the
-- log row records the counters as they were when the operator retried.
CREATE OR REPLACE FUNCTION tasklease.retry_task(task_id bigint)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_queue text;
BEGIN
    PERFORM tasklease._check_id('task_id', retry_task.task_id);
    WITH old AS (
        SELECT t.id, t.owner_id, t.lease_token, t.attempts, t.requeue_count
        FROM tasklease.tasks AS t
        WHERE t.id = retry_task.task_id AND t.status IN ('failed', 'cancelled')
        FOR UPDATE
    ),

    upd AS (
        UPDATE tasklease.tasks AS t SET
            status = 'queued', run_after = now(), owner_id = NULL, lease_token = NULL,
            lease_expires_at = NULL, finished_at = NULL, failures = 0, requeue_count = 0,
            updated_at = now()
        FROM old WHERE t.id = old.id
        RETURNING t.id, t.queue, old.owner_id, old.lease_token, old.attempts, old.requeue_count
    ),

    logged AS (
        INSERT INTO tasklease.reaper_log
            (task_id, action, reason, owner_id, lease_token, attempts, requeue_count, actor)
        SELECT u.id, 'retried', 'operator', u.owner_id, u.lease_token, u.attempts,
            u.requeue_count, 'retry_task'
        FROM upd AS u
        RETURNING task_id
    )

    SELECT u.queue INTO v_queue FROM upd AS u WHERE u.id IN (SELECT l.task_id FROM logged AS l);
    IF v_queue IS NOT NULL THEN
        PERFORM tasklease._notify(v_queue);
        RETURN true;
    END IF;
    PERFORM tasklease._check_task_exists(retry_task.task_id);
    RETURN false;
END
$$;

COMMENT ON FUNCTION tasklease.retry_task(bigint) IS
'Queues a failed or cancelled task again, runnable now, with both budgets fresh (failures and '
'requeue_count 0) and logs it (retried, operator); false for a task in any other state, TL009 '
'when it does not exist.';

CREATE OR REPLACE FUNCTION tasklease.run_task_now(task_id bigint)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_queue text;
BEGIN
    PERFORM tasklease._check_id('task_id', run_task_now.task_id);
    WITH old AS (
        SELECT t.id
        FROM tasklease.tasks AS t
        WHERE t.id = run_task_now.task_id AND t.status = 'queued' AND t.run_after > now()
        FOR UPDATE
    ),

    upd AS (
        UPDATE tasklease.tasks AS t SET run_after = now(), updated_at = now()
        FROM old WHERE t.id = old.id
        RETURNING t.id, t.queue, t.attempts, t.requeue_count
    ),

    logged AS (
        INSERT INTO tasklease.reaper_log
            (task_id, action, reason, attempts, requeue_count, actor)
        SELECT u.id, 'rescheduled', 'operator', u.attempts, u.requeue_count, 'run_task_now'
        FROM upd AS u
        RETURNING task_id
    )

    SELECT u.queue INTO v_queue FROM upd AS u WHERE u.id IN (SELECT l.task_id FROM logged AS l);
    IF v_queue IS NOT NULL THEN
        PERFORM tasklease._notify(v_queue);
        RETURN true;
    END IF;
    PERFORM tasklease._check_task_exists(run_task_now.task_id);
    RETURN false;
END
$$;

COMMENT ON FUNCTION tasklease.run_task_now(bigint) IS
'Makes a queued task that waits for its run_after runnable now and logs it (rescheduled, '
'operator); false when the task is not queued or already runnable, TL009 when it does not exist.';

-- For a worker the operator knows is gone (a host that will not come back)
-- before the reaper can tell: the task is treated as crashed, exactly as the
-- reaper treats a dead owner's task.  Fenced: it acts only while the token the
-- operator saw still holds the lease, so a task that was completed, reaped or
-- claimed again since the page was rendered is left alone (false).
CREATE OR REPLACE FUNCTION tasklease.take_back_task(task_id bigint, lease_token bigint)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_id bigint;
BEGIN
    PERFORM tasklease._check_id('task_id', take_back_task.task_id);
    PERFORM tasklease._check_id('lease_token', take_back_task.lease_token);
    SELECT t.id INTO v_id
    FROM tasklease.tasks AS t
    WHERE t.id = take_back_task.task_id AND t.status = 'running'
        AND t.lease_token = take_back_task.lease_token
    FOR UPDATE;
    IF v_id IS NULL THEN
        PERFORM tasklease._check_task_exists(take_back_task.task_id);
        RETURN false;
    END IF;
    PERFORM tasklease._requeue_or_fail(
        ARRAY[v_id], ARRAY['taken_back'], tasklease._setting('max_requeue'), 'take_back_task'
    );
    RETURN true;
END
$$;

COMMENT ON FUNCTION tasklease.take_back_task(bigint, bigint) IS
'Takes a running task back from its owner while lease_token still holds the lease: requeued '
'within the crash budget, else failed (reason taken_back), so the old token is dead.  False when '
'that token no longer holds the lease, TL009 when the task does not exist.';

-- -------------------------------------------------------------------- reads

-- The finished states' queues, one index probe each (a loose index scan of
-- tasks_finished_queue_idx), without reading the finished tasks themselves.
CREATE OR REPLACE FUNCTION tasklease._finished_queues()
RETURNS SETOF text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE q (queue) AS (
        SELECT min(t.queue) FROM tasklease.tasks AS t
        WHERE t.status IN ('completed', 'failed', 'cancelled')
        UNION ALL
        SELECT (
            SELECT min(t.queue) FROM tasklease.tasks AS t
            WHERE t.status IN ('completed', 'failed', 'cancelled') AND t.queue > q.queue
        )
        FROM q WHERE q.queue IS NOT NULL
    )

    SELECT q.queue FROM q WHERE q.queue IS NOT NULL;
$$;

COMMENT ON FUNCTION tasklease._finished_queues() IS
'The queues that have finished tasks, read by a loose scan of tasks_finished_queue_idx.';

-- Newest first, page by page: pass the smallest id of a page as before_id to
-- get the next.  Live tasks (queued, running: few) are read through their
-- partial indexes; finished ones per queue and status through
-- tasks_finished_queue_idx, page_size entries at most each, then merged.  The
-- cost follows the number of queues and the page size, not the table.
-- Custom plans: the NULL filters then fold away.
CREATE OR REPLACE FUNCTION tasklease.console_tasks(
    queue_filter text DEFAULT NULL,
    status_filter tasklease.task_status DEFAULT NULL,
    before_id bigint DEFAULT NULL,
    page_size int DEFAULT 50
)
RETURNS TABLE (
    id bigint,
    queue text,
    status tasklease.task_status,
    priority int,
    run_after timestamptz,
    attempts int,
    failures int,
    max_attempts int,
    requeue_count int,
    owner_id text,
    lease_expires_at timestamptz,
    created_at timestamptz,
    updated_at timestamptz,
    finished_at timestamptz,
    payload_preview text,
    last_error text
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
SET plan_cache_mode = force_custom_plan
AS $$
#variable_conflict use_column
DECLARE
    v_n int := tasklease._check_range('page_size', console_tasks.page_size, 1, 500, 'TL007');
    v_before bigint := coalesce(console_tasks.before_id, 9223372036854775807);
BEGIN
    IF console_tasks.queue_filter IS NOT NULL THEN
        PERFORM tasklease._check_queue(console_tasks.queue_filter);
    END IF;
    RETURN QUERY
    WITH queues AS (
        SELECT f.q FROM tasklease._finished_queues() AS f (q)
        WHERE console_tasks.queue_filter IS NULL
        UNION ALL
        SELECT console_tasks.queue_filter WHERE console_tasks.queue_filter IS NOT NULL
    ),

    -- The live states one by one: each is found through its own partial
    -- index (status IN (...) matches neither).  ORDER BY id + 0: with the
    -- bare id the planner walks the primary key backwards past every finished
    -- task (480 ms at 1M) to find the few live ones.
    live AS (
        SELECT x.id FROM (
            SELECT t.id FROM tasklease.tasks AS t
            WHERE t.status = 'queued' AND t.id < v_before
                AND (console_tasks.queue_filter IS NULL OR t.queue = console_tasks.queue_filter)
                AND coalesce(console_tasks.status_filter = 'queued', TRUE)
            UNION ALL
            SELECT t.id FROM tasklease.tasks AS t
            WHERE t.status = 'running' AND t.id < v_before
                AND (console_tasks.queue_filter IS NULL OR t.queue = console_tasks.queue_filter)
                AND coalesce(console_tasks.status_filter = 'running', TRUE)
        ) AS x
        ORDER BY x.id + 0 DESC
        LIMIT v_n
    ),

    finished AS (
        SELECT f.id
        FROM queues AS q
        CROSS JOIN unnest('{completed,failed,cancelled}'::tasklease.task_status []) AS s (st)
        CROSS JOIN LATERAL (
            SELECT t.id FROM tasklease.tasks AS t
            WHERE t.queue = q.q AND t.status = s.st
                AND t.status IN ('completed', 'failed', 'cancelled')
                AND t.id < v_before
            ORDER BY t.id DESC
            LIMIT v_n
        ) AS f
        WHERE console_tasks.status_filter IS NULL OR s.st = console_tasks.status_filter
    ),

    page AS (
        SELECT p.id FROM (SELECT l.id FROM live AS l UNION ALL SELECT f.id FROM finished AS f) AS p
        ORDER BY p.id DESC
        LIMIT v_n
    )

    SELECT
        t.id, t.queue, t.status, t.priority, t.run_after, t.attempts, t.failures,
        t.max_attempts, t.requeue_count, t.owner_id, t.lease_expires_at, t.created_at,
        t.updated_at, t.finished_at, left(t.payload::text, 200), left(t.last_error, 200)
    FROM page AS p
    JOIN tasklease.tasks AS t ON p.id = t.id
    ORDER BY t.id DESC;
END
$$;

COMMENT ON FUNCTION tasklease.console_tasks(text, tasklease.task_status, bigint, int) IS
'A page of short task rows (payload and last_error cut to 200 characters), newest first, '
'filtered by queue and status (NULL: all), with ids below before_id (keyset paging); '
'page_size 1..500 (TL007).';

-- Per queue.  Live counts (queued, runnable, running) are exact: the live set
-- is read through its partial indexes.  Finished counts are exact up to
-- count_limit and stop there (a value of count_limit means "at least"), so
-- that 1M finished tasks cost count_limit index entries per queue and status
-- instead of a scan; count_limit 0 leaves them NULL.
CREATE OR REPLACE FUNCTION tasklease.console_queues(count_limit int DEFAULT 10000)
RETURNS TABLE (
    queue text,
    queued bigint,
    runnable bigint,
    running bigint,
    completed bigint,
    failed bigint,
    cancelled bigint,
    oldest_runnable_s numeric,
    stale bigint,
    dead_owner_tasks bigint
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    v_limit int := tasklease._check_range('count_limit', console_queues.count_limit,
        0, 1000000, 'TL007');
    v_ttl int := tasklease._setting('worker_ttl_s');
BEGIN
    RETURN QUERY
    -- The live states one by one, each through its own partial index
    -- (status IN (...) matches neither).
    WITH live_tasks AS (
        SELECT t.queue, t.status, t.run_after, t.owner_id
        FROM tasklease.tasks AS t WHERE t.status = 'queued'
        UNION ALL
        SELECT t.queue, t.status, t.run_after, t.owner_id
        FROM tasklease.tasks AS t WHERE t.status = 'running'
    ),

    live AS (
        SELECT
            t.queue,
            count(*) FILTER (WHERE t.status = 'queued') AS queued,
            count(*) FILTER (WHERE t.status = 'queued' AND t.run_after <= now()) AS runnable,
            count(*) FILTER (WHERE t.status = 'running') AS running,
            min(t.run_after) FILTER (WHERE t.status = 'queued' AND t.run_after <= now())
                AS oldest_runnable_at,
            count(*) FILTER (
                WHERE t.status = 'running' AND w.owner_id IS NOT NULL
                    AND NOT tasklease._worker_alive(w.last_heartbeat, w.stopped_at, now(), v_ttl)
            ) AS dead_owner_tasks
        FROM live_tasks AS t
        LEFT JOIN tasklease.workers AS w ON t.status = 'running' AND t.owner_id = w.owner_id
        GROUP BY t.queue
    ),

    stale AS (
        SELECT s.queue, count(*) AS n FROM tasklease.stale_tasks AS s GROUP BY s.queue
    ),

    queues AS (
        SELECT l.queue FROM live AS l
        UNION
        SELECT f.q FROM tasklease._finished_queues() AS f (q)
    )

    SELECT
        q.queue,
        coalesce(l.queued, 0),
        coalesce(l.runnable, 0),
        coalesce(l.running, 0),
        c.completed,
        c.failed,
        c.cancelled,
        round(extract(EPOCH FROM now() - l.oldest_runnable_at), 1),
        coalesce(s.n, 0),
        coalesce(l.dead_owner_tasks, 0)
    FROM queues AS q
    LEFT JOIN live AS l ON q.queue = l.queue
    LEFT JOIN stale AS s ON q.queue = s.queue
    CROSS JOIN LATERAL (
        SELECT
            max(x.n) FILTER (WHERE x.st = 'completed') AS completed,
            max(x.n) FILTER (WHERE x.st = 'failed') AS failed,
            max(x.n) FILTER (WHERE x.st = 'cancelled') AS cancelled
        FROM unnest('{completed,failed,cancelled}'::tasklease.task_status []) AS st (st)
        CROSS JOIN LATERAL (
            SELECT st.st, count(*) AS n FROM (
                SELECT 1 FROM tasklease.tasks AS t
                WHERE t.queue = q.queue AND t.status = st.st
                    AND t.status IN ('completed', 'failed', 'cancelled')
                LIMIT v_limit
            ) AS capped
        ) AS x
        WHERE v_limit > 0
    ) AS c
    ORDER BY q.queue;
END
$$;

COMMENT ON FUNCTION tasklease.console_queues(int) IS
'Per queue: queued, runnable and running tasks (exact), completed, failed and cancelled (exact '
'up to count_limit, 0..1000000; 0: NULL), the oldest runnable task''s age in seconds, stale '
'tasks, and running tasks whose worker is dead or stopped.';

CREATE OR REPLACE FUNCTION tasklease.console_throughput(minutes int DEFAULT 60)
RETURNS TABLE (
    minute timestamptz,
    queue text,
    completed bigint,
    failed bigint,
    cancelled bigint
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    v_since timestamptz := date_trunc('minute', now()) - make_interval(
        mins => tasklease._check_range('minutes', console_throughput.minutes, 1, 1440, 'TL007') - 1
    );
BEGIN
    -- Through tasks_finished_idx: the cost follows the tasks finished in the
    -- window, not the table.
    RETURN QUERY
    SELECT
        date_trunc('minute', t.finished_at),
        t.queue,
        count(*) FILTER (WHERE t.status = 'completed'),
        count(*) FILTER (WHERE t.status = 'failed'),
        count(*) FILTER (WHERE t.status = 'cancelled')
    FROM tasklease.tasks AS t
    WHERE t.status IN ('completed', 'failed', 'cancelled') AND t.finished_at >= v_since
    GROUP BY 1, 2
    ORDER BY 1, 2;
END
$$;

COMMENT ON FUNCTION tasklease.console_throughput(int) IS
'Tasks that finished (completed, failed, cancelled) per minute and queue over the last minutes '
'minutes (1..1440, TL007), the current minute included; minutes without any are left out.';

-- Newest first, page by page (before_id), by task, action and reason.  By task
-- through reaper_log_task_idx; otherwise backwards along the primary key.
CREATE OR REPLACE FUNCTION tasklease.console_decisions(
    task_filter bigint DEFAULT NULL,
    action_filter text DEFAULT NULL,
    reason_filter text DEFAULT NULL,
    before_id bigint DEFAULT NULL,
    page_size int DEFAULT 50
)
RETURNS TABLE (
    id bigint,
    at timestamptz,
    task_id bigint,
    queue text,
    action text,
    reason text,
    owner_id text,
    lease_token bigint,
    attempts int,
    requeue_count int,
    actor text,
    db_user text
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    v_n int := tasklease._check_range('page_size', console_decisions.page_size, 1, 500,
        'TL007');
BEGIN
    RETURN QUERY
    SELECT
        l.id, l.at, l.task_id, t.queue, l.action, l.reason, l.owner_id, l.lease_token,
        l.attempts, l.requeue_count, l.actor, l.db_user
    FROM tasklease.reaper_log AS l
    LEFT JOIN tasklease.tasks AS t ON l.task_id = t.id
    WHERE (console_decisions.task_filter IS NULL OR l.task_id = console_decisions.task_filter)
        AND (console_decisions.action_filter IS NULL
            OR l.action = console_decisions.action_filter)
        AND (console_decisions.reason_filter IS NULL
            OR l.reason = console_decisions.reason_filter)
        AND (console_decisions.before_id IS NULL OR l.id < console_decisions.before_id)
    ORDER BY l.id DESC
    LIMIT v_n;
END
$$;

COMMENT ON FUNCTION tasklease.console_decisions(bigint, text, text, bigint, int) IS
'A page of reaper_log (every reaper, recovery, release and operator decision) with each '
'task''s queue (NULL once pruned), newest first, filtered by task, action and reason, ids '
'below before_id; page_size 1..500 (TL007).';

CREATE OR REPLACE FUNCTION tasklease.console_decision_counts(minutes int DEFAULT 60)
RETURNS TABLE (queue text, action text, reason text, decisions bigint)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    v_since timestamptz := now() - make_interval(
        mins => tasklease._check_range('minutes', console_decision_counts.minutes, 1, 1440,
            'TL007'));
BEGIN
    -- Through reaper_log_at_idx: the cost follows the decisions in the window.
    RETURN QUERY
    SELECT t.queue, l.action, l.reason, count(*)
    FROM tasklease.reaper_log AS l
    LEFT JOIN tasklease.tasks AS t ON l.task_id = t.id
    WHERE l.at > v_since
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3;
END
$$;

COMMENT ON FUNCTION tasklease.console_decision_counts(int) IS
'Decisions of reaper_log in the last minutes minutes (1..1440, TL007) per queue (NULL once '
'the task is pruned), action and reason.';
