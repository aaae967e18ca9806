-- When several reasons apply, the first of lease_expired, owner_dead,
-- no_lease is reported.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(3);

SELECT tl_test.worker('dead', interval '1 hour');
SELECT tl_test.claimed_id('dead') AS expired_and_dead \gset
SELECT tl_test.expire(:expired_and_dead, interval '1 second');
SELECT tl_test.lease_less('dead', interval '1 day') AS leaseless_and_dead \gset
SELECT tl_test.worker('alive', interval '0');
SELECT tl_test.claimed_id('alive') AS expired_alive \gset
SELECT tl_test.expire(:expired_alive, interval '1 second');

CREATE TEMP TABLE got AS SELECT * FROM tasklease.reap_stale_tasks();
SELECT is((SELECT reason FROM got WHERE task_id = :expired_and_dead), 'lease_expired',
    'expired lease and dead owner: lease_expired');
SELECT is((SELECT reason FROM got WHERE task_id = :leaseless_and_dead), 'owner_dead',
    'no lease, stale, and dead owner: owner_dead');
SELECT is((SELECT reason FROM got WHERE task_id = :expired_alive), 'lease_expired',
    'expired lease of a live owner: lease_expired (a heartbeat does not save an expired lease)');

SELECT * FROM finish();
ROLLBACK;
