-- console_tasks returns short task rows newest first; the smallest id of a page
-- as before_id gives the next page, live and finished tasks merged in order.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(4);

-- ids 1..7 (relative): queued, running, completed, queued, failed, cancelled, queued
SELECT tasklease.enqueue('{"n": 1}') AS t1 \gset
SELECT (tl_test.claimed('w1')).id AS t2 \gset
SELECT * FROM tl_test.claimed('w1') \gset c_
SELECT tasklease.complete_task(:c_id, 'w1', :c_lease_token);
SELECT tasklease.enqueue('{"n": 4}') AS t4 \gset
SELECT * FROM tl_test.claimed('w1', p_max_attempts => 1) \gset f_
SELECT tasklease.fail_task(:f_id, 'w1', :f_lease_token, 'boom');
SELECT tasklease.enqueue('{"n": 6}') AS t6 \gset
SELECT tasklease.cancel_task(:t6);
SELECT tasklease.enqueue('{"n": 7}') AS t7 \gset

SELECT is(
    (SELECT array_agg(id ORDER BY n) FROM (
        SELECT id, row_number() OVER () AS n FROM tasklease.console_tasks(page_size => 3)) AS p),
    ARRAY[:t7, :t6, :f_id]::bigint [], 'the first page: the three newest, newest first'
);
SELECT is(
    (SELECT array_agg(id ORDER BY n) FROM (
        SELECT id, row_number() OVER () AS n
        FROM tasklease.console_tasks(before_id => :f_id, page_size => 3)) AS p),
    ARRAY[:t4, :c_id, :t2]::bigint [], 'the next page starts below the last id'
);
SELECT is(
    (SELECT array_agg(id) FROM tasklease.console_tasks(before_id => :t2, page_size => 3)),
    ARRAY[:t1]::bigint [], 'the last page'
);
SELECT is(
    (SELECT array_agg(status::text ORDER BY id) FROM tasklease.console_tasks()),
    ARRAY['queued', 'running', 'completed', 'queued', 'failed', 'cancelled', 'queued'],
    'every state is listed'
);

SELECT * FROM finish();
ROLLBACK;
