-- console_tasks returns short rows: payload and last_error cut to 200
-- characters.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(2);

SELECT tasklease.enqueue(jsonb_build_object('text', repeat('x', 1000))) AS id \gset
UPDATE tasklease.tasks SET last_error = repeat('e', 1000) WHERE id = :id;

SELECT is((SELECT length(payload_preview) FROM tasklease.console_tasks()), 200,
    'the payload is cut to 200 characters');
SELECT is((SELECT length(last_error) FROM tasklease.console_tasks()), 200,
    'the error is cut to 200 characters');

SELECT * FROM finish();
ROLLBACK;
