"""No record can stop the pipeline (issue 6, defect 1).

Property 16 (failed batches are retried, then set aside, never lost) and
Property 39 (invalid records are kept with their violations, the rest go on).
"""

from __future__ import annotations

import random

import pyarrow as pa

from eventlake.committer import WRITE_ERROR_RULE, commit_batch
from eventlake.consumer import Consumer
from eventlake.state.ingestion_jobs import IngestionJobStore, JobStatus

from .conftest import events, publish, rejected_for, rows

OUT_OF_RANGE = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-01:00"]


def test_offset_past_year_9999_is_a_violation_and_later_jobs_complete(settings):
    poison = publish(
        settings,
        "events",
        [{"event_id": f"p{i}", "user_id": "u", "event_type": "view", "event_timestamp": ts} for i, ts in enumerate(OUT_OF_RANGE)],
    )
    users = publish(
        settings,
        "users",
        [
            {"user_id": "u1", "user_name": "a", "email": "a@example.com", "updated_at": "9999-12-31T23:59:59-14:00"},
            {"user_id": "u2", "user_name": "b", "email": "b@example.com", "updated_at": "2026-01-01T00:00:00Z"},
        ],
    )
    ordinary = publish(settings, "events", events(50))

    Consumer(settings).drain()

    store = IngestionJobStore(settings.job_db)
    for job_id in (poison, users, ordinary):
        assert store.get(job_id).status is JobStatus.COMPLETED
    assert store.get(poison).rejected_count == 3 and store.get(poison).accepted_count == 0
    assert store.get(ordinary).accepted_count == 50
    for r in rejected_for(settings, poison):
        assert [v["rule"] for v in r["violations"]] == ["timestamp"]
        assert "outside years 0001-9999" in r["violations"][0]["message"]
    # the users record is rejected too, and raw.users reads back (no OverflowError)
    assert [r["user_id"] for r in rows(settings, "users")] == ["u2"]
    assert len(rejected_for(settings, users)) == 1
    assert len(rows(settings, "events")) == 50


def test_a_record_that_cannot_be_committed_is_set_aside_alone(settings):
    """A record the validator let through but Iceberg cannot commit (here: injected into the
    planned batch, as a validator gap would) goes to rejected_records with rule write_error;
    every other record and job commits."""
    a = publish(settings, "events", events(40, "a"))
    b = publish(settings, "events", events(30, "b"), parts=3)
    consumer = Consumer(settings)
    assert consumer.leases.balance(consumer.stream.shard_ids())
    batch = consumer.plan()
    pieces = batch.datasets["events"].valid
    assert len(pieces) == 4
    # year 10000 in UTC: pyiceberg's snapshot summary cannot name its partition
    outcome, table = pieces[2]
    column = table.column_names.index("event_timestamp")
    values = table.column(column).cast(pa.int64()).to_pylist()
    values[4] = 253_402_300_800_000_000 + 3_600_000_000
    table = table.set_column(column, "event_timestamp", pa.array(values, pa.int64()).cast(pa.timestamp("us", tz="UTC")))
    date_col = table.column_names.index("event_date")
    dates = table.column(date_col).cast(pa.int32()).to_pylist()
    dates[4] = 2_932_897
    table = table.set_column(date_col, "event_date", pa.array(dates, pa.int32()).cast(pa.date32()))
    pieces[2] = (outcome, table)
    bad_id = table.column("event_id")[4].as_py()

    commit_batch(batch, consumer.tables, consumer.jobs)
    consumer.leases.release_all()

    landed = {r["event_id"] for r in rows(settings, "events")}
    assert len(landed) == 69 and bad_id not in landed
    set_aside = [r for r in rejected_for(settings, outcome.job_id) if r["violations"][0]["rule"] == WRITE_ERROR_RULE]
    assert len(set_aside) == 1
    assert bad_id in set_aside[0]["raw"]
    assert "OverflowError" in set_aside[0]["violations"][0]["message"]
    assert set_aside[0]["record_index"] == outcome.first_index + 4
    store = IngestionJobStore(settings.job_db)
    assert store.get(a).status is JobStatus.COMPLETED and store.get(a).error_message is None
    job_b = store.get(b)
    assert job_b.status is JobStatus.COMPLETED
    assert (job_b.accepted_count, job_b.rejected_count) == (29, 1)
    assert "set aside" in job_b.error_message

    # nothing is committed twice on the next pass, and the set-aside record stays set aside
    Consumer(settings).drain()
    assert len(rows(settings, "events")) == 69
    assert len(rejected_for(settings, b)) == 1


