-- Bad owner, lease_s or queue is refused before anything is claimed.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(13);

SELECT tasklease.enqueue('{}') AS id \gset

SELECT throws_ok($$SELECT * FROM tasklease.claim_task(NULL)$$, 'TL001', NULL,
    'a NULL owner is TL001');
SELECT throws_ok($$SELECT * FROM tasklease.claim_task('')$$, 'TL001', NULL,
    'an empty owner is TL001');
SELECT throws_ok($$SELECT * FROM tasklease.claim_task('   ')$$, 'TL001', NULL,
    'a blank owner is TL001');
SELECT throws_ok($$SELECT * FROM tasklease.claim_task(repeat('w', 201))$$, 'TL001', NULL,
    'an owner longer than max_owner_len is TL001');
SELECT throws_ok($$SELECT * FROM tasklease.claim_task(E'w\n1')$$, 'TL001', NULL,
    'an owner with a control character is TL001');
SELECT throws_ok($$SELECT * FROM tasklease.claim_task('w', NULL, 0)$$, 'TL002', NULL,
    'lease_s 0 is TL002');
SELECT throws_ok($$SELECT * FROM tasklease.claim_task('w', NULL, -5)$$, 'TL002', NULL,
    'a negative lease_s is TL002');
SELECT throws_ok($$SELECT * FROM tasklease.claim_task('w', NULL, 86401)$$, 'TL002', NULL,
    'lease_s above max_lease_s is TL002');
SELECT throws_ok($$SELECT * FROM tasklease.claim_task('w', NULL, 2147483647)$$, 'TL002', NULL,
    'a huge lease_s is TL002');
SELECT throws_ok($$SELECT * FROM tasklease.claim_task('w', 'bad queue')$$, 'TL005', NULL,
    'a bad queue name is TL005');
SELECT throws_ok($$SELECT * FROM tasklease.claim_task('w', '')$$, 'TL005', NULL,
    'an empty queue name is TL005');
SELECT is((tl_test.task(:id)).status, 'queued'::tasklease.task_status,
    'no refused call claimed the task');
SELECT is((SELECT lease_expires_at FROM tasklease.claim_task(repeat('w', 200), NULL, 86400)),
    now() + interval '86400 seconds', 'max_owner_len and max_lease_s themselves are accepted');

SELECT * FROM finish();
ROLLBACK;
