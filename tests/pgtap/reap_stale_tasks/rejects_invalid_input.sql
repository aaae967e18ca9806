-- batch outside 1..max_batch is TL003.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(4);

SELECT throws_ok($$SELECT * FROM tasklease.reap_stale_tasks(0)$$, 'TL003', NULL,
    'batch 0 is TL003');
SELECT throws_ok($$SELECT * FROM tasklease.reap_stale_tasks(-1)$$, 'TL003', NULL,
    'a negative batch is TL003');
SELECT throws_ok($$SELECT * FROM tasklease.reap_stale_tasks(10001)$$, 'TL003', NULL,
    'batch above max_batch is TL003');
SELECT throws_ok($$SELECT * FROM tasklease.reap_stale_tasks(0, true)$$, 'TL003', NULL,
    'a dry run checks batch too');

SELECT * FROM finish();
ROLLBACK;
