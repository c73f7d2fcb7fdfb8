"""How the dbt nodes appear in the Dagster asset graph: asset keys and groups.

A model is the asset of its bare name (``stg_events`` ...), in the group of its
layer; a source is the asset its yml ``meta.dagster.asset_key`` names
(``raw.events`` is ``raw_events``, the raw asset the consumer commits), in the
group ``raw``. The names come from :mod:`eventlake.dbt.nodes`, which the
dashboard's lineage uses too. dbt tests appear as asset checks.
"""

from collections.abc import Mapping
from typing import Any

from dagster import AssetKey
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

from eventlake.dbt.nodes import asset_key_path, layer_of


class EventlakeDbtTranslator(DagsterDbtTranslator):
    """Keys from :func:`~eventlake.dbt.nodes.asset_key_path`, groups from :func:`~eventlake.dbt.nodes.layer_of`."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        return AssetKey(asset_key_path(dbt_resource_props))

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return layer_of(dbt_resource_props)


translator = EventlakeDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))
