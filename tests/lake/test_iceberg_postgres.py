"""The Iceberg SQL catalog on PostgreSQL (127.0.0.1:5432): a fresh database per run, dropped after."""

from __future__ import annotations

import threading
import uuid

import pytest

from eventlake import lake
from eventlake.settings import Settings
from tests.conftest import postgres_database
from tests.lake.test_iceberg_catalog import check_append_scan_prune


@pytest.fixture(scope="module")
def catalog_url():
    with postgres_database("eventlake_iceberg") as url:
        yield url


def test_postgres_catalog_round_trips(tmp_path, catalog_url):
    check_append_scan_prune(Settings(home=tmp_path, catalog_uri=catalog_url))


def test_postgres_catalog_tables_are_created_once_under_a_race(tmp_path, catalog_url):
    settings = Settings(home=tmp_path, catalog_uri=catalog_url, catalog_name=f"race_{uuid.uuid4().hex[:6]}")
    barrier = threading.Barrier(2, timeout=30)
    uuids: list[dict] = []
    errors: list[BaseException] = []

    def create():
        try:
            barrier.wait()
            tables = lake.ensure_tables(lake.load_catalog(settings))
            uuids.append({k: t.metadata.table_uuid for k, t in tables.items()})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert uuids[0] == uuids[1]
