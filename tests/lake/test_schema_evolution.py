"""Schema evolution: a field added to a dataset's contract reaches a raw table that already holds data.

The whole path on real parts: events land through the real consumer (Rust
validator and writer, Iceberg commit) under the shipped contract and dbt builds
staging to marts; then ``CONTRACTS["events"]`` gains an optional field, as an
edit of ``platform/contracts.py`` would, and ``lake.ensure_tables`` (what every
process runs at startup) adds the column without rewriting a file. Records
carrying the field land through the consumer, old rows read null, and the next
dbt run carries the column into staging, ``int_events_enriched`` and
``fact_events`` (``on_schema_change='append_new_columns'``).

Changes Iceberg cannot apply safely (a rename, an unsafe type change, a
required field on a table with rows, a field id already used) stop the start
with ``lake.SchemaMismatch``, naming the table, the field, both types and what
to do, and leave the table as it was.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eventlake import contracts, lake
from eventlake.consumer import Consumer
from eventlake.contracts import Contract, Field
from eventlake.settings import Settings
from eventlake.state.ingestion_jobs import IngestionJobStore
from tests.consumer.conftest import events, publish, rows
from tests.dbt.dbt_lakehouse import run_dbt

ROOT = Path(__file__).resolve().parents[2]
#: The field the tests add to the events contract. The events table's ids run to 12:
#: the contract's 1-11, then the row lineage column source_snapshot_id.
SESSION_ID = Field(13, "session_id", "string", max_length=64, doc="client session the event belongs to")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", consumer_lease_seconds=30)


@pytest.fixture
def edit_contract():
    """Replace a declaration in ``CONTRACTS`` as an edit of platform/contracts.py would; restored after.

    ``contracts.refresh_views()`` derives the validation JSON, the transform
    rules and the Iceberg schemas again, so the consumer, the Rust validator
    and ``ensure_tables`` all read the edited declaration.
    """
    saved = dict(contracts.CONTRACTS)

    def edit(dataset: str, fields: tuple[Field, ...]) -> None:
        contracts.CONTRACTS[dataset] = dataclasses.replace(contracts.CONTRACTS[dataset], fields=fields)
        contracts.refresh_views()

    yield edit
    contracts.CONTRACTS.clear()
    contracts.CONTRACTS.update(saved)
    contracts.refresh_views()


def with_field(dataset: str, field: Field) -> tuple[Field, ...]:
    """The dataset's fields with ``field`` added before the lineage columns."""
    fields = contracts.CONTRACTS[dataset].fields
    return (*(f for f in fields if not f.lineage), field, *(f for f in fields if f.lineage))


def replaced(dataset: str, field_name: str, /, **changes) -> tuple[Field, ...]:
    """The dataset's fields with ``changes`` made to field ``field_name``."""
    fields = contracts.CONTRACTS[dataset].fields
    return tuple(dataclasses.replace(f, **changes) if f.name == field_name else f for f in fields)


def land(settings: Settings, records: list[dict]) -> str:
    job_id = publish(settings, "events", records)
    consumer = Consumer(settings)
    try:
        consumer.drain()
    finally:
        consumer.close()
    return job_id


def job(settings: Settings, job_id: str):
    store = IngestionJobStore(settings.job_db)
    try:
        found = store.get(job_id)
    finally:
        store.close()
    assert found is not None
    return found


def events_table(settings: Settings):
    return lake.ensure_tables(lake.load_catalog(settings))["events"]


def live_files(table) -> list[str]:
    return sorted(task.file.file_path for task in table.scan().plan_files())


def dbt_env(settings: Settings) -> dict[str, str]:
    return {"EVENTLAKE_HOME": str(settings.home), "EVENTLAKE_DUCKDB_PATH": str(settings.home / "warehouse.duckdb")}


