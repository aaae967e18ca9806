-- A bad owner is TL001.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(3);

SELECT throws_ok($$SELECT tasklease.release_owner(NULL)$$, 'TL001', NULL, 'NULL owner: TL001');
SELECT throws_ok($$SELECT tasklease.release_owner('')$$, 'TL001', NULL, 'empty owner: TL001');
SELECT throws_ok($$SELECT tasklease.release_owner(repeat('x', 201))$$, 'TL001', NULL,
    'too long owner: TL001');

SELECT * FROM finish();
ROLLBACK;
