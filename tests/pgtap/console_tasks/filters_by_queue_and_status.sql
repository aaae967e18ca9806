-- console_tasks filters by queue, by status, or both.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT tasklease.enqueue('{}', 'a') AS qa \gset
SELECT tasklease.enqueue('{}', 'b') AS qb \gset
SELECT * FROM tl_test.claimed('w1', p_queue => 'a', p_max_attempts => 1) \gset fa_
SELECT tasklease.fail_task(:fa_id, 'w1', :fa_lease_token, 'boom');
SELECT * FROM tl_test.claimed('w1', p_queue => 'b', p_max_attempts => 1) \gset fb_
SELECT tasklease.fail_task(:fb_id, 'w1', :fb_lease_token, 'boom');
SELECT (tl_test.claimed('w1', p_queue => 'b')).id AS rb \gset

SELECT set_eq($$SELECT id FROM tasklease.console_tasks('a')$$,
    format('VALUES (%s::bigint), (%s)', :qa, :fa_id), 'queue a');
SELECT set_eq($$SELECT id FROM tasklease.console_tasks(status_filter => 'failed')$$,
    format('VALUES (%s::bigint), (%s)', :fa_id, :fb_id), 'failed, every queue');
SELECT set_eq($$SELECT id FROM tasklease.console_tasks('b', 'failed')$$,
    format('VALUES (%s::bigint)', :fb_id), 'failed in queue b');
SELECT set_eq($$SELECT id FROM tasklease.console_tasks('b', 'running')$$,
    format('VALUES (%s::bigint)', :rb), 'running in queue b');
SELECT is_empty($$SELECT id FROM tasklease.console_tasks('nosuchqueue')$$,
    'an unknown queue: no rows');

SELECT * FROM finish();
ROLLBACK;
