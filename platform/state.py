"""The state database's tables: created on first use, safely when processes start together.

The job store, the stream leases and the read positions live in one database
(``EVENTLAKE_JOB_DB_URL``: SQLite under home, or PostgreSQL). Each module
declares its own tables; this creates them.
"""

from __future__ import annotations

import time

import sqlalchemy as sa


def create_tables(metadata: sa.MetaData, engine: sa.Engine, attempts: int = 5) -> None:
    """``metadata.create_all``, retried: two processes opening a fresh database race on CREATE TABLE
    ("table ... already exists"), and the loser finds the table on its next look."""
    for attempt in range(1, attempts + 1):
        try:
            metadata.create_all(engine, checkfirst=True)
            return
        except (sa.exc.OperationalError, sa.exc.IntegrityError, sa.exc.ProgrammingError):
            if attempt == attempts:
                raise
            time.sleep(0.05 * attempt)
