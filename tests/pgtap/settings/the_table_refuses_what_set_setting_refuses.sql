-- tasklease.settings refuses, for any writer, what set_setting refuses: a value
-- out of its bounds, one inconsistent with another setting, an unknown name,
-- a rename or a delete (TL006), so that no UPDATE can leave a value that
-- stops the reaper.  An unchanged value is never re-checked.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(10);

SELECT throws_ok($$UPDATE tasklease.settings SET value = 1000000 WHERE name = 'reap_batch'$$,
    'TL006', NULL, 'reap_batch above max_batch is refused');
SELECT lives_ok($$SELECT count(*) FROM tasklease.reap_stale_tasks()$$,
    'so the reaper still runs');
SELECT throws_ok($$UPDATE tasklease.settings SET value = 0 WHERE name = 'lease_s'$$,
    'TL006', NULL, 'a lease of 0 s is refused');
SELECT throws_ok($$UPDATE tasklease.settings SET value = 100 WHERE name = 'max_lease_s'$$,
    'TL006', NULL, 'max_lease_s below lease_s is refused');
SELECT throws_ok($$UPDATE tasklease.settings SET value = -1 WHERE name = 'max_requeue'$$,
    'TL006', NULL, 'a negative max_requeue is refused');
SELECT throws_ok($$INSERT INTO tasklease.settings (name, value) VALUES ('no_such', 1)$$,
    'TL006', NULL, 'an unknown setting is refused');
SELECT throws_ok($$DELETE FROM tasklease.settings WHERE name = 'worker_ttl_s'$$,
    'TL006', NULL, 'a setting cannot be deleted');
SELECT throws_ok($$UPDATE tasklease.settings SET name = 'x' WHERE name = 'stale_s'$$,
    'TL006', NULL, 'a setting cannot be renamed');
SELECT throws_ok($$SELECT tasklease.set_setting('max_batch', 100)$$,
    'TL006', NULL, 'set_setting goes through the same rule');
SELECT lives_ok(
    $$UPDATE tasklease.settings SET description = description || ' (edited)'$$,
    'a write that leaves every value as it is passes');

SELECT * FROM finish();
ROLLBACK;
