-- Mismatched or NULL arrays are TL007, too many pairs TL003, bad owner TL001,
-- bad lease_s TL002.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(7);

SELECT throws_ok($$SELECT * FROM tasklease.renew_leases('w', ARRAY[1, 2], ARRAY[1])$$,
    'TL007', NULL, 'arrays of different lengths are TL007');
SELECT throws_ok($$SELECT * FROM tasklease.renew_leases('w', NULL, ARRAY[1]::bigint [])$$,
    'TL007', NULL, 'a NULL task_ids array is TL007');
SELECT throws_ok($$SELECT * FROM tasklease.renew_leases('w', ARRAY[1]::bigint [], NULL)$$,
    'TL007', NULL, 'a NULL lease_tokens array is TL007');
UPDATE tasklease.settings SET value = 2 WHERE name IN ('reap_batch', 'prune_batch');
UPDATE tasklease.settings SET value = 2 WHERE name = 'max_batch';
SELECT throws_ok($$SELECT * FROM tasklease.renew_leases('w', ARRAY[1, 2, 3], ARRAY[1, 2, 3])$$,
    'TL003', NULL, 'more pairs than max_batch is TL003');
SELECT throws_ok($$SELECT * FROM tasklease.renew_leases(NULL, ARRAY[1], ARRAY[1])$$,
    'TL001', NULL, 'a NULL owner is TL001');
SELECT throws_ok($$SELECT * FROM tasklease.renew_leases('', ARRAY[1], ARRAY[1])$$,
    'TL001', NULL, 'an empty owner is TL001');
SELECT throws_ok($$SELECT * FROM tasklease.renew_leases('w', ARRAY[1], ARRAY[1], -1)$$,
    'TL002', NULL, 'a negative lease_s is TL002');

SELECT * FROM finish();
ROLLBACK;
