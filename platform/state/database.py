"""The state database, shared by its table owners: the SQLite file a URL names, and table creation.

The ingestion job store, the stream leases and the read positions live in one database
(``EVENTLAKE_JOB_DB_URL``: SQLite under home, or PostgreSQL). Each module declares its
own tables; ``create_tables`` creates them, safely when processes start together.
"""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLAlchemy SQLite URL (absolute), or None (another database, in memory, a URI)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    if parsed.database.startswith("file:"):
        return None
    return Path(parsed.database).expanduser().resolve()


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
