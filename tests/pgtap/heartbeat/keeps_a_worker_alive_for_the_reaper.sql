-- A worker whose heartbeat is older than worker_ttl_s loses its tasks to the
-- reaper (owner_dead); one heartbeat brings it back to life.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(2);

SELECT tl_test.claimed_id('w1') AS id \gset
SELECT tl_test.worker('w1', interval '10 minutes');
SELECT is((SELECT reason FROM tasklease.reap_stale_tasks(NULL, true)), 'owner_dead',
    'a silent worker''s task is stale');
SELECT tasklease.heartbeat('w1');
SELECT is_empty($$SELECT * FROM tasklease.reap_stale_tasks(NULL, true)$$,
    'after a heartbeat it is not');

SELECT * FROM finish();
ROLLBACK;
