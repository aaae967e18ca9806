-- stale_s < 1 is TL002, a negative max_requeue TL007, a bad batch TL003.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT throws_ok($$SELECT * FROM tasklease.cleanup_stale_tasks(0)$$, 'TL002', NULL,
    'stale_s 0 is TL002');
SELECT throws_ok($$SELECT * FROM tasklease.cleanup_stale_tasks(-60)$$, 'TL002', NULL,
    'a negative stale_s is TL002');
SELECT throws_ok($$SELECT * FROM tasklease.cleanup_stale_tasks(60, -1)$$, 'TL007', NULL,
    'a negative max_requeue is TL007');
SELECT throws_ok($$SELECT * FROM tasklease.cleanup_stale_tasks(60, 1, 0)$$, 'TL003', NULL,
    'batch 0 is TL003');
SELECT throws_ok($$SELECT * FROM tasklease.cleanup_stale_tasks(60, 1, 10001, true)$$, 'TL003',
    NULL, 'batch above max_batch is TL003, also in a dry run');

SELECT * FROM finish();
ROLLBACK;
