-- Every claim of a task issues a lease_token strictly greater than the last,
-- whichever path gave the task back (release, fail, reaper), even to the same
-- owner.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(7);

SELECT tasklease.enqueue('{}', 'q', now(), 0, 10) AS id \gset
SELECT lease_token AS t1 FROM tasklease.claim_task('w1', 'q') \gset
SELECT is(tasklease.release_owner('w1'), 1, 'released');
SELECT lease_token AS t2 FROM tasklease.claim_task('w1', 'q') \gset
SELECT cmp_ok(:t2::bigint, '>', :t1::bigint, 'a re-claim after release has a larger token');

SELECT is(tasklease.fail_task(:id, 'w1', :t2, 'boom', 0), 'queued'::tasklease.task_status,
    'failed back to the queue');
SELECT lease_token AS t3 FROM tasklease.claim_task('w1', 'q') \gset
SELECT cmp_ok(:t3::bigint, '>', :t2::bigint, 'a re-claim after fail_task has a larger token');

SELECT tl_test.expire(:id, interval '1 second');
SELECT is((SELECT action FROM tasklease.reap_stale_tasks()), 'requeued', 'reaped');
UPDATE tasklease.tasks SET run_after = now() WHERE id = :id;
SELECT lease_token AS t4 FROM tasklease.claim_task('w1', 'q') \gset
SELECT cmp_ok(:t4::bigint, '>', :t3::bigint, 'a re-claim after a reap has a larger token');

SELECT is(
    (SELECT lease_token FROM tasklease.reaper_log WHERE task_id = :id AND actor = 'reap_stale_tasks'),
    :t3::bigint, 'the reaper log records the token it took back'
);

SELECT * FROM finish();
ROLLBACK;
