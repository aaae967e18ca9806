-- Expiry makes a lease reapable, not void: the holder may still complete.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(2);

SELECT * FROM tl_test.claimed('w1', 10) \gset c_
SELECT tl_test.expire(:c_id, interval '1 day');
SELECT is(tasklease.complete_task(:c_id, 'w1', :c_lease_token), true,
    'an expired, untouched lease still completes');
SELECT is_empty($$SELECT * FROM tasklease.reap_stale_tasks()$$,
    'nothing is left for the reaper');

SELECT * FROM finish();
ROLLBACK;
