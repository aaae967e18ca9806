-- The queues view: every queue with tasks or settings, its state (active,
-- at_limit, paused), max_running, and its queued, runnable and running tasks.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(3);

SELECT count(*) FROM tl_test.enqueue_n('busy', 3) \g /dev/null
SELECT tasklease.enqueue('{}', 'busy', now() + interval '1 hour') \g /dev/null
SELECT tasklease.set_queue('busy', max_running => 1) \g /dev/null
SELECT count(*) FROM tasklease.claim_tasks('w', 1, 'busy') \g /dev/null
SELECT count(*) FROM tl_test.enqueue_n('plain', 2) \g /dev/null
SELECT tasklease.set_queue('idle', paused => true) \g /dev/null

SELECT results_eq(
    $$SELECT queue, state, paused, max_running, queued, runnable, running
      FROM tasklease.queues ORDER BY queue$$,
    $$VALUES ('busy', 'at_limit', false, 1, 3::bigint, 2::bigint, 1::bigint),
             ('idle', 'paused', true, NULL, 0, 0, 0),
             ('plain', 'active', false, NULL, 2, 2, 0)$$,
    'state and counts per queue'
);
SELECT tasklease.set_queue('busy', max_running => 5) \g /dev/null
SELECT is((SELECT state FROM tasklease.queues WHERE queue = 'busy'), 'active',
    'below a raised limit it is active');
SELECT tasklease.set_queue('idle', paused => false) \g /dev/null
SELECT is((SELECT state FROM tasklease.queues WHERE queue = 'idle'), 'active',
    'a resumed queue is active');

SELECT * FROM finish();
ROLLBACK;
