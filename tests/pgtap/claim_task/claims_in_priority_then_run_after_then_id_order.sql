-- Lower priority runs first; then earlier run_after; then lower id.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT tasklease.enqueue('{"n": "late-p0"}', 'q', now() - interval '1 minute', 0) AS a \gset
SELECT tasklease.enqueue('{"n": "early-p0-first"}', 'q', now() - interval '1 hour', 0) AS b \gset
SELECT tasklease.enqueue('{"n": "early-p0-second"}', 'q', now() - interval '1 hour', 0) AS c \gset
SELECT tasklease.enqueue('{"n": "p-5"}', 'q', now(), -5) AS d \gset
SELECT tasklease.enqueue('{"n": "p9"}', 'q', now() - interval '1 day', 9) AS e \gset

SELECT is((SELECT id FROM tasklease.claim_task('w')), :d::bigint,
    'the lowest priority value first');
SELECT is((SELECT id FROM tasklease.claim_task('w')), :b::bigint,
    'then the earliest run_after');
SELECT is((SELECT id FROM tasklease.claim_task('w')), :c::bigint,
    'then, at equal run_after, the lower id');
SELECT is((SELECT id FROM tasklease.claim_task('w')), :a::bigint,
    'then the later run_after');
SELECT is((SELECT id FROM tasklease.claim_task('w')), :e::bigint,
    'a high priority value runs last even when it is oldest');

SELECT * FROM finish();
ROLLBACK;
