-- First start of the compose stack's Postgres (docker-entrypoint-initdb.d): one database per use, all owned by
-- POSTGRES_USER. Dagster creates its tables itself (dagster-postgres), the job store and the Iceberg SQL catalog
-- theirs (eventlake.state, pyiceberg's SqlCatalog).
CREATE DATABASE dagster;          -- Dagster runs, event logs, schedules (deploy/dagster/compose/dagster.yaml)
CREATE DATABASE eventlake_jobs;   -- the ingestion job store (EVENTLAKE_JOB_DB_URL)
CREATE DATABASE iceberg_catalog;  -- the Iceberg SQL catalog (EVENTLAKE_CATALOG_URI)
