-- renew_lease moves the expiry to now() + lease_s and records the heartbeat.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(7);

SELECT * FROM tl_test.claimed('w1', 60) \gset c_
UPDATE tasklease.tasks SET last_heartbeat = now() - interval '50 seconds',
    updated_at = now() - interval '50 seconds' WHERE id = :c_id;

SELECT is(tasklease.renew_lease(:c_id, 'w1', :c_lease_token, 300), now() + interval '300 seconds',
    'renew_lease returns the new expiry');
SELECT is((tl_test.task(:c_id)).lease_expires_at, now() + interval '300 seconds',
    'the lease now expires lease_s from now()');
SELECT is((tl_test.task(:c_id)).last_heartbeat, now(), 'last_heartbeat is now()');
SELECT is((tl_test.task(:c_id)).status, 'running'::tasklease.task_status, 'still running');
SELECT is((tl_test.task(:c_id)).lease_token, :c_lease_token::bigint,
    'renewal keeps the token (it is the same lease)');
SELECT is(tasklease.renew_lease(:c_id, 'w1', :c_lease_token), now() + interval '600 seconds',
    'without lease_s the lease_s setting is used');
SELECT is(tasklease.renew_lease(:c_id, 'w1', :c_lease_token, 10), now() + interval '10 seconds',
    'a renewal may also shorten the lease');

SELECT * FROM finish();
ROLLBACK;
