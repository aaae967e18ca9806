-- The console's reads work for the worker and producer roles, which have no
-- table privileges.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(2);

SELECT tasklease.enqueue('{}') AS id \gset
CREATE TEMP TABLE codes (role text, code text);
GRANT INSERT ON codes TO PUBLIC;

SET LOCAL ROLE tasklease_worker;
INSERT INTO codes SELECT 'worker', c FROM unnest(ARRAY[
    tl_test.sqlstate_of('SELECT * FROM tasklease.console_tasks()'),
    tl_test.sqlstate_of('SELECT * FROM tasklease.console_queues()'),
    tl_test.sqlstate_of('SELECT * FROM tasklease.console_throughput()'),
    tl_test.sqlstate_of('SELECT * FROM tasklease.console_decisions()'),
    tl_test.sqlstate_of('SELECT * FROM tasklease.console_decision_counts()'),
    tl_test.sqlstate_of(format('SELECT * FROM tasklease.get_task(%s)', :id))
]) AS c;
RESET ROLE;
SET LOCAL ROLE tasklease_producer;
INSERT INTO codes SELECT 'producer', c FROM unnest(ARRAY[
    tl_test.sqlstate_of('SELECT * FROM tasklease.console_tasks()'),
    tl_test.sqlstate_of('SELECT * FROM tasklease.console_queues()'),
    tl_test.sqlstate_of('SELECT * FROM tasklease.console_throughput()'),
    tl_test.sqlstate_of('SELECT * FROM tasklease.console_decisions()'),
    tl_test.sqlstate_of('SELECT * FROM tasklease.console_decision_counts()'),
    tl_test.sqlstate_of(format('SELECT * FROM tasklease.get_task(%s)', :id))
]) AS c;
RESET ROLE;

SELECT is((SELECT array_agg(DISTINCT code) FROM codes WHERE role = 'worker'), ARRAY['00000'],
    'a worker may read every console function and view');
SELECT is((SELECT array_agg(DISTINCT code) FROM codes WHERE role = 'producer'), ARRAY['00000'],
    'a producer may read every console function and view');

SELECT * FROM finish();
ROLLBACK;
