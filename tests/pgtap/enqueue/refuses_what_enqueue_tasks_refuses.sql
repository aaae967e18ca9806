-- enqueue's one-task path tests its input in one expression and leaves what
-- it refuses to the general path: every mix of bad arguments gets the error
-- (SQLSTATE and message) that enqueue_tasks gives, the first bad one in
-- enqueue_tasks' order (queue, max_attempts, payload); every good mix adds.
BEGIN;
\ir ../_fixtures.psql

CREATE FUNCTION pg_temp.outcome(p_sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE p_sql;
    RETURN 'added';
EXCEPTION WHEN OTHERS THEN
    RETURN sqlstate || ': ' || sqlerrm;
END
$$;

UPDATE tasklease.settings SET value = 100 WHERE name = 'max_payload_bytes';

CREATE TEMP TABLE cases ON COMMIT DROP AS
SELECT p.payload, q.queue, m.max_attempts,
    format('payload %s, queue %s, max_attempts %s', p.label, q.label, m.label) AS label
FROM (VALUES ('''{"x": 1}''::jsonb', 'small'), ('NULL::jsonb', 'NULL'),
             ('jsonb_build_object(''x'', repeat(''a'', 200))', 'too large'),
             ('jsonb_build_object(''x'', repeat(''a'', 80))', 'near the limit'))
     AS p (payload, label)
CROSS JOIN (VALUES ('''q''', 'q'), ('NULL', 'NULL'), ('''-q''', '-q'),
                   ('repeat(''q'', 64)', '64 characters'), ('repeat(''q'', 63)', '63 characters'))
     AS q (queue, label)
CROSS JOIN (VALUES ('NULL', 'NULL'), ('0', '0'), ('1', '1'), ('1000000', '1000000'),
                   ('1000001', '1000001'))
     AS m (max_attempts, label);

SELECT plan((SELECT count(*)::int + 2 FROM cases));

SELECT is(
    pg_temp.outcome(format('SELECT tasklease.enqueue(%s, %s, now(), 0, %s)',
        c.payload, c.queue, c.max_attempts)),
    pg_temp.outcome(format('SELECT tasklease.enqueue_tasks(ARRAY[%s], %s, now(), 0, %s)',
        c.payload, c.queue, c.max_attempts)),
    c.label)
FROM cases AS c ORDER BY c.label;

SELECT is((SELECT count(*)::int FROM tasklease.tasks), 24,
    'the 12 good mixes (2 payloads, 2 queues, 3 max_attempts) added a task by each path');
SELECT is(pg_column_size(jsonb_build_object('x', repeat('a', 80))) BETWEEN 90 AND 100, true,
    'the payload near the limit is within 10 bytes of it');

SELECT * FROM finish();
ROLLBACK;
