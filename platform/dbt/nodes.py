"""What eventlake calls a node of the dbt manifest: its layer and its Dagster asset key.

Plain functions over the manifest's dicts, no Dagster import: the translator
(:mod:`eventlake.dbt.translator`) names the asset graph with them and the
dashboard draws the lineage with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The layers dbt builds, in order (the folders of ``dbt_project/models``).
LAYERS = ("staging", "intermediate", "marts")
#: The layer of the dbt sources: the raw Iceberg tables, Dagster assets of their own.
RAW_LAYER = "raw"


def layer_of(props: Mapping[str, Any]) -> str:
    """``raw`` for a source; for a model the first folder of its fqn that names a layer,
    else its schema when that names one, else ``marts``."""
    if props.get("resource_type") == "source":
        return RAW_LAYER
    for part in props.get("fqn", []):
        if part in LAYERS:
            return part
    schema = str(props.get("schema") or "").lower()
    return schema if schema in LAYERS else "marts"


def asset_key_path(props: Mapping[str, Any]) -> list[str]:
    """The Dagster asset key of a node, as its path.

    A node whose yml sets ``meta.dagster.asset_key`` (the sources ``raw.events`` ...
    in ``models/staging/__sources.yml``: the raw assets ``raw_events`` ...) has that
    key, as dagster-dbt reads it; any other model is keyed by its bare name, and any
    other source by ``[source_name, name]`` (dagster-dbt's default).
    """
    meta = (props.get("config") or {}).get("meta") or props.get("meta") or {}
    configured = (meta.get("dagster") or {}).get("asset_key")
    if configured:
        return [configured] if isinstance(configured, str) else list(configured)
    if props.get("resource_type") == "source":
        return [props["source_name"], props["name"]]
    return [props["name"]]
