-- takeover with previous_incarnation replaces only that incarnation: a
-- second process that saw the same dead pid finds a new live incarnation in
-- its place and is refused (TL008).  takeover without previous_incarnation
-- (clients of release 0.1.0) still takes over whatever holds the name.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT tl_test.worker('w1', interval '1 second', false, 'dead-inc');

SELECT lives_ok(
    $$SELECT tasklease.register_worker('w1', 'new-a', 'host-a', 1, NULL, true, 'dead-inc')$$,
    'the first taker of the dead incarnation gets the name');
SELECT is((SELECT incarnation FROM tasklease.workers WHERE owner_id = 'w1'), 'new-a',
    'the name is new-a''s');
SELECT throws_ok(
    $$SELECT tasklease.register_worker('w1', 'new-b', 'host-a', 2, NULL, true, 'dead-inc')$$,
    'TL008', NULL, 'the second taker of the same dead incarnation is refused');
SELECT is((SELECT incarnation FROM tasklease.workers WHERE owner_id = 'w1'), 'new-a',
    'new-a keeps the name');
SELECT lives_ok(
    $$SELECT tasklease.register_worker('w1', 'old-client', 'host-a', 3, NULL, true)$$,
    'takeover without previous_incarnation takes the name unconditionally');

SELECT * FROM finish();
ROLLBACK;
