-- console_throughput: completed, failed and cancelled tasks per minute and
-- queue, over the last `minutes` minutes including the current one.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(3);

INSERT INTO tasklease.tasks (queue, payload, status, finished_at) VALUES
    ('a', '{}', 'completed', date_trunc('minute', now())),
    ('a', '{}', 'completed', date_trunc('minute', now())),
    ('a', '{}', 'failed', date_trunc('minute', now())),
    ('b', '{}', 'cancelled', date_trunc('minute', now()) - interval '1 minute'),
    ('a', '{}', 'completed', date_trunc('minute', now()) - interval '2 minutes'),
    ('a', '{}', 'completed', date_trunc('minute', now()) - interval '1 hour');

SELECT results_eq(
    $$SELECT minute, queue, completed, failed, cancelled FROM tasklease.console_throughput()$$,
    $$VALUES
        (date_trunc('minute', now()) - interval '2 minutes', 'a', 1::bigint, 0::bigint, 0::bigint),
        (date_trunc('minute', now()) - interval '1 minute', 'b', 0, 0, 1),
        (date_trunc('minute', now()), 'a', 2, 1, 0)$$,
    'per minute and queue, the last hour, oldest first'
);
SELECT is((SELECT count(*) FROM tasklease.console_throughput(2)), 2::bigint,
    'minutes => 2: the current and the previous minute');
SELECT is((SELECT sum(completed) FROM tasklease.console_throughput(61)), 4::numeric,
    'minutes => 61 reaches the task of an hour ago');

SELECT * FROM finish();
ROLLBACK;
