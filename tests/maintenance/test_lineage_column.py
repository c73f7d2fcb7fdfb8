"""The optional row lineage column ``source_snapshot_id`` of the raw tables (``lake.ensure_tables``)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
from pyiceberg.types import LongType

from eventlake import contracts, lake, maintenance
from tests.conftest import race

from .conftest import RAW_TABLES, contract_rows, fill, open_tables


def _lineage_field(table):
    field = table.schema().find_field(maintenance.LINEAGE_COLUMN)
    assert isinstance(field.field_type, LongType) and not field.required
    return field


def test_new_tables_have_the_column_after_the_contract_columns(settings):
    tables = open_tables(settings)
    for name in RAW_TABLES:
        schema = tables[name].schema()
        contract = contracts.ICEBERG_TABLES[name].schema
        assert schema.column_names == [*contract.column_names, maintenance.LINEAGE_COLUMN]
        assert _lineage_field(tables[name]).field_id == contract.highest_field_id + 1
    # the contracts (what the Rust writer validates against) are unchanged
    assert maintenance.LINEAGE_COLUMN not in contracts.EVENTS_SCHEMA.column_names


def _old_tables(settings):
    """The raw tables as an older version created them: the contract schemas only."""
    catalog = lake.load_catalog(settings)
    catalog.create_namespace(contracts.RAW_NAMESPACE)
    for contract in contracts.ICEBERG_TABLES.values():
        catalog.create_table(contract.identifier, schema=contract.schema, partition_spec=contract.partition_spec,
                             properties=lake.TABLE_PROPERTIES)
    return catalog


def test_tables_of_an_older_version_get_it_added_even_by_racing_openers(settings):
    _old_tables(settings)
    assert race(lambda: open_tables(settings), threads=3) == []
    tables = open_tables(settings)
    for name in RAW_TABLES:
        assert tables[name].schema().column_names.count(maintenance.LINEAGE_COLUMN) == 1
        _lineage_field(tables[name])


def test_rows_written_before_the_column_existed_get_their_lineage_from_compaction(settings):
    catalog = _old_tables(settings)
    # an older writer's rows: a data file without the column
    old_events = catalog.load_table("raw.events")
    old_rows = pa.Table.from_pylist(
        [{"event_id": f"old{i}", "user_id": "u", "event_type": "view",
          "event_timestamp": datetime(2026, 3, 1, 9, tzinfo=UTC), "event_date": date(2026, 3, 1),
          "event_hour": 9, "job_id": "old-job", "ingested_at": datetime.now(UTC)} for i in range(3)],
        schema=old_events.schema().as_arrow(),
    )
    old_events.append(old_rows)
    old_snapshot = old_events.metadata.current_snapshot().snapshot_id

    filled = fill(settings, passes=1)  # this version: ensure_tables adds the column, the consumer writes
    filled.events_snapshot_of_job["old-job"] = old_snapshot
    table = open_tables(settings)["events"]
    assert maintenance.LINEAGE_COLUMN in table.schema().column_names
    rows = contract_rows(table)
    assert rows.num_rows == 3 + 8

    result = maintenance.compact(table, target_file_bytes=128 << 20, small_file_bytes=1 << 20, min_input_files=2)
    # 2026-03-01 has the old file and the consumer's: compacted; 2026-03-02 has one file: left alone
    assert (result.partitions, result.rewritten_files) == (1, 2)
    assert contract_rows(table).equals(rows)
    table.refresh()
    stored = table.scan(selected_fields=("job_id", "event_date", maintenance.LINEAGE_COLUMN)).to_arrow().to_pylist()
    for row in stored:
        if row["event_date"] == date(2026, 3, 1):  # rewritten: materialized
            assert row[maintenance.LINEAGE_COLUMN] == filled.events_snapshot_of_job[row["job_id"]]
        else:  # the consumer's file: null, the file's snapshot says it
            assert row[maintenance.LINEAGE_COLUMN] is None
    resolved = maintenance.read_with_lineage(table)
    assert [filled.events_snapshot_of_job[j] for j in resolved.column("job_id").to_pylist()] == resolved.column(
        maintenance.LINEAGE_COLUMN
    ).to_pylist()
    assert sorted(set(resolved.column("job_id").to_pylist())) == sorted(filled.events_snapshot_of_job)
