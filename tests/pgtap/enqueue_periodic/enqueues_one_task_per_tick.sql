-- enqueue_periodic enqueues one task per tick of the schedule: runs within
-- a tick (a second job, a late run, a run by hand) return the tick's task,
-- also after it finished; the next tick is a new task.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(9);

SELECT tasklease.schedule_task('five', '*/5 * * * *', '{"p": 1}', 'pq', 2, 3) \g /dev/null
SELECT tasklease.enqueue_periodic('five', '2025-01-01 10:05:00+00') AS t1 \gset
SELECT results_eq(
    format('SELECT queue, payload, priority, max_attempts, dedupe_key FROM tasklease.tasks WHERE id = %s', :t1),
    $$VALUES ('pq', '{"p": 1}'::jsonb, 2, 3, 'periodic:five@2025-01-01T10:05:00Z')$$,
    'the task carries the queue, payload, priority, max_attempts and the tick''s key'
);
SELECT is(tasklease.enqueue_periodic('five', '2025-01-01 10:05:00+00'), :t1::bigint,
    'the same tick again (a second job): the same task');
SELECT is(tasklease.enqueue_periodic('five', '2025-01-01 10:09:59+00'), :t1::bigint,
    'a run 4 minutes late still belongs to the 10:05 tick');
SELECT tasklease.enqueue_periodic('five', '2025-01-01 10:10:00+00') AS t2 \gset
SELECT isnt(:t2::bigint, :t1::bigint, 'the 10:10 tick is a new task');

SELECT * FROM tasklease.claim_task('w', 'pq') \gset c_
SELECT * FROM tasklease.claim_task('w', 'pq') \gset d_
SELECT ok(tasklease.complete_task(:c_id, 'w', :c_lease_token)
    AND tasklease.complete_task(:d_id, 'w', :d_lease_token), 'both tasks complete');
SELECT is(tasklease.enqueue_periodic('five', '2025-01-01 10:14:00+00'), :t2::bigint,
    'a finished task still holds its tick');
SELECT is((SELECT count(*)::int FROM tasklease.tasks), 2, 'two ticks, two tasks');
SELECT results_eq(
    $$SELECT last_tick, last_task_id FROM tasklease.periodic_tasks$$,
    format($$VALUES ('2025-01-01 10:10:00+00'::timestamptz, %s::bigint)$$, :t2),
    'periodic_tasks shows the last tick and its task'
);
SELECT tasklease.enqueue_periodic('five', '2025-01-01 10:05:30+00') \g /dev/null
SELECT is((SELECT last_tick FROM tasklease.periodic_tasks), '2025-01-01 10:10:00+00'::timestamptz,
    'a run for an older tick does not move last_tick back');

SELECT * FROM finish();
ROLLBACK;
