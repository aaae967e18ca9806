-- claim_task returns no row when no task is queued and due, and leaves
-- future, running and finished tasks alone.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(6);

SELECT is_empty($$SELECT * FROM tasklease.claim_task('w1')$$, 'an empty queue gives no row');

SELECT tasklease.enqueue('{}', 'default', now() + interval '1 microsecond') AS future \gset
SELECT is_empty($$SELECT * FROM tasklease.claim_task('w1')$$,
    'a task due one microsecond from now is not claimed');
SELECT is((tl_test.task(:future)).status, 'queued'::tasklease.task_status,
    'the future task stays queued');

SELECT tl_test.claimed_id('w0') AS running \gset
SELECT tasklease.enqueue('{}') AS done \gset
SELECT tasklease.cancel_task(:done) AS cancelled \gset
SELECT is_empty($$SELECT * FROM tasklease.claim_task('w1')$$,
    'running and cancelled tasks are not claimed');

UPDATE tasklease.tasks SET run_after = now() WHERE id = :future;
SELECT is((SELECT id FROM tasklease.claim_task('w1')), :future::bigint,
    'a task due exactly now() is claimed');
SELECT is((tl_test.task(:running)).owner_id, 'w0', 'the running task kept its owner');

SELECT * FROM finish();
ROLLBACK;
