-- reap_if_due takes a worker name like every other worker function: TL001.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(2);

SELECT throws_ok($$SELECT * FROM tasklease.reap_if_due(NULL)$$, 'TL001', NULL,
    'a NULL worker is TL001');
SELECT throws_ok($$SELECT * FROM tasklease.reap_if_due(' ')$$, 'TL001', NULL,
    'a blank worker is TL001');

SELECT * FROM finish();
ROLLBACK;
