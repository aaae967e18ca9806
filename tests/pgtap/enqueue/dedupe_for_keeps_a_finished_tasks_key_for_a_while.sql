-- dedupe_for keeps the key of a finished task taken until finished_at +
-- dedupe_for: enqueue then returns the finished task.  After the window, or
-- without it, the key is free.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT tasklease.enqueue('{}', 'q', dedupe_key => 'sync:7') AS t1 \gset
SELECT * FROM tasklease.claim_task('w', 'q') \gset c_
SELECT ok(tasklease.complete_task(:c_id, 'w', :c_lease_token), 'the task completes');
UPDATE tasklease.tasks SET finished_at = now() - interval '4 minutes' WHERE id = :t1;

SELECT is(tasklease.enqueue('{}', 'q', dedupe_key => 'sync:7', dedupe_for => '5 minutes'),
    :t1::bigint, 'finished 4 minutes ago, a 5-minute window returns it');
SELECT is((SELECT count(*)::int FROM tasklease.tasks), 1, 'and adds nothing');
SELECT isnt(tasklease.enqueue('{}', 'q', dedupe_key => 'sync:7', dedupe_for => '3 minutes'),
    :t1::bigint, 'a 3-minute window has passed: a new task');
SELECT is(tasklease.enqueue('{}', 'q', dedupe_key => 'sync:7', dedupe_for => '5 minutes'),
    (SELECT max(id) FROM tasklease.tasks), 'a queued task holds the key before any finished one');

SELECT * FROM finish();
ROLLBACK;
