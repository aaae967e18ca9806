-- A bad owner is TL001.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(2);

SELECT throws_ok($$SELECT tasklease.recover_owner(NULL)$$, 'TL001', NULL, 'NULL owner: TL001');
SELECT throws_ok($$SELECT tasklease.recover_owner(E'a\tb')$$, 'TL001', NULL,
    'an owner with a control character: TL001');

SELECT * FROM finish();
ROLLBACK;
