-- With a NULL lease_token renew_lease checks the owner only (older clients);
-- it still never renews a lease-less row or another owner's task.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(4);

SELECT * FROM tl_test.claimed('w1', 60) \gset c_
SELECT is(tasklease.renew_lease(:c_id, 'w1', NULL, 90), now() + interval '90 seconds',
    'the owner renews without a token');
SELECT is(tasklease.renew_lease(:c_id, 'w2', NULL, 90), NULL,
    'another owner without a token gets NULL');
SELECT tl_test.lease_less('w1', interval '1 minute') AS bare \gset
SELECT is(tasklease.renew_lease(:bare, 'w1', NULL, 90), NULL,
    'a running row without a lease is not given one by a token-less renewal');
SELECT ok((tl_test.task(:bare)).lease_expires_at IS NULL, 'it still has no lease');

SELECT * FROM finish();
ROLLBACK;
