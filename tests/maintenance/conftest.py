"""Raw tables filled by the real consumer, in many small commits, for the maintenance tests."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pytest

from eventlake import checkpoints, contracts, lake
from eventlake.consumer import Consumer
from eventlake.settings import Settings
from tests.consumer.conftest import events, publish

RAW_TABLES = tuple(contracts.ICEBERG_TABLES)
DAYS = ("2026-03-01", "2026-03-02")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", consumer_lease_seconds=30, compaction_min_input_files=2)


def open_tables(settings: Settings) -> dict:
    """The raw tables through a fresh catalog (another process's view)."""
    return lake.ensure_tables(lake.load_catalog(settings))


@dataclass
class Filled:
    consumer: Consumer
    #: job id -> id of the raw.events snapshot its rows were committed in
    events_snapshot_of_job: dict[str, int] = field(default_factory=dict)
    event_ids: list[str] = field(default_factory=list)


def fill(
    settings: Settings, passes: int = 2, consumer: Consumer | None = None, prefix: str = "p", *, all_tables: bool = False
) -> Filled:
    """``passes`` consumer passes, each committing one small file per table and partition.

    Every pass publishes 4 events on each of two days (two partitions of
    raw.events) and one invalid event (a raw.rejected_records row); with
    ``all_tables`` also a user and a product.
    """
    consumer = consumer or Consumer(settings)
    out = Filled(consumer)
    for i in range(passes):
        body = []
        for d, day in enumerate(DAYS):
            body += events(4, f"{prefix}{i}-{d}-", ts=f"{day}T10:00:00Z")
        job = publish(settings, "events", body + [{"event_id": f"{prefix}{i}-bad"}])
        if all_tables:
            publish(settings, "users", [{"user_id": f"u{prefix}{i}", "user_name": f"n{i}", "updated_at": "2026-03-01T00:00:00Z"}])
            publish(settings, "products", [{"product_id": f"x{prefix}{i}", "price": float(i)}])
        consumer.drain()
        table = consumer.tables["events"]
        table.refresh()
        out.events_snapshot_of_job[job] = table.metadata.current_snapshot().snapshot_id
        out.event_ids += [e["event_id"] for e in body]
    return out


def contract_rows(table) -> pa.Table:
    """A full scan of the contract's columns, sorted on all of them (what any query sees)."""
    table.refresh()
    name = table.name()[-1]
    columns = [f.name for f in contracts.ICEBERG_TABLES[name].schema.fields]
    data = table.scan(selected_fields=tuple(columns)).to_arrow().select(columns)
    # pyiceberg reads strings as large_string or string depending on the files: compare values
    schema = pa.schema([f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f for f in data.schema])
    return data.cast(schema).sort_by([(c, "ascending") for c in columns])


def data_files(table) -> list:
    table.refresh()
    return [task.file for task in table.scan().plan_files()]


def stored_state(table) -> tuple[dict, dict]:
    table.refresh()
    return checkpoints.read_state(table)
