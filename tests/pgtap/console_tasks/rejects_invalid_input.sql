-- console_tasks: page_size outside 1..500 is TL007, a bad queue name TL005.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(4);

SELECT throws_ok($$SELECT * FROM tasklease.console_tasks(page_size => 0)$$, 'TL007', NULL,
    'page_size 0 is TL007');
SELECT throws_ok($$SELECT * FROM tasklease.console_tasks(page_size => 501)$$, 'TL007', NULL,
    'page_size 501 is TL007');
SELECT throws_ok($$SELECT * FROM tasklease.console_tasks(page_size => NULL)$$, 'TL007', NULL,
    'a NULL page_size is TL007');
SELECT throws_ok($$SELECT * FROM tasklease.console_tasks('no spaces')$$, 'TL005', NULL,
    'a bad queue name is TL005');

SELECT * FROM finish();
ROLLBACK;
