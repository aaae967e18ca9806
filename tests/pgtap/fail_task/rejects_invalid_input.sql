-- NULL task_id/lease_token TL007, bad owner TL001, retry_in_s out of range TL002.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(6);

SELECT throws_ok($$SELECT tasklease.fail_task(NULL, 'w', 1, 'e')$$, 'TL007', NULL,
    'a NULL task_id is TL007');
SELECT throws_ok($$SELECT tasklease.fail_task(1, 'w', NULL, 'e')$$, 'TL007', NULL,
    'a NULL lease_token is TL007');
SELECT throws_ok($$SELECT tasklease.fail_task(1, NULL, 1, 'e')$$, 'TL001', NULL,
    'a NULL owner is TL001');
SELECT throws_ok($$SELECT tasklease.fail_task(1, '', 1, 'e')$$, 'TL001', NULL,
    'an empty owner is TL001');
SELECT throws_ok($$SELECT tasklease.fail_task(1, 'w', 1, 'e', -1)$$, 'TL002', NULL,
    'a negative retry_in_s is TL002');
SELECT throws_ok($$SELECT tasklease.fail_task(1, 'w', 1, 'e', 3601)$$, 'TL002', NULL,
    'retry_in_s above retry_max_s is TL002');

SELECT * FROM finish();
ROLLBACK;
