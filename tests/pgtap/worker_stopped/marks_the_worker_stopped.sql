-- worker_stopped sets stopped_at (for the given incarnation only, when one is
-- given); the reaper then treats what the owner holds as owner_dead.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(7);

SELECT tl_test.worker('w1');
SELECT tl_test.claimed_id('w1') AS id \gset
SELECT is(tasklease.worker_stopped('w1', 'other-incarnation'), false,
    'another incarnation is not stopped');
SELECT ok((SELECT stopped_at IS NULL FROM tasklease.workers WHERE owner_id = 'w1'),
    'still running');
SELECT is(tasklease.worker_stopped('w1', 'inc-1'), true, 'this incarnation is stopped');
SELECT is((SELECT stopped_at FROM tasklease.workers WHERE owner_id = 'w1'), now(),
    'stopped_at is now()');
SELECT is((SELECT reason FROM tasklease.reap_stale_tasks(NULL, true) WHERE task_id = :id),
    'owner_dead', 'its task is stale with reason owner_dead');
SELECT is(tasklease.worker_stopped('nobody'), false, 'an unknown worker gives false');
SELECT throws_ok($$SELECT tasklease.worker_stopped('')$$, 'TL001', NULL,
    'an empty owner is TL001');

SELECT * FROM finish();
ROLLBACK;
