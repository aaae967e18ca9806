-- Bad owner TL001; NULL/empty incarnation or a non-object info TL007.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT throws_ok($$SELECT tasklease.register_worker(NULL, 'i')$$, 'TL001', NULL,
    'a NULL owner is TL001');
SELECT throws_ok($$SELECT tasklease.register_worker(repeat('w', 201), 'i')$$, 'TL001', NULL,
    'a too long owner is TL001');
SELECT throws_ok($$SELECT tasklease.register_worker('w', NULL)$$, 'TL007', NULL,
    'a NULL incarnation is TL007');
SELECT throws_ok($$SELECT tasklease.register_worker('w', '')$$, 'TL007', NULL,
    'an empty incarnation is TL007');
SELECT throws_ok($$SELECT tasklease.register_worker('w', 'i', 'h', 1, '"x"')$$, 'TL007', NULL,
    'an info that is not an object is TL007');

SELECT * FROM finish();
ROLLBACK;
