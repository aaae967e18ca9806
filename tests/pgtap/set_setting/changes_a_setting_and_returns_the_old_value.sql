-- set_setting changes one setting and returns its old value; unknown names
-- and values below the minimum are TL006.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(9);

SELECT is(tasklease.set_setting('stale_s', 120), 900, 'returns the old value');
SELECT is((SELECT value FROM tasklease.settings WHERE name = 'stale_s'), 120, 'stores the new one');
SELECT is(tasklease.set_setting('max_requeue', 0), 3, 'max_requeue may be 0');
SELECT is(tasklease.set_setting('requeue_backoff_s', 0), 5, 'requeue_backoff_s may be 0');
SELECT throws_ok($$SELECT tasklease.set_setting('no_such_setting', 1)$$, 'TL006', NULL,
    'an unknown setting is TL006');
SELECT throws_ok($$SELECT tasklease.set_setting(NULL, 1)$$, 'TL006', NULL,
    'a NULL name is TL006');
SELECT throws_ok($$SELECT tasklease.set_setting('lease_s', 0)$$, 'TL006', NULL,
    'lease_s 0 is TL006');
SELECT throws_ok($$SELECT tasklease.set_setting('lease_s', NULL)$$, 'TL006', NULL,
    'a NULL value is TL006');
SELECT throws_ok($$SELECT tasklease.set_setting('max_requeue', -1)$$, 'TL006', NULL,
    'a negative max_requeue is TL006');

SELECT * FROM finish();
ROLLBACK;
