"""An s3:// warehouse on a real moto_server process: staged writes, upload, commit, read back.

Also the Glue catalog against the same server.
"""

from __future__ import annotations

import tempfile
import uuid

import boto3
import pytest

from eventlake import lake
from eventlake.settings import Settings
from tests.lake.test_iceberg_catalog import check_append_scan_prune, events


pytestmark = pytest.mark.usefixtures("fake_aws_credentials")


@pytest.fixture
def bucket(moto_url):
    name = f"lake-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture
def staging_root(tmp_path, monkeypatch):
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def _keys(moto_url: str, bucket: str, prefix: str) -> list[str]:
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_s3_warehouse_round_trips(tmp_path, moto_url, bucket, staging_root):
    settings = Settings(home=tmp_path / "home", warehouse=f"s3://{bucket}/warehouse", s3_endpoint_url=moto_url)
    check_append_scan_prune(settings)
    table = lake.ensure_tables(lake.load_catalog(settings))["events"]
    data_keys = [k for k in _keys(moto_url, bucket, "warehouse/") if k.endswith(".parquet")]
    committed = {task.file.file_path for task in table.scan().plan_files()}
    assert {f"s3://{bucket}/{k}" for k in data_keys} == committed
    assert all("/data/event_timestamp_day=" in k for k in data_keys)
    assert list(staging_root.iterdir()) == []  # staging directories are removed after the commit


def test_glue_catalog_with_s3_warehouse(tmp_path, moto_url, bucket, staging_root):
    settings = Settings(
        home=tmp_path / "home",
        catalog_type="glue",
        glue_endpoint_url=moto_url,
        warehouse=f"s3://{bucket}/glue",
        s3_endpoint_url=moto_url,
    )
    table = lake.ensure_tables(lake.load_catalog(settings))["events"]
    data = events(500, seed=4)
    snapshot = lake.append_arrow(table, data, snapshot_properties={"eventlake.checkpoint": "7"})
    reloaded = lake.ensure_tables(lake.load_catalog(settings))["events"]
    assert reloaded.metadata.current_snapshot().snapshot_id == snapshot.snapshot_id
    assert reloaded.metadata.current_snapshot().summary["eventlake.checkpoint"] == "7"
    assert reloaded.scan().to_arrow().num_rows == 500
