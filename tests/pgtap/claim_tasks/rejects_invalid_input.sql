-- max_tasks outside 1..max_batch is TL003; owner, lease and queue as claim_task.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(9);

SELECT count(*) FROM tasklease.enqueue_many(array_fill('{}'::jsonb, ARRAY[3])) \gset

SELECT throws_ok($$SELECT * FROM tasklease.claim_tasks('w', 0)$$, 'TL003', NULL,
    'max_tasks 0 is TL003');
SELECT throws_ok($$SELECT * FROM tasklease.claim_tasks('w', -1)$$, 'TL003', NULL,
    'a negative max_tasks is TL003');
SELECT throws_ok($$SELECT * FROM tasklease.claim_tasks('w', NULL)$$, 'TL003', NULL,
    'a NULL max_tasks is TL003');
SELECT throws_ok($$SELECT * FROM tasklease.claim_tasks('w', 10001)$$, 'TL003', NULL,
    'max_tasks above max_batch is TL003');
SELECT throws_ok($$SELECT * FROM tasklease.claim_tasks(NULL, 1)$$, 'TL001', NULL,
    'a NULL owner is TL001');
SELECT throws_ok($$SELECT * FROM tasklease.claim_tasks('', 1)$$, 'TL001', NULL,
    'an empty owner is TL001');
SELECT throws_ok($$SELECT * FROM tasklease.claim_tasks('w', 1, NULL, 0)$$, 'TL002', NULL,
    'lease_s 0 is TL002');
SELECT throws_ok($$SELECT * FROM tasklease.claim_tasks('w', 1, '.q')$$, 'TL005', NULL,
    'a bad queue name is TL005');
SELECT is((SELECT count(*)::int FROM tasklease.tasks WHERE status = 'queued'), 3,
    'nothing was claimed');

SELECT * FROM finish();
ROLLBACK;
