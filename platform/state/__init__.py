"""The state database: the ingestion job store, the stream leases and the read positions.

One SQLAlchemy database (``EVENTLAKE_JOB_DB_URL``: a SQLite file under home, or PostgreSQL).

* ``database``: what every table owner shares: the SQLite file a URL names, and table creation.
* ``ingestion_jobs``: ``IngestionJobStore``, one row per ingestion request and per processed chunk.

The consumer's leases (``eventlake.leases``) and read positions (``eventlake.positions``)
declare their own tables in the same database.
"""
