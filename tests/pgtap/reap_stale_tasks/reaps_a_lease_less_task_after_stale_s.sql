-- Reason no_lease: a running task with no lease at all whose updated_at is
-- older than stale_s (exactly stale_s is not stale).
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT tl_test.lease_less('old-client', interval '900 seconds') AS at_stale \gset
SELECT tl_test.lease_less('old-client', interval '900 seconds 1 microsecond') AS past \gset
SELECT tl_test.lease_less('old-client', interval '1 second') AS fresh \gset

SELECT results_eq(
    $$SELECT task_id, action, reason, owner_id FROM tasklease.reap_stale_tasks()$$,
    format($$VALUES (%s::bigint, 'requeued', 'no_lease', 'old-client')$$, :past),
    'only the row untouched for more than stale_s is reaped, as no_lease'
);
SELECT is((tl_test.task(:at_stale)).status, 'running'::tasklease.task_status,
    'exactly stale_s old: still running');
SELECT is((tl_test.task(:fresh)).status, 'running'::tasklease.task_status,
    'recently updated: still running');
SELECT is((tl_test.task(:past)).requeue_count, 1, 'the reaped row spent one requeue');

UPDATE tasklease.settings SET value = 1 WHERE name = 'stale_s';
SELECT results_eq(
    $$SELECT task_id FROM tasklease.reap_stale_tasks()$$,
    ARRAY[:at_stale]::bigint [],
    'stale_s is read from the settings (a row exactly 1 s old is still not stale at stale_s 1)'
);

SELECT * FROM finish();
ROLLBACK;
