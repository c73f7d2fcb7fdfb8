"""eventlake.dbt.nodes: one naming of the dbt nodes, for the asset graph and the dashboard."""

from __future__ import annotations

import subprocess
import sys

import yaml

from eventlake import contracts
from eventlake.assets.raw import raw_asset_key
from eventlake.dbt.nodes import asset_key_path, layer_of
from tests.conftest import REPO_ROOT

SOURCES_YML = REPO_ROOT / "dbt_project" / "models" / "staging" / "__sources.yml"


def test_each_raw_source_names_its_raw_asset_in_meta():
    doc = yaml.safe_load(SOURCES_YML.read_text(encoding="utf-8"))
    (raw,) = [s for s in doc["sources"] if s["name"] == contracts.RAW_NAMESPACE]
    tables = {t["name"]: t for t in raw["tables"]}
    for dataset in contracts.DATASETS:
        props = {"resource_type": "source", "source_name": raw["name"], **tables[dataset]}
        assert asset_key_path(props) == raw_asset_key(dataset).path, dataset


def test_keys_and_layers():
    model = {"resource_type": "model", "name": "stg_events", "fqn": ["eventlake", "staging", "stg_events"], "config": {}}
    assert asset_key_path(model) == ["stg_events"]
    assert layer_of(model) == "staging"
    assert layer_of({"resource_type": "model", "name": "x", "fqn": ["eventlake", "x"], "schema": "intermediate"}) == "intermediate"
    assert layer_of({"resource_type": "model", "name": "x", "fqn": ["eventlake", "x"]}) == "marts"
    source = {"resource_type": "source", "source_name": "raw", "name": "rejected_records", "fqn": ["eventlake", "staging"]}
    assert layer_of(source) == "raw"
    assert asset_key_path(source) == ["raw", "rejected_records"]  # dagster-dbt's default without meta
    assert asset_key_path({**source, "meta": {"dagster": {"asset_key": ["raw_x"]}}}) == ["raw_x"]


def test_the_naming_imports_no_dagster():
    code = "import sys, eventlake.dbt.nodes, eventlake.dashboard.data; print('dagster' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
