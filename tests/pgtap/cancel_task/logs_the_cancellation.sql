-- cancel_task logs its decision in reaper_log (action cancelled, reason
-- operator), with the holder's owner and token for a running task; a task
-- that had finished is not cancelled and not logged.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(3);

SELECT * FROM tl_test.claimed('w1') \gset r_
SELECT tasklease.enqueue('{}') AS q \gset
SELECT ok(tasklease.cancel_task(:r_id) AND tasklease.cancel_task(:q), 'both are cancelled');
SELECT results_eq(
    $$SELECT task_id, action, reason, owner_id, lease_token, actor, db_user = session_user
      FROM tasklease.reaper_log ORDER BY task_id$$,
    format($$VALUES (%s::bigint, 'cancelled', 'operator', 'w1', %s::bigint, 'cancel_task', true),
                    (%s::bigint, 'cancelled', 'operator', NULL, NULL, 'cancel_task', true)$$,
        :r_id, :r_lease_token, :q),
    'each cancellation is logged, with who decided'
);
SELECT ok(NOT tasklease.cancel_task(:q) AND tl_test.log_count(:q) = 1,
    'cancelling a finished task changes and logs nothing');

SELECT * FROM finish();
ROLLBACK;
