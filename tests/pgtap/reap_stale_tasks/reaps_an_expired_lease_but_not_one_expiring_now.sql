-- Reason lease_expired: lease_expires_at < now().  A lease expiring exactly
-- now() is not stale; one microsecond earlier is.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(6);

SELECT tl_test.claimed_id('w1') AS at_now \gset
SELECT tl_test.claimed_id('w1') AS just_past \gset
SELECT tl_test.claimed_id('w1') AS healthy \gset
SELECT tl_test.expire(:at_now, interval '0');
SELECT tl_test.expire(:just_past, interval '1 microsecond');

SELECT results_eq(
    $$SELECT task_id, action, reason, owner_id, attempts FROM tasklease.reap_stale_tasks()$$,
    format($$VALUES (%s::bigint, 'requeued', 'lease_expired', 'w1', 1)$$, :just_past),
    'only the lease that expired one microsecond ago is reaped, as lease_expired'
);
SELECT is((tl_test.task(:just_past)).status, 'queued'::tasklease.task_status, 'it is queued');
SELECT is((tl_test.task(:at_now)).status, 'running'::tasklease.task_status,
    'a lease expiring exactly now() is still running');
SELECT is((tl_test.task(:healthy)).status, 'running'::tasklease.task_status,
    'a valid lease is still running');
SELECT is((tl_test.task(:at_now)).owner_id, 'w1', 'and keeps its owner');
SELECT is_empty($$SELECT * FROM tasklease.reap_stale_tasks()$$, 'a second run finds nothing');

SELECT * FROM finish();
ROLLBACK;
