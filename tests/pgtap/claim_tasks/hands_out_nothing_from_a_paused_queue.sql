-- A paused queue hands out nothing, to a claim of that queue or of every
-- queue; other queues are claimed as usual; resuming hands its tasks out.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(6);

SELECT count(*) FROM tl_test.enqueue_n('p', 3) \g /dev/null
SELECT count(*) FROM tl_test.enqueue_n('other', 2) \g /dev/null
SELECT tasklease.set_queue('p', paused => true) \g /dev/null

SELECT is_empty($$SELECT * FROM tasklease.claim_tasks('w', 5, 'p')$$,
    'a claim of the paused queue gets nothing');
SELECT is_empty($$SELECT * FROM tasklease.claim_task('w', 'p')$$, 'nor does claim_task');
SELECT results_eq($$SELECT queue FROM tasklease.claim_tasks('w', 10)$$,
    $$VALUES ('other'), ('other')$$, 'a claim of every queue gets only the other queue');
SELECT is(tl_test.running('p'), 0, 'nothing of p is running');

SELECT tasklease.set_queue('p', paused => false) \g /dev/null
SELECT is((SELECT count(*)::int FROM tasklease.claim_tasks('w', 10)), 3,
    'resumed: its tasks are handed out');
SELECT is(tl_test.running('p'), 3, 'all three of p run');

SELECT * FROM finish();
ROLLBACK;
