-- run_task_now changes nothing and returns false for a task that is already
-- runnable, running or finished.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(4);

SELECT tasklease.enqueue('{}') AS q \gset
SELECT * FROM tl_test.claimed('w1') \gset r_
SELECT tasklease.enqueue('{}', 'default', now() + interval '1 hour') AS c \gset
SELECT tasklease.cancel_task(:c);
SELECT tl_test.state() AS before \gset

SELECT is(tasklease.run_task_now(:q), false, 'a runnable task: false');
SELECT is(tasklease.run_task_now(:r_id), false, 'a running task: false');
SELECT is(tasklease.run_task_now(:c), false, 'a cancelled task: false');
SELECT is(tl_test.state(), :'before', 'nothing changed, nothing logged');

SELECT * FROM finish();
ROLLBACK;
