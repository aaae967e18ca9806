-- A new limit counts the queue's tasks that are running already, whoever
-- claimed them: with 3 running and max_running 2 the queue hands out nothing
-- until fewer than 2 run.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT count(*) FROM tl_test.enqueue_n('q', 6) \g /dev/null
SELECT is((SELECT count(*)::int FROM tasklease.claim_tasks('w', 3, 'q')), 3,
    'three claimed before any limit');
SELECT tasklease.set_queue('q', max_running => 2) \g /dev/null
SELECT is_empty($$SELECT * FROM tasklease.claim_tasks('w', 3, 'q')$$,
    'over the new limit: nothing');
SELECT ok(tasklease.complete_task(id, 'w', lease_token), 'one completes')
FROM tasklease.tasks WHERE queue = 'q' AND status = 'running' ORDER BY id LIMIT 1;
SELECT is_empty($$SELECT * FROM tasklease.claim_tasks('w', 3, 'q')$$,
    'two running: at the limit, still nothing');
SELECT ok(tasklease.complete_task(id, 'w', lease_token), 'another completes')
FROM tasklease.tasks WHERE queue = 'q' AND status = 'running' ORDER BY id LIMIT 1;

SELECT * FROM finish();
ROLLBACK;
