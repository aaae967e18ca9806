-- Expiry makes a lease reapable, not void: a holder whose lease ran out and
-- that nobody has taken back may still renew it.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(4);

SELECT * FROM tl_test.claimed('w1', 60) \gset c_
SELECT tl_test.expire(:c_id, interval '1 hour');

SELECT is(tasklease.renew_lease(:c_id, 'w1', :c_lease_token, 60), now() + interval '60 seconds',
    'an expired but untouched lease is renewed');
SELECT is_empty($$SELECT * FROM tasklease.reap_stale_tasks()$$,
    'once renewed it is no longer stale');
SELECT is((tl_test.task(:c_id)).lease_token, :c_lease_token::bigint, 'same token');
SELECT is((tl_test.task(:c_id)).owner_id, 'w1', 'same owner');

SELECT * FROM finish();
ROLLBACK;
