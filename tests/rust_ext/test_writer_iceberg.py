"""data_processor_rs.write_iceberg_parquet / parse_parquet against pyarrow and pyiceberg."""

from __future__ import annotations

import math
import random
import uuid
from pathlib import Path
from datetime import UTC, datetime, timedelta

import data_processor_rs as dp
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.io.pyarrow import parquet_file_to_data_file

from eventlake import lake
from eventlake.contracts import ICEBERG_TABLES

EVENTS = ICEBERG_TABLES["events"]
RESULT_KEYS = {
    "file_path",
    "partition",
    "record_count",
    "file_size_in_bytes",
    "column_sizes",
    "value_counts",
    "null_value_counts",
    "nan_value_counts",
    "lower_bounds",
    "upper_bounds",
    "split_offsets",
}


def events(n: int, *, seed: int = 0, days: int = 3, nan_every: int = 0) -> pa.Table:
    """Typed events as the processor emits them (plus lineage and an `_index` to ignore)."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 24, tzinfo=UTC)
    ts = [start + timedelta(microseconds=rng.randrange(days * 86_400_000_000)) for _ in range(n)]
    values = [None if i % 5 == 0 else round(rng.uniform(0, 1000), 2) for i in range(n)]
    if nan_every:
        values = [math.nan if i % nan_every == 3 else v for i, v in enumerate(values)]
    return pa.table(
        {
            "_index": pa.array(range(n), pa.int64()),
            "event_id": [f"evt-{seed}-{i:07d}" for i in range(n)],
            # long and non-ASCII ids exercise the truncate(16) bounds
            "user_id": [f"usér-{rng.randrange(10**6):06d}-{'x' * rng.randrange(20)}" for _ in range(n)],
            "event_type": [rng.choice(["view", "click", "add_to_cart", "purchase"]) for _ in range(n)],
            "event_timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "event_value": pa.array(values, pa.float64()),
            "product_id": [None if i % 3 else f"p-{rng.randrange(100)}" for i in range(n)],
            "properties": [None if i % 4 else '{"k":1}' for i in range(n)],
            "event_date": pa.array([t.date() for t in ts], pa.date32()),
            "event_hour": pa.array([t.hour for t in ts], pa.int32()),
            "job_id": ["job-1"] * n,
            "ingested_at": pa.array([start] * n, pa.timestamp("us", tz="UTC")),
        }
    )


def write(data, location, **kwargs) -> list[dict]:
    return dp.write_iceberg_parquet(
        data, str(location), EVENTS.schema.model_dump_json(), EVENTS.partition_spec.model_dump_json(), **kwargs
    )


def local_path(file_path: str) -> str:
    return file_path.removeprefix("file://")


def read_files(files: list[dict]) -> pa.Table:
    return pa.concat_tables([pq.read_table(local_path(f["file_path"])) for f in files])


def as_table_rows(data: pa.Table) -> list[dict]:
    """The rows the Iceberg table should hold: its columns, sorted by event_id."""
    cols = [f.name for f in EVENTS.schema.fields]
    return data.select(cols).sort_by("event_id").to_pylist()


@pytest.fixture
def events_table(tmp_path):
    catalog = SqlCatalog("writer_test", uri=f"sqlite:///{tmp_path}/catalog.db", warehouse=(tmp_path / "wh").as_uri())
    return lake.ensure_tables(catalog)["events"]


def test_returned_metadata_matches_what_pyiceberg_reads_from_the_footer(events_table):
    table = events_table
    data = events(4000, seed=1, nan_every=7)
    files = write(data, table.location(), target_file_size=16 * 1024)
    assert len(files) > 3  # three days, rolled into several files each
    assert sum(f["record_count"] for f in files) == data.num_rows
    for meta in files:
        assert set(meta) == RESULT_KEYS
        assert isinstance(meta["lower_bounds"][1], bytes) and isinstance(meta["partition"]["event_timestamp_day"], int)
        ours = lake.to_data_file(table, meta)
        theirs = parquet_file_to_data_file(table.io, table.metadata, meta["file_path"])
        # every returned field but the NaN counts (checked below), and the format we set
        for attr in sorted(RESULT_KEYS - {"nan_value_counts"} | {"file_format"}):
            assert getattr(ours, attr) == getattr(theirs, attr), attr
        assert ours.spec_id == table.spec().spec_id
        # pyiceberg leaves NaN counts empty when reading footers: check ours against the data
        written = pq.read_table(local_path(meta["file_path"]))
        nans = pc.sum(pc.is_nan(written["event_value"].drop_null())).as_py() or 0
        assert meta["nan_value_counts"] == {5: nans}
        # every row is in its day's file
        days = {(t - datetime(1970, 1, 1, tzinfo=UTC)).days for t in written["event_timestamp"].to_pylist()}
        assert days == {meta["partition"]["event_timestamp_day"]}
    assert any(f["nan_value_counts"][5] > 0 for f in files)


# Property 7: Iceberg Parquet round-trip preserves data
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(
            st.text(min_size=1, max_size=30),
            st.integers(min_value=-(10**15), max_value=4 * 10**15),
            st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
            st.one_of(st.none(), st.text(max_size=40)),
        ),
        min_size=1,
        max_size=120,
    ),
    spec=st.sampled_from(["day", "unpartitioned"]),
)
def test_parquet_round_trip_preserves_data(tmp_path, rows, spec):
    n = len(rows)
    ts = pa.array([r[1] for r in rows], pa.timestamp("us", tz="UTC"))
    data = pa.table(
        {
            "event_id": [f"{i:04d}{r[0]}" for i, r in enumerate(rows)],
            "user_id": [r[0] for r in rows],
            "event_type": ["view"] * n,
            "event_timestamp": ts,
            "event_value": pa.array([r[2] for r in rows], pa.float64()),
            "product_id": [r[3] for r in rows],
            "properties": pa.nulls(n, pa.string()),
            "event_date": pc.cast(ts, pa.date32()),
            "event_hour": pa.array([0] * n, pa.int32()),
            "job_id": ["j"] * n,
            "ingested_at": ts,
        }
    )
    spec_json = EVENTS.partition_spec.model_dump_json() if spec == "day" else '{"spec-id":0,"fields":[]}'
    out = tmp_path / uuid.uuid4().hex
    files = dp.write_iceberg_parquet(data, str(out), EVENTS.schema.model_dump_json(), spec_json)
    back = pa.concat_tables([pa.table(dp.parse_parquet(f["file_path"])) for f in files])
    assert as_table_rows(back) == as_table_rows(data)
    assert back.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")


def test_parse_parquet_reads_paths_and_bytes_with_field_ids(tmp_path):
    files = write(events(50), tmp_path.as_uri())
    path = local_path(files[0]["file_path"])
    from_path = pa.table(dp.parse_parquet(path))
    assert pa.table(dp.parse_parquet(files[0]["file_path"])).equals(from_path)  # file:// URI
    assert pa.table(dp.parse_parquet(Path(path))).equals(from_path)
    from_bytes = pa.table(dp.parse_parquet(open(path, "rb").read()))
    assert from_path.equals(pq.read_table(path))
    assert from_bytes.equals(from_path)
    ids = {f.name: int(f.metadata[b"PARQUET:field_id"]) for f in from_path.schema}
    assert ids == {f.name: f.field_id for f in EVENTS.schema.fields}
    with pytest.raises(dp.DataProcessorError):
        dp.parse_parquet(b"not parquet at all")


# Property 47: Iceberg Parquet files use compression
@pytest.mark.parametrize("codec", ["zstd", "snappy"])
def test_every_column_chunk_is_compressed(tmp_path, codec):
    files = write(events(2000, days=2), tmp_path, compression=codec, target_file_size=8 * 1024)
    assert len(files) > 2
    for f in files:
        md = pq.ParquetFile(local_path(f["file_path"])).metadata
        chunks = [md.row_group(r).column(c) for r in range(md.num_row_groups) for c in range(md.num_columns)]
        assert {c.compression for c in chunks} == {codec.upper()}
        assert f["split_offsets"] == sorted(
            min(md.row_group(r).column(0).dictionary_page_offset or 1 << 62, md.row_group(r).column(0).data_page_offset)
            for r in range(md.num_row_groups)
        )


def test_accepts_record_batches_polars_and_its_own_tables(tmp_path):
    data = events(300, seed=3)
    expected = as_table_rows(data)
    batch = data.to_batches()[0]
    polars_df = pl.from_arrow(data)  # large/view strings: cast by the writer
    for i, source in enumerate([batch, polars_df]):
        files = write(source, tmp_path / str(i))
        assert as_table_rows(read_files(files)) == expected
    # a Table returned by parse_parquet goes straight back in (Property 46's read/write-back)
    first = write(data, tmp_path / "a")
    back = [dp.parse_parquet(local_path(f["file_path"])) for f in first]
    again = [g for t in back for g in write(t, tmp_path / "b")]
    assert as_table_rows(read_files(again)) == expected
    assert sorted(f["partition"]["event_timestamp_day"] for f in again) == sorted(
        f["partition"]["event_timestamp_day"] for f in first
    )


def test_paths_keep_the_location_scheme(tmp_path):
    as_uri = write(events(10, days=1), tmp_path.as_uri())
    as_path = write(events(10, days=1), tmp_path)
    assert as_uri[0]["file_path"].startswith(tmp_path.as_uri() + "/data/event_timestamp_day=2026-11-24/data-")
    assert as_path[0]["file_path"].startswith(f"{tmp_path}/data/event_timestamp_day=2026-11-24/data-")
    prefixed = write(events(10, days=1), tmp_path, file_prefix="job-7")
    assert prefixed[0]["file_path"].rsplit("/", 1)[1].startswith("job-7-")
    assert write(events(0), tmp_path) == []


def test_schema_mismatches_raise_write_error_with_details(tmp_path):
    data = events(5)
    with pytest.raises(dp.WriteError) as missing:
        write(data.drop_columns(["job_id", "event_type"]), tmp_path)
    assert sorted(d["field"] for d in missing.value.details) == ["event_type", "job_id"]
    assert all(d["rule"] == "required" for d in missing.value.details)

    nulls = data.set_column(data.schema.get_field_index("user_id"), "user_id", pa.nulls(5, pa.string()))
    with pytest.raises(dp.WriteError) as has_nulls:
        write(nulls, tmp_path)
    assert has_nulls.value.details[0]["field"] == "user_id"
    assert has_nulls.value.details[0]["null_count"] == 5

    bad_type = data.set_column(data.schema.get_field_index("event_hour"), "event_hour", pa.array(["x"] * 5))
    with pytest.raises(dp.WriteError) as cast:
        write(bad_type, tmp_path)
    assert cast.value.details[0]["field"] == "event_hour" and cast.value.details[0]["rule"] == "type"

    with pytest.raises(dp.WriteError):
        write(data, tmp_path, compression="gzip")
    with pytest.raises(dp.WriteError):
        write(data, "s3://bucket/table")
    # a missing optional column is stored as nulls
    files = write(data.drop_columns(["product_id"]), tmp_path)
    assert all(f["null_value_counts"][6] == f["record_count"] for f in files)
