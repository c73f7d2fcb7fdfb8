"""The consumer's log lines (``eventlake consume``): a commit that fails is an ERROR line naming its jobs.

Property 38: every component logs its errors with a timestamp, the component name and the details.

The failure is real: the test holds the SQLite catalog's write lock from another connection (as
tests/consumer/test_retries.py does), so the consumer's Iceberg commit fails with
``database is locked``. The consumer is the real command, ``eventlake consume --once``, in a child
process: its log setup is the CLI's.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

from eventlake import lake
from eventlake.settings import Settings
from eventlake.state.ingestion_jobs import IngestionJobStore, JobStatus
from tests.consumer.conftest import events, publish

from .conftest import assert_error_line, error_lines, json_lines


def _consume_once(home, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLAKE_")}
    environ.update(
        EVENTLAKE_HOME=str(home),
        EVENTLAKE_CATALOG_URI=f"sqlite:///{home / 'catalog.db'}?timeout=0.2",  # a locked catalog fails in 0.2 s
        EVENTLAKE_CONSUMER_MAX_ATTEMPTS="1",
        **env,
    )
    return subprocess.run([sys.executable, "-m", "eventlake.cli", "consume", "--once"], env=environ,
                          capture_output=True, text=True, timeout=120)


# Property 38: Errors are logged with details
def test_a_failed_commit_is_an_error_line_with_the_consumer_its_job_ids_and_the_exception(tmp_path):
    home = tmp_path / "home"
    settings = Settings(home=home)
    lake.ensure_tables(lake.load_catalog(settings))  # the tables exist before the lock is taken
    job_id = publish(settings, "events", events(5))

    lock = sqlite3.connect(str(home / "catalog.db"), isolation_level=None, timeout=5)
    lock.execute("BEGIN IMMEDIATE")  # no other connection may write: every commit fails
    try:
        proc = _consume_once(home)
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    assert proc.returncode != 0, proc.stderr[-2000:]
    lines = json_lines(proc.stderr)
    assert {line["component"] for line in lines} == {"consumer"}  # the catalog's and the stream's lines too
    errors = [e for e in error_lines(lines, "consumer") if e["logger"] == "eventlake.consumer"]
    assert errors, proc.stderr[-4000:]
    line = errors[0]
    assert_error_line(line, "consumer", error_type="OperationalError")
    assert line["job_ids"] == [job_id]
    assert job_id in line["message"] and "failed after 1 attempts" in line["message"]
    assert "database is locked" in line["error"]["message"]
    assert IngestionJobStore(settings.job_db).get(job_id).status is JobStatus.FAILED  # what the line says happened


def test_text_format_for_a_terminal_has_the_same_fields_on_one_line(tmp_path):
    home = tmp_path / "home"
    settings = Settings(home=home)
    lake.ensure_tables(lake.load_catalog(settings))
    job_id = publish(settings, "events", events(2))
    lock = sqlite3.connect(str(home / "catalog.db"), isolation_level=None, timeout=5)
    lock.execute("BEGIN IMMEDIATE")
    try:
        proc = _consume_once(home, EVENTLAKE_LOG_FORMAT="text")
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert json_lines(proc.stderr) == []
    head = " ERROR consumer eventlake.consumer: commit of "
    assert proc.stderr.count(head) == 1, proc.stderr[-4000:]
    # the message (SQLAlchemy's spans two lines), the fields, the error, then its traceback
    fields, _, trace = proc.stderr[proc.stderr.index(head):].partition("\nTraceback (most recent call last):")
    assert f"job_ids=['{job_id}']" in fields and "error=OperationalError: " in fields and "database is locked" in fields
    assert "sqlite3.OperationalError: database is locked" in trace
