"""Data files written in the background while a batch is planned (issue 6, part 5).

The commit lands exactly the files written while the chunks were processed,
and a batch that is not committed leaves no data file behind.
"""

from __future__ import annotations

from pathlib import Path

from eventlake.consumer import Consumer

from .conftest import events, publish, rows


def _parquet_files(table) -> set[str]:
    root = Path(table.location().removeprefix("file://")) / "data"
    return {str(p) for p in root.rglob("*.parquet")}


def _committed_files(table) -> set[str]:
    table.refresh()
    return {t.file.file_path.removeprefix("file://") for t in table.scan().plan_files()}


def test_the_commit_lands_the_files_written_while_planning(settings):
    settings = settings.model_copy(update={"consumer_process_bytes": 1})  # one group per chunk
    publish(settings, "events", events(30, "a"), parts=3)
    publish(settings, "events", events(20, "b"))
    consumer = Consumer(settings)
    assert consumer.leases.balance(consumer.stream.shard_ids())
    batch = consumer.plan()
    prewrites = list(batch.datasets["events"].prewrites)
    assert len(prewrites) == len(batch.datasets["events"].valid) == 4
    written = {f["file_path"].removeprefix("file://") for p in prewrites for f in p.future.result()[0]}

    consumer.commit(batch)
    consumer.leases.release_all()

    table = consumer.tables["events"]
    assert _committed_files(table) == written == _parquet_files(table)
    assert len(rows(settings, "events")) == 50


def test_a_batch_that_is_not_committed_leaves_no_data_file(settings):
    publish(settings, "events", events(40, "a"), parts=2)
    consumer = Consumer(settings)
    assert consumer.leases.balance(consumer.stream.shard_ids())
    batch = consumer.plan()
    assert batch.datasets["events"].prewrites
    for p in batch.datasets["events"].prewrites:
        p.future.result()
    assert _parquet_files(consumer.tables["events"])

    batch.discard()

    assert not _parquet_files(consumer.tables["events"])
    consumer.drain()  # planned again: everything lands once
    assert len(rows(settings, "events")) == 40
    assert _parquet_files(consumer.tables["events"]) == _committed_files(consumer.tables["events"])
