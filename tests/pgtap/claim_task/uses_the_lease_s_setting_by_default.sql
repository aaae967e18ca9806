-- Without lease_s the lease lasts the lease_s setting.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(3);

SELECT is((tl_test.claimed('w1')).lease_expires_at, now() + interval '600 seconds',
    'default lease is the lease_s setting (600 s)');
SELECT tasklease.set_setting('lease_s', 45) AS old \gset
SELECT is(:old::int, 600, 'set_setting returns the old value');
SELECT is((tl_test.claimed('w1')).lease_expires_at, now() + interval '45 seconds',
    'a changed lease_s setting applies to the next claim');

SELECT * FROM finish();
ROLLBACK;
