-- Input checks and small helpers shared by the public functions: one helper
-- per rule, so that no check or interval arithmetic is repeated.
--
-- Error codes (class TL, see docs/errors.md):
--   TL001 invalid owner       TL002 invalid duration   TL003 invalid batch
--   TL004 invalid payload     TL005 invalid queue      TL006 invalid setting
--   TL007 invalid argument    TL008 worker name in use TL009 task not found
--   TL010 pg_cron unavailable TL011 invalid schedule   TL012 invalid result
--   TL013 pg_cron set-up incomplete (a privilege or a setting is missing)
-- Time source: now() (the transaction's start), never a client clock.

-- The checks and rules below have no SET search_path clause: they use only
-- built-in functions and operators (always resolved in pg_catalog first) and
-- schema-qualified tasklease names, run inside SECURITY DEFINER callers whose
-- search_path is pinned, and are not definers themselves.  A SET clause
-- costs a GUC save and restore on every call and keeps a sql function from
-- being inlined (the reaper rule is inlined into stale_tasks and the reaper).
CREATE OR REPLACE FUNCTION tasklease._check_owner_len(p_owner text, p_max_len int)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    IF p_owner IS NULL OR btrim(p_owner) = '' THEN
        RAISE EXCEPTION 'owner must be a non-empty worker name'
            USING ERRCODE = 'TL001',
                  HINT = 'Pass the worker name that claims, renews and completes tasks.';
    END IF;
    IF char_length(p_owner) > p_max_len THEN
        RAISE EXCEPTION 'owner is % characters long, longer than max_owner_len (%)',
            char_length(p_owner), p_max_len
            USING ERRCODE = 'TL001';
    END IF;
    IF p_owner ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'owner must not contain control characters'
            USING ERRCODE = 'TL001';
    END IF;
    RETURN p_owner;
END
$$;

COMMENT ON FUNCTION tasklease._check_owner_len(text, int) IS
'Returns the owner when it is a valid worker name of at most p_max_len characters, else TL001.';

CREATE OR REPLACE FUNCTION tasklease._check_owner(p_owner text)
RETURNS text
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    RETURN tasklease._check_owner_len(p_owner, tasklease._setting('max_owner_len'));
END
$$;

COMMENT ON FUNCTION tasklease._check_owner(text) IS
'Returns the owner when it is a valid worker name (max_owner_len), else raises TL001.';

CREATE OR REPLACE FUNCTION tasklease._check_range(
    p_what text, p_value int, p_min int, p_max int, p_code text
)
RETURNS int
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    IF p_value IS NULL OR p_value < p_min OR p_value > p_max THEN
        RAISE EXCEPTION '% must be between % and %, got %',
            p_what, p_min, p_max, coalesce(p_value::text, 'NULL')
            USING ERRCODE = p_code;
    END IF;
    RETURN p_value;
END
$$;

COMMENT ON FUNCTION tasklease._check_range(text, int, int, int, text) IS
'Returns p_value when it lies in [p_min, p_max], else raises p_code naming p_what.';

-- _lease_s and _batch are plpgsql rather than sql: a sql function with a SET
-- clause is never inlined and plans its statement again on every call, which
-- cost the claim path more than the check itself; plpgsql keeps the plan.
CREATE OR REPLACE FUNCTION tasklease._lease_s(p_lease_s int)
RETURNS int
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    RETURN tasklease._check_range(
        'lease_s', coalesce(p_lease_s, tasklease._setting('lease_s')),
        1, tasklease._setting('max_lease_s'), 'TL002'
    );
END
$$;

COMMENT ON FUNCTION tasklease._lease_s(int) IS
'The lease length to use: the caller''s lease_s or the lease_s setting; TL002 when out of range.';

CREATE OR REPLACE FUNCTION tasklease._batch(p_what text, p_batch int, p_default text)
RETURNS int
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    RETURN tasklease._check_range(
        p_what,
        coalesce(p_batch, CASE WHEN p_default IS NOT NULL THEN tasklease._setting(p_default) END),
        1, tasklease._setting('max_batch'), 'TL003'
    );
END
$$;

COMMENT ON FUNCTION tasklease._batch(text, int, text) IS
'A batch size: the caller''s value, or the setting p_default when NULL; TL003 outside 1..max_batch.';

-- length() and an unbounded class rather than {0,62}: the regex engine
-- unrolls a bounded repetition, and matching it cost 4.3 us against 0.5 us,
-- most of this check, which every enqueue and claim of a queue runs.
-- _queue_ok is the rule, a sql function that the planner inlines into the
-- caller's expression: a hot path tests it in an IF (no statement, no call)
-- and calls _check_queue, which raises, only for a name it refuses.
CREATE OR REPLACE FUNCTION tasklease._queue_ok(p_queue text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT p_queue IS NOT NULL AND length(p_queue) <= 63
        AND p_queue ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'
$$;

COMMENT ON FUNCTION tasklease._queue_ok(text) IS
'Whether p_queue is a valid queue name: 1 to 63 characters, letters, digits and _ . : -, '
'starting with a letter or digit.';

CREATE OR REPLACE FUNCTION tasklease._check_queue(p_queue text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    IF NOT tasklease._queue_ok(p_queue) THEN
        RAISE EXCEPTION 'invalid queue name %', coalesce(quote_literal(p_queue), 'NULL')
            USING ERRCODE = 'TL005',
                  DETAIL = 'A queue name is 1 to 63 characters: letters, digits and _ . : -, '
                           'starting with a letter or digit.';
    END IF;
    RETURN p_queue;
END
$$;

COMMENT ON FUNCTION tasklease._check_queue(text) IS
'Returns the queue name when valid, else raises TL005.';

CREATE OR REPLACE FUNCTION tasklease._check_id(p_what text, p_value bigint)
RETURNS bigint
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    IF p_value IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', p_what
            USING ERRCODE = 'TL007',
                  HINT = CASE WHEN p_what = 'lease_token'
                      THEN 'Pass the lease_token that claim_task returned: every write is fenced by it.'
                      ELSE format('Pass a non-NULL %s.', p_what)
                  END;
    END IF;
    RETURN p_value;
END
$$;

COMMENT ON FUNCTION tasklease._check_id(text, bigint) IS
'Returns p_value when not NULL, else raises TL007 naming p_what.';

CREATE OR REPLACE FUNCTION tasklease._check_pairs(p_ids bigint [], p_tokens bigint [])
RETURNS int
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_ids IS NULL OR p_tokens IS NULL OR cardinality(p_ids) <> cardinality(p_tokens) THEN
        RAISE EXCEPTION 'task_ids and lease_tokens must be arrays of the same length'
            USING ERRCODE = 'TL007';
    END IF;
    RETURN tasklease._batch('task_ids', cardinality(p_ids), NULL);
END
$$;

COMMENT ON FUNCTION tasklease._check_pairs(bigint [], bigint []) IS
'The batch size of (task_ids, lease_tokens) arrays of equal length: TL007 when they differ, '
'TL003 outside 1..max_batch.';

-- The end of an operator action that changed nothing: TL009 when the task
-- does not exist (cancel_task, retry_task, run_task_now, take_back_task),
-- else nothing, and the caller returns false.
CREATE OR REPLACE FUNCTION tasklease._check_task_exists(p_task_id bigint)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM tasklease.tasks AS t WHERE t.id = p_task_id) THEN
        RAISE EXCEPTION 'task % does not exist', p_task_id USING ERRCODE = 'TL009';
    END IF;
END
$$;

COMMENT ON FUNCTION tasklease._check_task_exists(bigint) IS
'Raises TL009 when no task has this id.';

-- Delay before attempt n + 1: base * 2^(n - 1), capped, with +-25% jitter so
-- that tasks that failed together do not come back together.
CREATE OR REPLACE FUNCTION tasklease._backoff(p_base_s int, p_n int)
RETURNS interval
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT make_interval(secs => least(
        tasklease._setting('retry_max_s')::float8,
        p_base_s * power(2::float8, least(greatest(p_n - 1, 0), 30))
    ) * (0.75 + random() * 0.5));
$$;

COMMENT ON FUNCTION tasklease._backoff(int, int) IS
'Exponential backoff with jitter: base * 2^(n-1) seconds, capped at retry_max_s, times 0.75..1.25.';

CREATE OR REPLACE FUNCTION tasklease._notify(p_queue text)
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_notify('tasklease', p_queue);
$$;

COMMENT ON FUNCTION tasklease._notify(text) IS
'Wakes idle workers LISTENing on channel tasklease; the payload is the queue name.';

-- The one liveness rule: a worker row is alive while it has not said it
-- stopped and has heartbeated within worker_ttl_s.  The reaper (owner_dead),
-- register_worker (a name in use) and the worker_status view all use it.
CREATE OR REPLACE FUNCTION tasklease._worker_alive(
    p_last_heartbeat timestamptz,
    p_stopped_at timestamptz,
    p_now timestamptz,
    p_worker_ttl_s int
)
RETURNS boolean
LANGUAGE sql
STABLE  -- timestamptz - interval is STABLE; see _stale_reason (050_reaper.sql)
AS $$
    SELECT p_stopped_at IS NULL
        AND p_last_heartbeat >= p_now - make_interval(secs => p_worker_ttl_s);
$$;

COMMENT ON FUNCTION tasklease._worker_alive(timestamptz, timestamptz, timestamptz, int) IS
'Whether a worker row is alive at p_now: not stopped, and heartbeated within p_worker_ttl_s.';
