-- A dry run of cleanup reports what the real run does and changes nothing.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(3);

SELECT tl_test.claimed_id('w1') AS a \gset
SELECT tl_test.claimed_id('w1') AS b \gset
SELECT tl_test.claimed_id('w1') AS c \gset
UPDATE tasklease.tasks SET last_heartbeat = now() - interval '1 day' WHERE id IN (:a, :b);
UPDATE tasklease.tasks SET requeue_count = 3 WHERE id = :b;

SELECT tl_test.state() AS before \gset
CREATE TEMP TABLE dry AS SELECT * FROM tasklease.cleanup_stale_tasks(600, NULL, NULL, true);
SELECT is(tl_test.state(), :'before', 'a dry run changes nothing');
CREATE TEMP TABLE real AS SELECT * FROM tasklease.cleanup_stale_tasks(600);
SELECT results_eq(
    $$SELECT task_id, action, reason, owner_id, attempts FROM dry ORDER BY task_id$$,
    $$SELECT task_id, action, reason, owner_id, attempts FROM real ORDER BY task_id$$,
    'the real run returns what the dry run reported'
);
SELECT set_eq($$SELECT task_id, action FROM real$$,
    format($$VALUES (%s::bigint, 'requeued'), (%s::bigint, 'failed')$$, :a, :b),
    'a is requeued, b (budget spent) failed');

SELECT * FROM finish();
ROLLBACK;