def query(settings: Settings, sql: str) -> list[tuple]:
    import duckdb

    with duckdb.connect(str(settings.home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def columns(settings: Settings, relation: str) -> list[str]:
    schema, name = relation.split(".")
    return [r[0] for r in query(settings, "select column_name from information_schema.columns where table_schema = "
                                          f"'{schema}' and table_name = '{name}' order by ordinal_position")]


# -- the whole path ---------------------------------------------------------------------------


def test_an_optional_field_added_to_the_contract_evolves_a_table_with_data_through_consumer_and_dbt(
    settings, tmp_path, edit_contract
):
    # 1. data under the shipped contract, through the consumer, and a first dbt build of every layer
    old_job = land(settings, events(5, prefix="old"))
    assert job(settings, old_job).accepted_count == 5
    run_dbt(dbt_env(settings), tmp_path, "build")
    assert "session_id" not in columns(settings, "staging.stg_events")
    table = events_table(settings)
    old_files, old_snapshots = live_files(table), [s.snapshot_id for s in table.snapshots()]
    assert old_files and table.metadata.last_column_id == 12

    # 2. the contract gains an optional field; startup (ensure_tables) evolves the table
    edit_contract("events", with_field("events", SESSION_ID))
    assert json.loads(contracts.validation_schema_json("events"))["fields"][-1] == {
        "name": "session_id", "type": "string", "required": False, "max_length": 64}
    table = events_table(settings)
    added = table.schema().find_field("session_id")
    assert (added.field_id, str(added.field_type), added.required, added.doc) == (
        13, "string", False, "client session the event belongs to")
    # metadata only: no new snapshot, the same data files, and they do not hold the column
    assert [s.snapshot_id for s in table.snapshots()] == old_snapshots
    assert live_files(table) == old_files
    for path in old_files:
        assert "session_id" not in pq.read_schema(path.removeprefix("file://")).names
    assert events_table(settings).schema() == table.schema()  # a second start changes nothing

    # 3. records carrying the field go through the Rust validator and writer
    new = [{**e, "session_id": f"s-{e['event_id']}"} for e in events(3, prefix="new")]
    too_long = {**events(1, prefix="long")[0], "session_id": "x" * 65}  # the new field's rule applies
    new_job = land(settings, [*new, too_long, *events(1, prefix="bare")])
    status = job(settings, new_job)
    assert (status.status.value, status.accepted_count, status.rejected_count) == ("COMPLETED", 4, 1)
    table = events_table(settings)
    assert set(old_files) <= set(live_files(table))  # the old files are still the ones the table reads
    assert {s.summary.operation.value for s in table.snapshots()} == {"append"}  # nothing was rewritten

    # 4. read back: old rows null, new rows have the value
    by_id = {r["event_id"]: r["session_id"] for r in rows(settings, "events")}
    assert by_id == {**{f"old{i}": None for i in range(5)}, **{f"new{i}": f"s-new{i}" for i in range(3)}, "bare0": None}

    # 5. dbt: the incremental models append the column and fill it for the new rows
    run_dbt(dbt_env(settings), tmp_path, "build")
    for relation in ("staging.stg_events", "intermediate.int_events_enriched", "marts.fact_events"):
        assert "session_id" in columns(settings, relation), relation
        got = dict(query(settings, f"select event_id, session_id from {relation}"))
        assert got == by_id, relation
    # the other datasets' staging models are unchanged
    assert "session_id" not in columns(settings, "staging.stg_users")


def test_the_columns_the_models_name_are_contract_columns():
    """``modelled_raw_columns`` (what staging casts itself) names only contract columns, so every other raw
    column is one a contract added and passes through; a typo there would pass a column through twice."""
    text = (ROOT / "dbt_project" / "macros" / "contract_columns.sql").read_text(encoding="utf-8")
    modelled = {t: re.findall(r"'(\w+)'", names) for t, names in re.findall(r"'(\w+)': \[([^\]]*)\]", text)}
    assert set(modelled) == set(contracts.DATASETS)
    for dataset, names in modelled.items():
        assert names and set(names) <= set(contracts.CONTRACTS[dataset].dbt_columns()), dataset


def test_a_new_table_gets_the_contracts_field_ids_as_an_evolved_one_does(settings, edit_contract):
    edit_contract("events", with_field("events", SESSION_ID))
    schema = events_table(settings).schema()
    # pyiceberg's create_table numbers columns afresh: the field after the gap is added with its own id
    assert [(f.field_id, f.name) for f in schema.fields][-4:] == [
        (10, "job_id"), (11, "ingested_at"), (12, "source_snapshot_id"), (13, "session_id")]
    assert not schema.find_field("session_id").required
    assert events_table(settings).schema() == schema  # the next start has nothing to do


def test_a_safe_promotion_is_applied_without_a_rewrite(settings, edit_contract):
    # the record types have no int (only derived hour columns are ints): a table the platform writes itself
    counters = Contract("counters", validated=False, fields=(Field(1, "name", "string", required=True),
                                                             Field(2, "n", "int")))
    contracts.CONTRACTS["counters"] = counters
    contracts.refresh_views()
    table = lake.ensure_tables(lake.load_catalog(settings))["counters"]
    lake.append_arrow(table, pa.table({"name": ["a", "b"], "n": pa.array([1, 2], pa.int32())}))
    files, snapshot = live_files(table), table.current_snapshot().snapshot_id
    edit_contract("counters", (counters.fields[0], Field(2, "n", "long")))
    table = lake.ensure_tables(lake.load_catalog(settings))["counters"]
    assert str(table.schema().find_field("n").field_type) == "long"
    assert (live_files(table), table.current_snapshot().snapshot_id) == (files, snapshot)
    back = table.scan().to_arrow()
    assert back.schema.field("n").type == pa.int64() and sorted(back.column("n").to_pylist()) == [1, 2]


# -- what cannot be applied fails loudly at startup --------------------------------------------


def seed(settings: Settings) -> None:
    """Two rows in raw.events, committed as the consumer commits (Rust writer, fast append)."""
    table = events_table(settings)
    ts = datetime(2026, 3, 1, 10, tzinfo=UTC)
    rows_ = [{"event_id": f"e{i}", "user_id": "u", "event_type": "view", "event_timestamp": ts,
              "event_date": ts.date(), "event_hour": 10, "job_id": "j", "ingested_at": ts} for i in range(2)]
    lake.append_arrow(table, pa.Table.from_pylist(rows_, schema=table.schema().as_arrow()))


def mismatch(settings: Settings) -> lake.SchemaMismatch:
    """The ``SchemaMismatch`` a consumer start raises; the table is left as it was."""
    before = lake.load_catalog(settings).load_table("raw.events").metadata
    with pytest.raises(lake.SchemaMismatch) as caught:
        Consumer(settings)
    after = lake.load_catalog(settings).load_table("raw.events").metadata
    assert (after.current_schema_id, after.schemas) == (before.current_schema_id, before.schemas)
    return caught.value


def test_a_rename_fails_at_startup_naming_both_names_and_the_steps(settings, edit_contract):
    seed(settings)
    edit_contract("events", replaced("events", "product_id", name="product_sku"))
    err = mismatch(settings)
    assert (err.table, err.field, err.field_id) == ("raw.events", "product_sku", 6)
    assert (err.table_type, err.contract_type) == ("'product_id' string optional", "'product_sku' string optional")
    message = str(err)
    assert "schema mismatch in raw.events, field 'product_sku' (id 6)" in message
    assert "named 'product_id' in the table but 'product_sku' in the contract: a rename" in message
    assert "keep the name 'product_id' in the contract" in message
    assert "add 'product_sku' as a new optional field with a new id (at least 13)" in message
    assert "docs/schema_evolution.md" in message


@pytest.mark.parametrize(
    "dataset, name, new_type, table_type",
    [
        ("events", "event_value", "long", "double"),
        ("events", "event_id", "long", "string"),
        ("events", "product_id", "timestamp", "string"),
        ("rejected_records", "record_index", "int", "long"),  # narrowing
    ],
)
def test_an_unsafe_type_change_fails_at_startup_with_both_types(settings, edit_contract, dataset, name, new_type,
                                                                 table_type):
    seed(settings)
    edit_contract(dataset, replaced(dataset, name, type=new_type))
    err = mismatch(settings)
    iceberg_type = str(contracts.CONTRACTS[dataset].iceberg_schema().find_field(name).field_type)
    assert (err.table, err.field) == (f"raw.{dataset}", name)
    assert (err.table_type, err.contract_type) == (table_type, iceberg_type)
    message = str(err)
    assert f"The table has {table_type}, the contract (platform/contracts.py) declares {iceberg_type}" in message
    assert "safe promotions (int->long, float->double)" in message
    assert f"put back type {table_type} for '{name}'" in message


def test_a_required_field_on_a_table_with_rows_fails_at_startup(settings, edit_contract):
    seed(settings)
    edit_contract("events", with_field("events", dataclasses.replace(SESSION_ID, required=True)))
    err = mismatch(settings)
    assert (err.field, err.field_id, err.contract_type) == ("session_id", 13, "'session_id' string required")
    assert "a required column cannot be added to a table that holds data" in str(err)
    assert "declare 'session_id' optional (required=False" in str(err)


def test_a_required_field_on_an_empty_table_is_added(settings, edit_contract):
    events_table(settings)  # created, no rows
    edit_contract("events", with_field("events", dataclasses.replace(SESSION_ID, required=True)))
    assert events_table(settings).schema().find_field("session_id").required


def test_a_field_id_the_table_used_already_fails_at_startup(settings, edit_contract):
    seed(settings)
    edit_contract("events", with_field("events", dataclasses.replace(SESSION_ID, id=12)))  # source_snapshot_id's
    err = mismatch(settings)
    assert (err.field, err.field_id) == ("session_id", 12)
    assert "field id 12 is taken in this table by source_snapshot_id" in str(err)
    assert "declare 'session_id' with field id 13 (the table's next free id)" in str(err)


def test_an_optional_column_made_required_fails_at_startup(settings, edit_contract):
    seed(settings)
    edit_contract("events", replaced("events", "product_id", required=True))
    err = mismatch(settings)
    assert (err.field, err.table_type, err.contract_type) == (
        "product_id", "'product_id' string optional", "'product_id' string required")
    assert "an optional column cannot become required" in str(err)
