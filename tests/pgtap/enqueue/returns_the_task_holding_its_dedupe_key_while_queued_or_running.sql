-- While a queued or running task of a queue holds a de-duplication key,
-- enqueue with that queue and key adds nothing and returns that task's id,
-- leaving the task as it was; other queues and other keys are independent.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(8);

SELECT tasklease.enqueue('{"n": 1}', 'mail', dedupe_key => 'invoice:42') AS first \gset
SELECT is(tasklease.enqueue('{"n": 2}', 'mail', now() + interval '1 hour', 5,
        dedupe_key => 'invoice:42'),
    :first::bigint, 'the same queue and key returns the queued task');
SELECT is((tl_test.task(:first)).payload, '{"n": 1}'::jsonb,
    'the existing task keeps its payload');
SELECT is((tl_test.task(:first)).priority, 0, 'and its priority');
SELECT is((tl_test.task(:first)).dedupe_key, 'invoice:42', 'the task records its key');
SELECT isnt(tasklease.enqueue('{}', 'other', dedupe_key => 'invoice:42'), :first::bigint,
    'the same key in another queue is another task');
SELECT isnt(tasklease.enqueue('{}', 'mail', dedupe_key => 'invoice:43'), :first::bigint,
    'another key is another task');

SELECT is((SELECT count(*)::int FROM tasklease.claim_tasks('w', 5, 'mail')), 2,
    'both mail tasks are claimed');
SELECT is(tasklease.enqueue('{}', 'mail', dedupe_key => 'invoice:42'), :first::bigint,
    'a running task still holds its key');

SELECT * FROM finish();
ROLLBACK;
