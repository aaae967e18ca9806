-- task_status is an enum with exactly the contract's labels, in order.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(2);

SELECT has_enum('tasklease', 'task_status', 'enum task_status exists');
SELECT enum_has_labels('tasklease', 'task_status',
    ARRAY['queued', 'running', 'completed', 'failed', 'cancelled'],
    'task_status labels are queued, running, completed, failed, cancelled');

SELECT * FROM finish();
ROLLBACK;
