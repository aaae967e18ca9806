-- dry_run returns exactly the rows the real run then returns, and changes
-- neither tasks, the log nor the workers.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(6);

SELECT tl_test.worker('dead', interval '1 hour');
SELECT tl_test.claimed_id('dead') AS a \gset
SELECT tl_test.claimed_id('w1') AS b \gset
SELECT tl_test.expire(:b, interval '5 minutes');
SELECT tl_test.claimed_id('w1') AS c \gset
UPDATE tasklease.tasks SET requeue_count = 3 WHERE id = :c;
SELECT tl_test.expire(:c, interval '5 minutes');
SELECT tl_test.lease_less('w9', interval '1 day') AS d \gset
SELECT tl_test.claimed_id('w1') AS healthy \gset

SELECT tl_test.state() AS before \gset
CREATE TEMP TABLE dry AS SELECT * FROM tasklease.reap_stale_tasks(NULL, true);
SELECT is(tl_test.state(), :'before', 'a dry run changes nothing');
SELECT is((SELECT count(*)::int FROM dry), 4, 'the dry run reports the four stale tasks');
CREATE TEMP TABLE dry2 AS SELECT * FROM tasklease.reap_stale_tasks(2, true);
SELECT is((SELECT count(*)::int FROM dry2), 2, 'a dry run honours batch');

CREATE TEMP TABLE real AS SELECT * FROM tasklease.reap_stale_tasks();
SELECT results_eq(
    $$SELECT task_id, action, reason, owner_id, attempts FROM dry ORDER BY task_id$$,
    $$SELECT task_id, action, reason, owner_id, attempts FROM real ORDER BY task_id$$,
    'the real run returns the same rows as the dry run'
);
SELECT isnt(tl_test.state(), :'before', 'the real run changed the queue');
SELECT set_eq(
    $$SELECT action, reason FROM real$$,
    $$VALUES ('requeued', 'owner_dead'), ('requeued', 'lease_expired'),
        ('failed', 'lease_expired'), ('requeued', 'no_lease')$$,
    'with the expected actions and reasons'
);

SELECT * FROM finish();
ROLLBACK;
