-- console_queues: exact live counts per queue; finished counts exact up to
-- count_limit, NULL with count_limit 0.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT tasklease.enqueue('{}', 'a');
SELECT tasklease.enqueue('{}', 'a', now() + interval '1 hour');
SELECT tl_test.claimed('w1', p_queue => 'a');
INSERT INTO tasklease.tasks (queue, payload, status, finished_at)
SELECT 'b', '{}', 'completed', now() FROM generate_series(1, 5);
INSERT INTO tasklease.tasks (queue, payload, status, finished_at)
VALUES ('b', '{}', 'failed', now()), ('b', '{}', 'cancelled', now());

SELECT results_eq(
    $$SELECT queue, queued, runnable, running FROM tasklease.console_queues()$$,
    $$VALUES ('a', 2::bigint, 1::bigint, 1::bigint), ('b', 0, 0, 0)$$,
    'live counts per queue: queued, runnable, running'
);
SELECT results_eq(
    $$SELECT queue, completed, failed, cancelled FROM tasklease.console_queues()$$,
    $$VALUES ('a', 0::bigint, 0::bigint, 0::bigint), ('b', 5, 1, 1)$$,
    'finished counts per queue'
);
SELECT results_eq(
    $$SELECT completed, failed FROM tasklease.console_queues(3) WHERE queue = 'b'$$,
    $$VALUES (3::bigint, 1::bigint)$$,
    'count_limit caps the finished counts'
);
SELECT results_eq(
    $$SELECT completed, failed, cancelled, queued FROM tasklease.console_queues(0)
      WHERE queue = 'b'$$,
    $$VALUES (NULL::bigint, NULL::bigint, NULL::bigint, 0::bigint)$$,
    'count_limit 0: no finished counts, live counts still there'
);
SELECT is_empty(
    $$SELECT * FROM tasklease.console_queues() WHERE queue NOT IN ('a', 'b')$$,
    'one row per queue that has tasks'
);

SELECT * FROM finish();
ROLLBACK;
