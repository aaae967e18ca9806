-- Enqueue: one task or many, each a queued row; a NOTIFY wakes idle workers,
-- at most once per queue per notify_window_ms (_wake_workers below).
--
-- De-duplication keys: while a queued or running task of a queue holds a key,
-- enqueueing with that queue and key adds nothing and returns that task's id
-- (payload, run_after and priority of the existing task are left as they
-- are).  A task that finished (completed, failed or cancelled) no longer
-- holds its key, unless dedupe_for keeps it taken for that long after the
-- task's finished_at, during which the finished task's id is returned.
--
-- The unique index tasks_dedupe_key_idx on (queue, dedupe_key) is the
-- arbiter: a key is on at most one task of a queue, live or finished.  An
-- enqueue that finds the key on a finished task past its window moves the
-- key: it clears it there, then inserts the new task with it.  So every race
-- is settled by that one index: two producers with one key get one task (the
-- second waits for the first to commit or roll back, so a rolled-back insert
-- frees the key); a task that finishes while another producer is inserting
-- still holds the key until that producer looks again.
-- Locks: the inserted rows; the finished row a key is moved from; the index
-- entry of a key another producer is inserting right now (waited for); when
-- this call is the one that notifies, the queue's wake lock (an advisory lock,
-- tried, never waited for: _try_wake_lock) and its tasklease.queue_wakeups row.
-- Time source: now(), clock_timestamp() for the notify window.
-- Errors: TL002 (dedupe_for), TL004 (payload), TL005 (queue), TL007
-- (max_attempts, a key, dedupe_keys of the wrong length).

-- The lock that says "this queue is being notified": a transaction that is
-- about to NOTIFY a queue holds it until its commit, and producers that find
-- it taken leave the wake-up to that transaction.  A transaction-level
-- advisory lock ("wake", hashtext(queue)), tried, never waited for; a sql
-- function so that the planner inlines it into the caller's expression.  Two
-- queue names with one hash share it: a producer of one then skips its
-- NOTIFY while the other is being notified (a few milliseconds), and its
-- task waits for the workers' re-check or poll.
-- Each lock is an entry of the server's shared lock table until the commit,
-- so one transaction takes at most 64 (max_locks_per_transaction's default;
-- counted in tasklease.wake_locks, a setting local to the transaction): one
-- that notifies more queues than that goes on without the lock, and the
-- queue's queue_wakeups row, taken FOR UPDATE SKIP LOCKED, decides alone.
CREATE OR REPLACE FUNCTION tasklease._try_wake_lock(p_queue text)
RETURNS boolean
LANGUAGE sql
VOLATILE
AS $$
    SELECT CASE
        WHEN coalesce(nullif(current_setting('tasklease.wake_locks', true), ''), '0')::int >= 64
            THEN true
        ELSE pg_try_advisory_xact_lock(2002873189, hashtext(p_queue))  -- 'wake' in ASCII
            AND set_config('tasklease.wake_locks', (coalesce(
                nullif(current_setting('tasklease.wake_locks', true), ''), '0')::int + 1)::text,
                true) IS NOT NULL
    END
$$;

COMMENT ON FUNCTION tasklease._try_wake_lock(text) IS
'Takes the transaction-level advisory lock of notifying p_queue if no other transaction holds '
'it: true when taken (or already held by this transaction), and true without it once this '
'transaction holds 64.';

-- Whether this transaction is the one to NOTIFY for a task of p_queue due at
-- p_run_after, once the caller has seen the queue not notified within
-- p_window: the task is due, and the window is 0 (every call notifies, no
-- lock) or this transaction took the queue's wake lock.  The one rule of
-- _wake_workers and of enqueue's inline wake-up; a sql function, inlined.
CREATE OR REPLACE FUNCTION tasklease._wake_due(
    p_queue text, p_run_after timestamptz, p_window interval
)
RETURNS boolean
LANGUAGE sql
VOLATILE
AS $$
    SELECT p_run_after <= now()
        AND (p_window <= interval '0' OR tasklease._try_wake_lock(p_queue))
$$;

