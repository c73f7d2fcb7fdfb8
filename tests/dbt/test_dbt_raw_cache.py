"""The dbt_raw plugin reads each Iceberg manifest once per warehouse.

A steady stream commits many small snapshots; the transform opens the raw
tables three times a run (once per dbt layer). Manifests are immutable, so
the plugin keeps their live entries in the warehouse, reads only manifests
committed since, and does nothing when the table has not changed. The file
lists it exposes must equal a fresh read of the snapshot's manifests
every time, after a compaction too.
"""

from __future__ import annotations

import duckdb
import pytest

from eventlake import dbt_raw, lake, maintenance
from tests.dbt.dbt_lakehouse import Lakehouse, event, make_lakehouse, ts


@pytest.fixture
def house(tmp_path) -> Lakehouse:
    return make_lakehouse(tmp_path / "lake")


def load(house: Lakehouse, job: int, n: int = 3) -> None:
    house.append("events", [event(f"j{job}e{i}", "u1", ts(i), job_id=f"j{job}", ingested_at=ts(60 * job)) for i in range(n)])


def test_manifests_are_read_once_and_the_files_always_match_the_snapshot(house: Lakehouse, tmp_path, monkeypatch) -> None:
    read: list[int] = []
    real = dbt_raw._read_manifests
    monkeypatch.setattr(dbt_raw, "_read_manifests", lambda table, manifests: read.append(len(manifests)) or real(table, manifests))

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema raw")

    def expose() -> list[str]:
        table = house.catalog.load_table("raw.events")
        dbt_raw.expose(con, table, "raw", "events", tmp_path / "schemas")
        exposed = sorted(r[0] for r in con.execute("select file_path from raw.events__files").fetchall())
        counted = len(read)
        fresh = dbt_raw._read_manifests(table, table.current_snapshot().manifests(table.io))
        assert exposed == sorted(dbt_raw._local_path(f[0]) for _, entries in fresh for f in entries)
        del read[counted:]  # ... which the plugin did not do
        return exposed

    for job in range(5):
        load(house, job)
    assert len(expose()) == 5
    assert read[-1] == 5
    read.clear()
    expose()  # the next dbt layer of the same run: the snapshot did not change
    assert read == []

    load(house, 5)
    load(house, 6)
    assert len(expose()) == 7
    assert read == [2]  # only the two manifests committed since
    assert con.execute("select count(*) from raw.events").fetchone()[0] == 21

    lake.ensure_tables(house.catalog)  # adds the row lineage column a compaction writes: a new schema
    table = house.catalog.load_table("raw.events")
    maintenance.compact(table, target_file_bytes=64 << 20, small_file_bytes=32 << 20, min_input_files=2)
    read.clear()
    files = expose()
    assert len(files) == 1 and read  # the compaction's manifests are new; the old ones leave the cache
    cached = con.execute("select count(distinct manifest_path) from raw.__manifests where table_name = 'events'").fetchone()[0]
    assert cached == len(house.catalog.load_table("raw.events").current_snapshot().manifests(table.io))
    assert con.execute("select count(*) from raw.events").fetchone()[0] == 21
