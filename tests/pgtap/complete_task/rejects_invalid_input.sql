-- NULL task_id or lease_token is TL007 (every write is fenced), bad owner TL001.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT throws_ok($$SELECT tasklease.complete_task(NULL, 'w', 1)$$, 'TL007', NULL,
    'a NULL task_id is TL007');
SELECT throws_ok($$SELECT tasklease.complete_task(1, 'w', NULL)$$, 'TL007', NULL,
    'a NULL lease_token is TL007');
SELECT throws_ok($$SELECT tasklease.complete_task(1, NULL, 1)$$, 'TL001', NULL,
    'a NULL owner is TL001');
SELECT throws_ok($$SELECT tasklease.complete_task(1, '', 1)$$, 'TL001', NULL,
    'an empty owner is TL001');
SELECT throws_ok(format('SELECT tasklease.complete_task(1, %L, 1)', repeat('o', 201)),
    'TL001', NULL, 'a too long owner is TL001');

SELECT * FROM finish();
ROLLBACK;
