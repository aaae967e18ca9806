-- The bound: whatever happens, a task is executed at most
-- max_attempts + max_requeue times.  Each execution ends in a completion, a
-- handler failure (failures + 1) or a crash (requeue_count + 1); the task
-- fails when either budget is spent.  Here every execution fails, crashes
-- and failures interleaved in every order of a small budget, and the number
-- of claims is counted until the task is failed.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(3);

CREATE TEMP TABLE runs (pattern text, max_attempts int, max_requeue int, claims int);

-- Run one task to its end: execution n crashes when the n-th character of the
-- pattern is 'c' (the reaper takes it back), and fails in its handler when it
-- is 'f'; the pattern repeats.
CREATE FUNCTION pg_temp.run(p_pattern text, p_max_attempts int, p_max_requeue int)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    v_id bigint;
    c tasklease.claimed_task;
    n int := 0;
BEGIN
    PERFORM tasklease.set_setting('max_requeue', p_max_requeue);
    v_id := tasklease.enqueue('{}', 'bound', now(), 0, p_max_attempts);
    LOOP
        UPDATE tasklease.tasks SET run_after = now() WHERE id = v_id AND status = 'queued';
        SELECT * INTO c FROM tasklease.claim_task('w-bound', 'bound');
        EXIT WHEN c.id IS NULL;
        n := n + 1;
        IF substr(p_pattern, (n - 1) % length(p_pattern) + 1, 1) = 'c' THEN
            PERFORM tl_test.expire(v_id, interval '1 second');
            PERFORM tasklease.reap_stale_tasks();
        ELSE
            PERFORM tasklease.fail_task(v_id, 'w-bound', c.lease_token, 'boom');
        END IF;
        EXIT WHEN n > 1000;
    END LOOP;
    RETURN n;
END
$$;

INSERT INTO runs
SELECT p.pattern, a.max_attempts, r.max_requeue, pg_temp.run(p.pattern, a.max_attempts, r.max_requeue)
FROM (VALUES ('c'), ('f'), ('cf'), ('fc'), ('ccf'), ('ffc'), ('cffcc')) AS p (pattern)
CROSS JOIN (VALUES (1), (2), (5)) AS a (max_attempts)
CROSS JOIN (VALUES (0), (1), (3)) AS r (max_requeue);

SELECT is_empty(
    $$SELECT * FROM runs WHERE claims > max_attempts + max_requeue$$,
    'no task ran more than max_attempts + max_requeue times'
);
SELECT is(
    (SELECT count(*)::int FROM tasklease.tasks WHERE queue = 'bound' AND status <> 'failed'),
    0, 'every task ended failed'
);
SELECT results_eq(
    $$SELECT max_attempts, max_requeue, max(claims) FROM runs
      GROUP BY 1, 2 ORDER BY 1, 2$$,
    $$SELECT a, r, a + r FROM (VALUES (1), (2), (5)) AS x (a), (VALUES (0), (1), (3)) AS y (r)
      ORDER BY 1, 2$$,
    'for every budget some order of ends reaches the bound exactly'
);

SELECT * FROM finish();
ROLLBACK;
