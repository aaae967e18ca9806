-- fail_task while attempts < max_attempts requeues the task, unowned, with
-- run_after in the future (jittered exponential backoff from retry_base_s)
-- and the error stored.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(9);

SELECT * FROM tl_test.claimed('w1', NULL, 'default', '{}', 3) \gset c_
SELECT is(tasklease.fail_task(:c_id, 'w1', :c_lease_token, 'boom: disk full'),
    'queued'::tasklease.task_status, 'returns queued');
SELECT is((tl_test.task(:c_id)).status, 'queued'::tasklease.task_status, 'the task is queued');
SELECT is((tl_test.task(:c_id)).last_error, 'boom: disk full', 'the error text is stored');
SELECT ok((tl_test.task(:c_id)).owner_id IS NULL AND (tl_test.task(:c_id)).lease_token IS NULL
    AND (tl_test.task(:c_id)).lease_expires_at IS NULL, 'owner, token and lease are cleared');
-- attempts = 1, retry_base_s = 10: 10 s * 2^0 * (0.75 .. 1.25).
SELECT ok((tl_test.task(:c_id)).run_after BETWEEN now() + interval '7.5 seconds'
    AND now() + interval '12.5 seconds', 'first retry after 10 s +- 25%');
SELECT is((tl_test.task(:c_id)).attempts, 1, 'attempts still counts the claim');
SELECT ok((tl_test.task(:c_id)).finished_at IS NULL, 'not finished');
SELECT is_empty($$SELECT * FROM tasklease.claim_task('w1')$$, 'not claimable before its backoff');

-- Second failure: 20 s * (0.75 .. 1.25).
UPDATE tasklease.tasks SET run_after = now() WHERE id = :c_id;
SELECT lease_token AS t2 FROM tasklease.claim_task('w1') \gset
SELECT tasklease.fail_task(:c_id, 'w1', :t2, 'again') AS st \gset
SELECT ok((tl_test.task(:c_id)).run_after BETWEEN now() + interval '15 seconds'
    AND now() + interval '25 seconds', 'the backoff doubles per attempt');

SELECT * FROM finish();
ROLLBACK;
