"""Issue 10: in PROD the dashboard's lineage names what dbt reads there, the Snowflake RAW loaders,
with the same asset keys as Dagster's PROD graph (the dbt sources depend on ``snowflake_raw_*``)."""

from __future__ import annotations

from eventlake.assets.snowflake_raw import snowflake_raw_asset_key
from eventlake.dashboard import data

MANIFEST = {
    "sources": {
        "source.eventlake.raw.events": {
            "source_name": "raw", "name": "events", "meta": {"dagster": {"asset_key": ["raw_events"]}},
        },
        "source.eventlake.raw.unread": {"source_name": "raw", "name": "unread"},
    },
    "nodes": {
        "model.eventlake.stg_events": {
            "resource_type": "model", "name": "stg_events", "fqn": ["eventlake", "staging", "stg_events"],
            "depends_on": {"nodes": ["source.eventlake.raw.events"]},
        },
    },
}  # fmt: skip


def _source_names(lineage) -> set[str]:
    return {n.name for n in lineage.nodes if n.resource_type == "source"}


def test_locally_the_sources_are_the_raw_iceberg_assets():
    lineage = data.lineage_from_manifest(MANIFEST)
    assert _source_names(lineage) == {"raw_events"}
    assert ("source.eventlake.raw.events", "model.eventlake.stg_events") in lineage.edges


def test_in_prod_the_sources_are_the_snowflake_raw_loaders_dagster_names():
    lineage = data.lineage_from_manifest(MANIFEST, prod=True)
    assert _source_names(lineage) == {snowflake_raw_asset_key("events").to_user_string()} == {"snowflake_raw_events"}
    assert ("source.eventlake.raw.events", "model.eventlake.stg_events") in lineage.edges
