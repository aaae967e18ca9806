-- Bad input to enqueue is refused with the project's SQLSTATEs and adds nothing.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(17);

SELECT throws_ok($$SELECT tasklease.enqueue(NULL)$$, 'TL004', NULL,
    'a NULL payload is TL004');
UPDATE tasklease.settings SET value = 100 WHERE name = 'max_payload_bytes';
SELECT throws_ok($$SELECT tasklease.enqueue(jsonb_build_object('x', repeat('a', 200)))$$,
    'TL004', NULL, 'a payload above max_payload_bytes is TL004');
SELECT lives_ok($$SELECT tasklease.enqueue('{"x": 1}')$$, 'a small payload is accepted');
DELETE FROM tasklease.tasks;

SELECT throws_ok($$SELECT tasklease.enqueue('{}', NULL)$$, 'TL005', NULL,
    'a NULL queue is TL005');
SELECT throws_ok($$SELECT tasklease.enqueue('{}', '')$$, 'TL005', NULL,
    'an empty queue is TL005');
SELECT throws_ok($$SELECT tasklease.enqueue('{}', '-leading-dash')$$, 'TL005', NULL,
    'a queue starting with a dash is TL005');
SELECT throws_ok($$SELECT tasklease.enqueue('{}', 'has space')$$, 'TL005', NULL,
    'a queue with a space is TL005');
SELECT throws_ok($$SELECT tasklease.enqueue('{}', repeat('q', 64))$$, 'TL005', NULL,
    'a queue of 64 characters is TL005');
SELECT lives_ok($$SELECT tasklease.enqueue('{}', repeat('q', 63))$$,
    'a queue of 63 characters is accepted');
SELECT throws_ok($$SELECT tasklease.enqueue('{}', 'q', now(), 0, 0)$$, 'TL007', NULL,
    'max_attempts 0 is TL007');
SELECT throws_ok($$SELECT tasklease.enqueue('{}', 'q', now(), 0, -1)$$, 'TL007', NULL,
    'a negative max_attempts is TL007');
SELECT throws_ok($$SELECT tasklease.enqueue('{}', 'q', now(), 0, 1000001)$$, 'TL007', NULL,
    'max_attempts above 1000000 is TL007');
SELECT throws_ok($$SELECT tasklease.enqueue('{}', 'q', dedupe_key => '')$$, 'TL007', NULL,
    'an empty dedupe_key is TL007');
SELECT throws_ok($$SELECT tasklease.enqueue('{}', 'q', dedupe_key => repeat('k', 256))$$,
    'TL007', NULL, 'a dedupe_key of 256 characters is TL007');
SELECT throws_ok(
    $$SELECT tasklease.enqueue('{}', 'q', dedupe_key => 'k', dedupe_for => '-1 second')$$,
    'TL002', NULL, 'a negative dedupe_for is TL002');
SELECT lives_ok($$SELECT tasklease.enqueue('{}', 'q', dedupe_key => repeat('k', 255))$$,
    'a dedupe_key of 255 characters is accepted');

SELECT is((SELECT count(*)::int FROM tasklease.tasks), 2,
    'only the valid calls added a task');

SELECT * FROM finish();
ROLLBACK;
