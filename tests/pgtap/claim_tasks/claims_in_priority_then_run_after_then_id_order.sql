-- A batch claim takes the first tasks in (priority, run_after, id) order and
-- returns them in that order.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(3);

SELECT tasklease.enqueue('{}', 'q', now() - interval '1 minute', 0) AS a \gset
SELECT tasklease.enqueue('{}', 'q', now() - interval '1 hour', 0) AS b \gset
SELECT tasklease.enqueue('{}', 'q', now() - interval '1 hour', 0) AS c \gset
SELECT tasklease.enqueue('{}', 'q', now(), -5) AS d \gset
SELECT tasklease.enqueue('{}', 'q', now() - interval '1 day', 9) AS e \gset

SELECT results_eq(
    $$SELECT id FROM tasklease.claim_tasks('w', 3)$$,
    ARRAY[:d, :b, :c]::bigint [],
    'the first three in claim order, returned in that order'
);
SELECT results_eq(
    $$SELECT id FROM tasklease.claim_tasks('w', 3)$$,
    ARRAY[:a, :e]::bigint [],
    'then the remaining two'
);
SELECT is((SELECT count(*)::int FROM tasklease.tasks WHERE status = 'running' AND owner_id = 'w'),
    5, 'all five are running for w');

SELECT * FROM finish();
ROLLBACK;
