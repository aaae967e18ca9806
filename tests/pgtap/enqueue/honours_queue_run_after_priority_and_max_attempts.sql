-- The optional arguments of enqueue are stored as given; NULL run_after means
-- now and NULL max_attempts means the max_attempts setting.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(9);

SELECT tasklease.enqueue('[1, 2]', 'mail.out:eu-1', now() + interval '1 hour', -7, 2) AS id \gset
SELECT is((tl_test.task(:id)).queue, 'mail.out:eu-1', 'queue is stored');
SELECT is((tl_test.task(:id)).run_after, now() + interval '1 hour', 'run_after is stored');
SELECT is((tl_test.task(:id)).priority, -7, 'priority is stored');
SELECT is((tl_test.task(:id)).max_attempts, 2, 'max_attempts is stored');

SELECT tasklease.enqueue('null', 'q', NULL, NULL, NULL) AS id2 \gset
SELECT is((tl_test.task(:id2)).run_after, now(), 'NULL run_after means now()');
SELECT is((tl_test.task(:id2)).priority, 0, 'NULL priority means 0');
SELECT is((tl_test.task(:id2)).payload, 'null'::jsonb, 'the JSON value null is a valid payload');

SELECT tasklease.set_setting('max_attempts', 9) AS old \gset
SELECT is((tl_test.task(tasklease.enqueue('{}'))).max_attempts, 9,
    'NULL max_attempts follows the max_attempts setting');

SELECT tasklease.enqueue(payload => '{}', queue => 'named') AS id3 \gset
SELECT is((tl_test.task(:id3)).queue, 'named', 'enqueue accepts named arguments');

SELECT * FROM finish();
ROLLBACK;