COMMENT ON FUNCTION tasklease._wake_due(text, timestamptz, interval) IS
'True when a task of p_queue due at p_run_after is to be notified by this transaction: due, '
'and a window of 0 or the queue''s wake lock taken.';

-- The NOTIFY of _wake_workers, for a caller that holds the queue's wake lock
-- (or has a window of 0, or is past the lock cap): unless the queue's
-- queue_wakeups row says it was notified within p_window.  With the wake
-- lock no other transaction holds the row; SKIP LOCKED matters only past the
-- cap (see _try_wake_lock).
CREATE OR REPLACE FUNCTION tasklease._notify_queue(p_queue text, p_window interval)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_window > interval '0' THEN
        UPDATE tasklease.queue_wakeups AS w SET notified_at = clock_timestamp()
        WHERE w.queue = (
            SELECT m.queue FROM tasklease.queue_wakeups AS m
            WHERE m.queue = p_queue AND m.notified_at <= clock_timestamp() - p_window
            FOR UPDATE SKIP LOCKED
        );
        IF NOT FOUND THEN
            -- Notified lately (a notifier committed since the caller looked),
            -- being notified, or the queue's first wake-up (looked up first:
            -- ON CONFLICT would wait for a notifier's commit).
            IF EXISTS (SELECT FROM tasklease.queue_wakeups AS m WHERE m.queue = p_queue) THEN
                RETURN;
            END IF;
            INSERT INTO tasklease.queue_wakeups AS w (queue, notified_at)
            VALUES (p_queue, clock_timestamp())
            ON CONFLICT (queue) DO NOTHING;
            IF NOT FOUND THEN
                RETURN;
            END IF;
        END IF;
    END IF;
    PERFORM pg_notify('tasklease', p_queue);
END
$$;

COMMENT ON FUNCTION tasklease._notify_queue(text, interval) IS
'NOTIFY tasklease with the queue name unless queue_wakeups says the queue was notified within '
'p_window (0: always); for callers that hold the queue''s wake lock.';

-- Wake idle workers of a queue: a NOTIFY unless another enqueue of that
-- queue notified within notify_window_ms, or is about to (it holds the
-- queue's wake lock until its commit: tried, never waited for).
-- Why: a notifying commit holds a cluster-wide lock until its WAL is flushed,
-- so one NOTIFY per enqueue serialised every producer on the disk (enqueue at
-- 0.5x a plain INSERT, bench/README.md).  What it costs: a task committed
-- just after a worker's claim that a skipped NOTIFY would have woken waits
-- for that worker's re-check (the Python worker claims again shortly after
-- every wake-up) or, for another client, its poll.  notify_window_ms = 0
-- notifies on every call.  Tasks that are not runnable yet wake nobody: the
-- workers' polling finds them when they are due.
-- The wake lock, not the queue_wakeups row, tells producers that a notifier
-- is in flight: the row's new notified_at is invisible to them until that
-- notifier commits, and with the row's lock (SKIP LOCKED) each of them
-- first had to call this function to find out; a quarter of all enqueues did
-- under load (bench/README.md, enqueue).
-- p_window_ms overrides the notify_window_ms setting; NULL (every caller)
-- reads it.
CREATE OR REPLACE FUNCTION tasklease._wake_workers(
    p_queue text,
    p_run_after timestamptz,
    p_window_ms int DEFAULT NULL
)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_window interval;
BEGIN
    v_window := coalesce(p_window_ms, tasklease._setting('notify_window_ms'))
        * interval '1 millisecond';
    IF tasklease._wake_due(p_queue, p_run_after, v_window) THEN
        PERFORM tasklease._notify_queue(p_queue, v_window);
    END IF;
END
$$;

COMMENT ON FUNCTION tasklease._wake_workers(text, timestamptz, int) IS
'NOTIFY tasklease with the queue name, unless the tasks are not due yet or the queue was '
'notified within p_window_ms (NULL: the notify_window_ms setting), or is being notified by '
'a transaction not yet committed.';

