-- Bad task_id, owner or lease_s is refused with the project's SQLSTATEs.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(7);

SELECT * FROM tl_test.claimed('w1', 60) \gset c_
SELECT throws_ok(format('SELECT tasklease.renew_lease(NULL, %L, %s)', 'w1', :c_lease_token),
    'TL007', NULL, 'a NULL task_id is TL007');
SELECT throws_ok(format('SELECT tasklease.renew_lease(%s, NULL, %s)', :c_id, :c_lease_token),
    'TL001', NULL, 'a NULL owner is TL001');
SELECT throws_ok(format('SELECT tasklease.renew_lease(%s, %L, %s)', :c_id, '', :c_lease_token),
    'TL001', NULL, 'an empty owner is TL001');
SELECT throws_ok(format('SELECT tasklease.renew_lease(%s, %L)', :c_id, repeat('x', 201)),
    'TL001', NULL, 'a too long owner is TL001');
SELECT throws_ok(format('SELECT tasklease.renew_lease(%s, %L, %s, 0)', :c_id, 'w1', :c_lease_token),
    'TL002', NULL, 'lease_s 0 is TL002');
SELECT throws_ok(
    format('SELECT tasklease.renew_lease(%s, %L, %s, 86401)', :c_id, 'w1', :c_lease_token),
    'TL002', NULL, 'lease_s above max_lease_s is TL002');
SELECT is((tl_test.task(:c_id)).lease_expires_at, now() + interval '60 seconds',
    'the lease is unchanged');

SELECT * FROM finish();
ROLLBACK;
