-- A task that completed, failed or was cancelled frees its key: enqueue with
-- it adds a new task, and the key moves to it.  A handler failure that
-- requeues keeps it.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(7);

SELECT tasklease.enqueue('{}', 'q', dedupe_key => 'k') AS t1 \gset
SELECT * FROM tasklease.claim_task('w', 'q') \gset c_
SELECT is(tasklease.fail_task(:c_id, 'w', :c_lease_token, 'boom', 0), 'queued'::tasklease.task_status,
    'a failure with attempts left requeues the task');
SELECT is(tasklease.enqueue('{}', 'q', dedupe_key => 'k'), :t1::bigint,
    'the requeued task still holds the key');

SELECT * FROM tasklease.claim_task('w', 'q') \gset c_
SELECT ok(tasklease.complete_task(:c_id, 'w', :c_lease_token), 'the task completes');
SELECT tasklease.enqueue('{}', 'q', dedupe_key => 'k') AS t2 \gset
SELECT isnt(:t2::bigint, :t1::bigint, 'a completed task frees its key: a new task');
SELECT is((tl_test.task(:t1)).dedupe_key, NULL, 'the key moved from the completed task');
SELECT is((tl_test.task(:t2)).dedupe_key, 'k', 'to the new one');

SELECT tasklease.cancel_task(:t2) AS cancelled \gset
SELECT isnt(tasklease.enqueue('{}', 'q', dedupe_key => 'k'), :t2::bigint,
    'a cancelled task frees its key too');

SELECT * FROM finish();
ROLLBACK;
