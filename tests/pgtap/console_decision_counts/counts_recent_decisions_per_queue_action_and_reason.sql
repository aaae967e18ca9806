-- console_decision_counts: decisions of the last minutes minutes per queue,
-- action and reason; older ones are left out.  minutes outside 1..1440 is TL007.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(3);

SELECT (tl_test.claimed('w1', p_queue => 'mail')).id AS a \gset
SELECT (tl_test.claimed('w1', p_queue => 'mail')).id AS b \gset
SELECT tl_test.expire(:a, interval '1 second');
SELECT tl_test.expire(:b, interval '1 second');
SELECT count(*) FROM tasklease.reap_stale_tasks();
UPDATE tasklease.reaper_log SET at = now() - interval '2 hours' WHERE task_id = :b;
INSERT INTO tasklease.reaper_log (task_id, action, reason, actor)
VALUES (-1, 'cancelled', 'operator', 'test');

SELECT results_eq(
    $$SELECT queue, action, reason, decisions FROM tasklease.console_decision_counts()$$,
    $$VALUES ('mail', 'requeued', 'lease_expired', 1::bigint),
             (NULL, 'cancelled', 'operator', 1::bigint)$$,
    'the last hour, per queue, action and reason'
);
SELECT is((SELECT sum(decisions) FROM tasklease.console_decision_counts(180)), 3::numeric,
    'a longer window reaches the older decision');
SELECT throws_ok($$SELECT * FROM tasklease.console_decision_counts(0)$$, 'TL007', NULL,
    'minutes 0 is TL007');

SELECT * FROM finish();
ROLLBACK;
