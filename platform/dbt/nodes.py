"""What eventlake calls a node of the dbt manifest: its layer, its Dagster asset key, and what a test checks.

Plain functions over the manifest's dicts, no Dagster import: the translator
(:mod:`eventlake.dbt.translator`) names and describes the asset graph with them and the
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


def loader_asset_name(raw_asset: str) -> str:
    """In PROD, the asset that copies the raw Iceberg table ``raw_asset`` into Snowflake RAW, which is
    what the dbt sources read there: ``raw_events`` -> ``snowflake_raw_events``."""
    return f"snowflake_{raw_asset}"


#: ``where: new_rows`` (dbt_project.yml, macros/tests_scope.sql): the rows of the model's latest run
NEW_ROWS = "new_rows"


def _model_name(ref: Any) -> str:
    """``ref('dim_users')`` -> ``dim_users``; ``source('raw', 'events')`` -> ``raw.events``."""
    text = str(ref).strip()
    if "(" in text and text.endswith(")"):
        args = [a.strip().strip("'\"") for a in text[text.index("(") + 1 : -1].split(",")]
        return ".".join(a for a in args if a)
    return text


def _what_it_checks(test: str, column: str | None, kwargs: Mapping[str, Any]) -> str:
    subject = column or "each row"
    # one branch per dbt test type, alike in shape on purpose: each builds its own sentence
    if test == "unique":
        return f"{subject} has no duplicates"
    if test == "not_null":
        return f"{subject} is never null"
    if test == "accepted_values":
        return f"{subject} is one of {', '.join(map(str, kwargs.get('values') or []))}"
    if test == "relationships":
        return f"{subject} references {_model_name(kwargs.get('to'))}.{kwargs.get('field')}"
    if test == "unique_combination_of_columns":
        return f"({', '.join(kwargs.get('combination_of_columns') or [])}) has no duplicates"
    if test == "expression_is_true":
        return f"{kwargs.get('expression')} holds on every row"
    arguments = ", ".join(f"{k}={v}" for k, v in kwargs.items() if k not in ("model", "column_name"))
    return f"{subject}" + (f" ({arguments})" if arguments else "")


def describe_test(props: Mapping[str, Any]) -> str:
    """What a dbt test checks, in words: its yml ``description`` when it has one, else built from
    the test and its arguments ("unique: event_id has no duplicates", "relationships: user_sk
    references dim_users.user_sk"), then the rows it looks at."""
    own = str(props.get("description") or "").strip()
    metadata = props.get("test_metadata") or {}
    config = props.get("config") or {}
    if own:
        text = own
    elif metadata:
        name = metadata.get("name") or props.get("name", "test")
        column = props.get("column_name") or (metadata.get("kwargs") or {}).get("column_name")
        text = f"{name}: {_what_it_checks(name, column, metadata.get('kwargs') or {})}"
    else:  # a singular test: a query returning the rows that break the rule
        text = f"{props.get('name', 'test')}: {props.get('original_file_path', 'its query')} returns no rows"
    where = config.get("where")
    if where == NEW_ROWS:
        text += " (rows of the latest run; the whole table in the daily full-checks run)"
    elif where:
        text += f" (rows where {where})"
    if str(config.get("severity") or "error").lower() == "warn":
        text += " (warns, does not fail the run)"
    return text
