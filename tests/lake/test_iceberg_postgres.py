"""The Iceberg SQL catalog on PostgreSQL (127.0.0.1:5432): a fresh database per run, dropped after."""

from __future__ import annotations

import uuid

import pytest

from eventlake import lake
from eventlake.settings import Settings
from tests.conftest import postgres_database, race
from tests.lake.test_iceberg_catalog import check_append_scan_prune


@pytest.fixture(scope="module")
def catalog_url():
    with postgres_database("eventlake_iceberg") as url:
        yield url


def test_postgres_catalog_round_trips(tmp_path, catalog_url):
    check_append_scan_prune(Settings(home=tmp_path, catalog_uri=catalog_url))


def test_postgres_catalog_tables_are_created_once_under_a_race(tmp_path, catalog_url):
    settings = Settings(home=tmp_path, catalog_uri=catalog_url, catalog_name=f"race_{uuid.uuid4().hex[:6]}")
    uuids: list[dict] = []

    def create():
        tables = lake.ensure_tables(lake.load_catalog(settings))
        uuids.append({k: t.metadata.table_uuid for k, t in tables.items()})

    errors = race(create, threads=2)
    assert not errors, errors
    assert uuids[0] == uuids[1]
