-- Runs once, on the first start of an empty data directory, as POSTGRES_USER.
-- Creates database tasklease (unless POSTGRES_DB already did) and the pg_cron
-- extension in it: pg_cron runs its jobs in cron.database_name = tasklease.
-- The schema itself is installed by `tasklease migrate`, not here.
SELECT 'CREATE DATABASE tasklease'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'tasklease') \gexec

\connect tasklease
CREATE EXTENSION IF NOT EXISTS pg_cron;