-- One keyed task: the holder's id, or a new task.  Look first (no write for
-- a duplicate), then insert ON CONFLICT DO NOTHING; a conflict means another
-- producer's task took the key since our look-up: look again.
-- The look-up goes through tasks_dedupe_key_idx whatever the table's size:
-- plpgsql caches a generic plan after five calls, and one made while the
-- table was tiny was a seq scan, kept for the session (a keyed enqueue then
-- cost 4 ms at 8,000 rows and grew with the table; bench/README.md).
CREATE OR REPLACE FUNCTION tasklease._enqueue_keyed(
    p_queue text,
    p_payload jsonb,
    p_run_after timestamptz,
    p_priority int,
    p_max_attempts int,
    p_key text,
    p_window interval
)
RETURNS tasklease.enqueued
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
AS $$
DECLARE
    v_id bigint;
    h record;
BEGIN
    IF p_key IS NULL THEN
        INSERT INTO tasklease.tasks AS t (queue, payload, priority, run_after, max_attempts)
        VALUES (p_queue, p_payload, p_priority, p_run_after, p_max_attempts)
        RETURNING t.id INTO v_id;
        RETURN (v_id, true);
    END IF;
    -- Each turn ends unless the key changed hands since the look-up.
    FOR v_turn IN 1..10 LOOP
        SELECT t.id, t.status, t.finished_at INTO h
        FROM tasklease.tasks AS t
        WHERE t.queue = p_queue AND t.dedupe_key = p_key;
        IF h.id IS NOT NULL THEN
            IF h.status IN ('queued', 'running')
                OR h.finished_at >= now() - p_window THEN
                RETURN (h.id, false);
            END IF;
            -- Finished, past its window: the key moves to the new task.  A
            -- producer doing the same waits for our row lock, then finds the
            -- key gone from the row and looks again.
            UPDATE tasklease.tasks AS t SET dedupe_key = NULL
            WHERE t.id = h.id AND t.dedupe_key = p_key;
        END IF;
        INSERT INTO tasklease.tasks AS t
            (queue, payload, priority, run_after, max_attempts, dedupe_key)
        VALUES (p_queue, p_payload, p_priority, p_run_after, p_max_attempts, p_key)
        ON CONFLICT (queue, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
        RETURNING t.id INTO v_id;
        IF v_id IS NOT NULL THEN
            RETURN (v_id, true);
        END IF;
    END LOOP;
    RAISE EXCEPTION 'de-duplication key % of queue % changed hands 10 times during one enqueue',
        quote_literal(p_key), p_queue
        USING ERRCODE = 'serialization_failure',
              HINT = 'Retry the enqueue.';
END
$$;

COMMENT ON FUNCTION tasklease._enqueue_keyed(
    text, jsonb, timestamptz, int, int, text, interval
) IS
'Adds one task unless a task of the queue holds its de-duplication key (queued, running, or '
'finished within p_window; a finished task past it gives its key to the new one): returns '
'(id, created).';

-- The one refusal of a payload (enqueue_tasks, and enqueue's one-task path).
CREATE OR REPLACE FUNCTION tasklease._refuse_payload(p_ord int, p_max_bytes int)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'payload % is NULL or larger than max_payload_bytes (% bytes)',
        p_ord, p_max_bytes
        USING ERRCODE = 'TL004',
              HINT = 'Use the JSON value null (''null''::jsonb) for an empty payload; '
                     'store large data elsewhere and enqueue a reference.';
END
$$;

COMMENT ON FUNCTION tasklease._refuse_payload(int, int) IS
'Raises TL004 for payload number p_ord (NULL, or over max_payload_bytes = p_max_bytes).';

-- What every enqueue comes down to: one task per payload, in order, each
-- with its (id, created).  Without keys: one INSERT for the whole batch.
CREATE OR REPLACE FUNCTION tasklease.enqueue_tasks(
    payloads jsonb [],
    queue text DEFAULT 'default',
    run_after timestamptz DEFAULT now(),
    priority int DEFAULT 0,
    max_attempts int DEFAULT NULL,
    dedupe_keys text [] DEFAULT NULL,
    dedupe_for interval DEFAULT NULL
)
RETURNS SETOF tasklease.enqueued
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_queue text := tasklease._check_queue(enqueue_tasks.queue);
    v_max_attempts int := tasklease._check_range(
        'max_attempts',
        coalesce(enqueue_tasks.max_attempts, tasklease._setting('max_attempts')),
        1, 1000000, 'TL007'
    );
    v_max_bytes int := tasklease._setting('max_payload_bytes');
    v_run_after timestamptz := coalesce(enqueue_tasks.run_after, now());
    v_priority int := coalesce(enqueue_tasks.priority, 0);
    v_bad int;
    v_created int := 0;
    r tasklease.enqueued;
BEGIN
    IF payloads IS NULL OR cardinality(payloads) = 0 THEN
        RAISE EXCEPTION 'payloads must be a non-empty array' USING ERRCODE = 'TL004';
    END IF;
    SELECT min(p.ord) INTO v_bad
    FROM unnest(payloads) WITH ORDINALITY AS p (payload, ord)
    WHERE p.payload IS NULL OR pg_column_size(p.payload) > v_max_bytes;
    IF v_bad IS NOT NULL THEN
        PERFORM tasklease._refuse_payload(v_bad, v_max_bytes);
    END IF;

    IF dedupe_keys IS NULL THEN
        RETURN QUERY
        INSERT INTO tasklease.tasks AS t (queue, payload, priority, run_after, max_attempts)
        SELECT v_queue, p.payload, v_priority, v_run_after, v_max_attempts
        FROM unnest(payloads) WITH ORDINALITY AS p (payload, ord)
        ORDER BY p.ord
        RETURNING t.id, true;
        PERFORM tasklease._wake_workers(v_queue, v_run_after);
        RETURN;
    END IF;

    PERFORM tasklease._check_dedupe(dedupe_keys, cardinality(payloads), dedupe_for);
    FOR i IN 1..cardinality(payloads) LOOP
        r := tasklease._enqueue_keyed(v_queue, payloads[i], v_run_after, v_priority,
            v_max_attempts, dedupe_keys[i], dedupe_for);
        v_created := v_created + r.created::int;
        RETURN NEXT r;
    END LOOP;
    IF v_created > 0 THEN
        PERFORM tasklease._wake_workers(v_queue, v_run_after);
    END IF;
END
$$;

COMMENT ON FUNCTION tasklease.enqueue_tasks(
    jsonb [], text, timestamptz, int, int, text [], interval
) IS
'Adds one task per payload, in order, and returns (id, created) for each: with dedupe_keys '
'(one key or NULL per payload), a payload whose key a queued or running task of the queue '
'holds (or one finished within dedupe_for) returns that task with created = false.  Wakes '
'idle workers (a NOTIFY, at most one per queue per notify_window_ms) when anything was added.';

CREATE OR REPLACE FUNCTION tasklease._check_dedupe(p_keys text [], p_n int, p_window interval)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF cardinality(p_keys) <> p_n OR array_ndims(p_keys) <> 1 THEN
        RAISE EXCEPTION 'dedupe_keys has % elements for % payloads', cardinality(p_keys), p_n
            USING ERRCODE = 'TL007',
                  HINT = 'Pass one key (or NULL for no key) per payload.';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(p_keys) AS k (key)
               WHERE k.key = '' OR char_length(k.key) > 255) THEN
        RAISE EXCEPTION 'a de-duplication key is 1 to 255 characters long'
            USING ERRCODE = 'TL007';
    END IF;
    IF p_window < interval '0' THEN
        RAISE EXCEPTION 'dedupe_for must not be negative, got %', p_window
            USING ERRCODE = 'TL002';
    END IF;
END
$$;

COMMENT ON FUNCTION tasklease._check_dedupe(text [], int, interval) IS
'TL007 unless there is one key (1 to 255 characters, or NULL) per payload; TL002 for a '
'negative dedupe_for.';

CREATE OR REPLACE FUNCTION tasklease.enqueue_many(
    payloads jsonb [],
    queue text DEFAULT 'default',
    run_after timestamptz DEFAULT now(),
    priority int DEFAULT 0,
    max_attempts int DEFAULT NULL,
    dedupe_keys text [] DEFAULT NULL,
    dedupe_for interval DEFAULT NULL
)
RETURNS SETOF bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT e.id FROM tasklease.enqueue_tasks(
        enqueue_many.payloads, enqueue_many.queue, enqueue_many.run_after,
        enqueue_many.priority, enqueue_many.max_attempts,
        enqueue_many.dedupe_keys, enqueue_many.dedupe_for
    ) AS e;
END
$$;

COMMENT ON FUNCTION tasklease.enqueue_many(
    jsonb [], text, timestamptz, int, int, text [], interval
) IS
'Adds one task per payload, in order, with at most one NOTIFY; returns the ids (for a payload whose '
'dedupe key is taken, the id of the task holding it).  enqueue_tasks also says which are new.';

CREATE OR REPLACE FUNCTION tasklease.enqueue(
    payload jsonb,
    queue text DEFAULT 'default',
    run_after timestamptz DEFAULT now(),
    priority int DEFAULT 0,
    max_attempts int DEFAULT NULL,
    dedupe_key text DEFAULT NULL,
    dedupe_for interval DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_id bigint;
BEGIN
    -- The producer's hot path, one valid task without a key: one test of the
    -- input, the INSERT, one look at the queue's last wake-up.  The settings
    -- are constants of this function's cached plans (_setting,
    -- 010_settings.sql) and _queue_ok is inlined, so the test is one
    -- expression, no statement; each step costs per call, and per
    -- transaction (plpgsql prepares each expression again in every
    -- transaction), so there are as few as the rule needs (bench/README.md,
    -- enqueue).  Input that fails the test goes the general way below, whose
    -- checks raise the same errors, in the same order, as enqueue_tasks.
    IF enqueue.dedupe_key IS NULL
        AND tasklease._queue_ok(enqueue.queue)
        AND pg_column_size(enqueue.payload) <= tasklease._setting('max_payload_bytes')
        AND (enqueue.max_attempts IS NULL
            OR tasklease._check_range('max_attempts', enqueue.max_attempts, 1, 1000000,
                'TL007') IS NOT NULL) THEN
        INSERT INTO tasklease.tasks AS t (queue, payload, priority, run_after, max_attempts)
        VALUES (
            enqueue.queue, enqueue.payload, coalesce(enqueue.priority, 0),
            coalesce(enqueue.run_after, now()),
            coalesce(enqueue.max_attempts, tasklease._setting('max_attempts'))
        )
        RETURNING t.id INTO v_id;
        -- _wake_workers' steps, inline: under load the queue was notified
        -- lately, or another producer holds its wake lock, and no function
        -- is called.
        IF NOT EXISTS (
            SELECT FROM tasklease.queue_wakeups AS w
            WHERE w.queue = enqueue.queue
                AND w.notified_at > clock_timestamp()
                - tasklease._setting('notify_window_ms') * interval '1 millisecond'
        ) AND tasklease._wake_due(enqueue.queue, coalesce(enqueue.run_after, now()),
            tasklease._setting('notify_window_ms') * interval '1 millisecond') THEN
            PERFORM tasklease._notify_queue(enqueue.queue,
                tasklease._setting('notify_window_ms') * interval '1 millisecond');
        END IF;
        RETURN v_id;
    END IF;
    -- plpgsql, not sql: a sql function with SET is planned again on every call.
    SELECT e.id INTO v_id FROM tasklease.enqueue_tasks(
        ARRAY[enqueue.payload], enqueue.queue, enqueue.run_after,
        enqueue.priority, enqueue.max_attempts,
        CASE WHEN enqueue.dedupe_key IS NOT NULL THEN ARRAY[enqueue.dedupe_key] END,
        enqueue.dedupe_for
    ) AS e;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION tasklease.enqueue(jsonb, text, timestamptz, int, int, text, interval) IS
'Adds one task and returns its id; with dedupe_key, returns the id of the queued or running '
'task of the queue holding that key (or one finished within dedupe_for) instead of adding '
'another.  NULL run_after means now, NULL max_attempts the max_attempts setting.  TL004 for a '
'NULL or oversized payload, TL005 for a bad queue name.';
