-- A claim of every queue skips a paused queue and a queue at its limit and
-- fills the batch from the others, in claim order; a limited queue with room
-- gives only its free places even when its tasks come first.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(4);

SELECT tasklease.enqueue_many(array_fill('{}'::jsonb, ARRAY[4]), 'lim', priority => -1) \g /dev/null
SELECT tasklease.enqueue_many(array_fill('{}'::jsonb, ARRAY[4]), 'paused', priority => -2) \g /dev/null
SELECT tasklease.enqueue_many(array_fill('{}'::jsonb, ARRAY[4]), 'free', priority => 0) \g /dev/null
SELECT tasklease.set_queue('lim', max_running => 2) \g /dev/null
SELECT tasklease.set_queue('paused', paused => true) \g /dev/null

SELECT results_eq(
    $$SELECT queue FROM tasklease.claim_tasks('w', 3)$$,
    $$VALUES ('lim'), ('lim'), ('free')$$,
    'the limited queue first (its priority) but only its two places, then the free queue'
);
SELECT results_eq(
    $$SELECT queue FROM tasklease.claim_tasks('w', 5)$$,
    $$VALUES ('free'), ('free'), ('free')$$,
    'the limited queue is full and the paused one skipped: only the free queue'
);
SELECT is(tl_test.running('lim'), 2, 'the limited queue has two running');
SELECT is(tl_test.running('paused'), 0, 'the paused queue none');

SELECT * FROM finish();
ROLLBACK;
