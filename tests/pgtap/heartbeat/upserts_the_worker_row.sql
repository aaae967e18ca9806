-- heartbeat creates or refreshes the owner's workers row: last_heartbeat =
-- now(), stopped cleared, info replaced only when given.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(9);

SELECT tasklease.heartbeat('w1', '{"v": 1}');
SELECT is((SELECT last_heartbeat FROM tasklease.workers WHERE owner_id = 'w1'), now(),
    'a new row with last_heartbeat now()');
SELECT is((SELECT info FROM tasklease.workers WHERE owner_id = 'w1'), '{"v": 1}'::jsonb,
    'info is stored');

SELECT tl_test.worker('w1', interval '5 minutes', true);
SELECT tasklease.heartbeat('w1');
SELECT is((SELECT last_heartbeat FROM tasklease.workers WHERE owner_id = 'w1'), now(),
    'an old heartbeat is refreshed');
SELECT ok((SELECT stopped_at IS NULL FROM tasklease.workers WHERE owner_id = 'w1'),
    'a heartbeat clears stopped_at');
SELECT is((SELECT info FROM tasklease.workers WHERE owner_id = 'w1'), '{"v": 1}'::jsonb,
    'a NULL info keeps the previous info');
SELECT tasklease.heartbeat('w1', '{"v": 2}');
SELECT is((SELECT info FROM tasklease.workers WHERE owner_id = 'w1'), '{"v": 2}'::jsonb,
    'a new info replaces it');
SELECT is((SELECT count(*)::int FROM tasklease.workers), 1, 'one row per worker name');

SELECT throws_ok($$SELECT tasklease.heartbeat('w1', '[1]')$$, 'TL007', NULL,
    'an info that is not an object is TL007');
SELECT throws_ok($$SELECT tasklease.heartbeat(NULL)$$, 'TL001', NULL, 'a NULL owner is TL001');

SELECT * FROM finish();
ROLLBACK;
