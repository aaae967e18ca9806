-- enqueue_periodic for a name no periodic task has (a pg_cron job left
-- behind by hand) is TL009 and adds nothing.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(2);

SELECT throws_ok($$SELECT tasklease.enqueue_periodic('nobody')$$, 'TL009', NULL,
    'an unknown periodic task is TL009');
SELECT is((SELECT count(*)::int FROM tasklease.tasks), 0, 'nothing was enqueued');

SELECT * FROM finish();
ROLLBACK;
