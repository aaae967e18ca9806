-- Enqueue: one task or many, each a queued row; a NOTIFY wakes idle workers.
-- Locks: none beyond the inserted rows.  Time source: now().

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