def _extreme(rng: random.Random, kind: str):
    strings = ["", " ", "x" * 5000, "\u0000", "é\u200b😀", "null", "1e309", "-0", "NaN", '"quoted"', "\\", "\n"]
    numbers = [0, -0.0, 1e308, -1e308, 1e-308, 2**63, -(2**63) - 1, 10**30, 1_000_000, 1_000_000.0000001, -1e-9,
               "12.5", "inf", "NaN", True, None, [], {}]
    stamps = [
        "9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00", "0001-01-01T13:59:59+14:00", "9999-12-31T10:00:00-13:59",
        "2026-02-29T00:00:00Z", "2024-02-29T23:59:59.123456789+23:59", "1970-01-01T00:00:00-23:59",
        253_402_300_799_999, -62_135_596_800_000, 253_402_300_800_000, -62_135_596_800_001, 2**63, -1, 0, 1.5,
        "1970-01-01", "", None,
    ]
    pool = {"string": strings + numbers[:3], "number": numbers + strings[:3], "timestamp": stamps + strings[:2]}[kind]
    return rng.choice(pool)


def test_fuzzed_extreme_values_of_every_field_type_never_stop_the_pipeline(settings):
    rng = random.Random(6)
    fields = {
        "events": {"event_id": "string", "user_id": "string", "event_type": "string", "event_timestamp": "timestamp",
                   "event_value": "number", "product_id": "string"},
        "users": {"user_id": "string", "user_name": "string", "email": "string", "updated_at": "timestamp"},
        "products": {"product_id": "string", "product_name": "string", "category": "string", "price": "number"},
    }
    jobs = []
    for dataset, spec in fields.items():
        records = []
        for i in range(150):
            record = {name: _extreme(rng, kind) for name, kind in spec.items()}
            if rng.random() < 0.5:  # keep enough plausible keys for rows to pass validation
                key = next(iter(spec))
                record[key] = f"{dataset}-{i}"
            if dataset == "events" and rng.random() < 0.5:
                record["event_type"] = "click"
            records.append(record)
        jobs.append(publish(settings, dataset, records, parts=3))
    ordinary = publish(settings, "events", events(20, "ok"))

    Consumer(settings).drain()

    store = IngestionJobStore(settings.job_db)
    for job_id in jobs:
        job = store.get(job_id)
        assert job.status is JobStatus.COMPLETED, job
        assert job.accepted_count + job.rejected_count + job.duplicate_count == job.record_count
    assert store.get(ordinary).accepted_count == 20
    # everything that landed reads back as Python values
    landed = {d: rows(settings, d) for d in fields}
    assert sum(len(v) for v in landed.values()) == sum(store.get(j).accepted_count for j in jobs) + 20
    assert len(rows(settings, "rejected_records")) == sum(store.get(j).rejected_count + store.get(j).duplicate_count for j in jobs)


def test_a_failing_warehouse_is_retried_then_fails_the_jobs_and_loses_nothing(tmp_path):
    """Property 16: a commit that keeps failing is tried consumer_max_attempts times, then its jobs
    are FAILED with the reason; the records stay in the stream and land once the fault is gone.
    An infrastructure fault never sets records aside as if they were bad."""
    import shutil

    import pytest

    from eventlake.settings import Settings

    s = Settings(home=tmp_path / "home", consumer_max_attempts=3)
    consumer = Consumer(s)
    data_dir = consumer.tables["events"].location().removeprefix("file://") + "/data"
    shutil.rmtree(data_dir, ignore_errors=True)
    with open(data_dir, "w") as f:  # a file where the data directory should be: every write fails
        f.write("not a directory")
    job = publish(s, "events", events(20))

    with pytest.raises(Exception):
        consumer.drain()
    failed = IngestionJobStore(s.job_db).get(job)
    assert failed.status is JobStatus.FAILED
    assert "after 3 attempts" in failed.error_message
    assert rows(s, "events") == [] and rows(s, "rejected_records") == []

    import os

    os.remove(data_dir)
    Consumer(s).drain()
    done = IngestionJobStore(s.job_db).get(job)
    assert (done.status, done.accepted_count, done.rejected_count) == (JobStatus.COMPLETED, 20, 0)
    assert len(rows(s, "events")) == 20
