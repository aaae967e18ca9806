-- console_queues: the age of the oldest runnable task, the stale tasks (as
-- stale_tasks judges them) and the running tasks whose worker is dead.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(4);

SELECT tasklease.enqueue('{}', 'a', now() - interval '90 seconds');
SELECT tasklease.enqueue('{}', 'a', now() - interval '30 seconds');
SELECT tasklease.enqueue('{}', 'a', now() + interval '1 hour');
SELECT tl_test.worker('dead', interval '1 hour');
SELECT tl_test.worker('alive');
SELECT (tl_test.claimed('dead', p_queue => 'a')).id AS d1 \gset
SELECT (tl_test.claimed('dead', p_queue => 'b')).id AS d2 \gset
SELECT (tl_test.claimed('alive', p_queue => 'b')).id AS a1 \gset
SELECT tl_test.expire(:a1, interval '1 second');

SELECT is((SELECT oldest_runnable_s FROM tasklease.console_queues() WHERE queue = 'a'),
    90.0, 'the oldest runnable task of a waits since 90 s');
SELECT is((SELECT oldest_runnable_s FROM tasklease.console_queues() WHERE queue = 'b'),
    NULL, 'b has nothing runnable');
SELECT results_eq(
    $$SELECT queue, stale FROM tasklease.console_queues()$$,
    $$VALUES ('a', 1::bigint), ('b', 2::bigint)$$,
    'stale tasks per queue: the dead owner''s and the expired lease'
);
SELECT results_eq(
    $$SELECT queue, dead_owner_tasks FROM tasklease.console_queues()$$,
    $$VALUES ('a', 1::bigint), ('b', 1::bigint)$$,
    'running tasks of a dead worker per queue'
);

SELECT * FROM finish();
ROLLBACK;
