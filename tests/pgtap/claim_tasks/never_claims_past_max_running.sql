-- With max_running n, a queue never has more than n running tasks: claims of
-- the queue, and of every queue, take only what is free; completing a task
-- frees its place.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(8);

SELECT count(*) FROM tl_test.enqueue_n('lim', 10) \g /dev/null
SELECT tasklease.set_queue('lim', max_running => 3) \g /dev/null

SELECT is((SELECT count(*)::int FROM tasklease.claim_tasks('w', 2, 'lim')), 2,
    'two of three places taken');
SELECT is((SELECT count(*)::int FROM tasklease.claim_tasks('w', 5, 'lim')), 1,
    'asking for five gets the one place left');
SELECT is_empty($$SELECT * FROM tasklease.claim_tasks('w', 5, 'lim')$$, 'then nothing');
SELECT is_empty($$SELECT * FROM tasklease.claim_tasks('w', 5)$$,
    'nothing for a claim of every queue either');
SELECT is(tl_test.running('lim'), 3, 'three running');

SELECT ok(tasklease.complete_task(id, 'w', lease_token), 'one completes')
FROM tasklease.tasks WHERE queue = 'lim' AND status = 'running' ORDER BY id LIMIT 1;
SELECT is((SELECT count(*)::int FROM tasklease.claim_tasks('w', 5)), 1,
    'its place is free again, for a claim of every queue too');
SELECT is(tl_test.running('lim'), 3, 'three running again');

SELECT * FROM finish();
ROLLBACK;
