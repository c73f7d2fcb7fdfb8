"""The dbt models as Dagster assets: staging -> intermediate -> marts.

The project, its manifest and dbt's environment are :mod:`eventlake.dbt.project`
(everything dbt writes, manifest included, is in the home's dbt target directory);
the names (dbt sources ``raw.events|users|products`` are the raw_* assets, so raw
Iceberg tables and dbt models form one lineage graph), the check descriptions and the
code references are :mod:`eventlake.dbt.translator`.

Each layer is its own multi-asset, so a run builds them as separate steps in
order: a failed dbt test, or a failed blocking check (the staging Great
Expectations suite), stops the layers downstream of it in that run. Every
materialization carries ``dagster/row_count``, read from the warehouse once
the layer's dbt build has finished (the warehouse file is dbt's until then).
"""

import functools
import json
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetMaterialization, AssetsDefinition, Config, Output, ResourceParam
from dagster_dbt import DbtCliResource, dbt_assets
from pydantic import Field

from eventlake.dbt.nodes import LAYERS
from eventlake.dbt.project import (
    DBT_PROJECT_DIR,
    dbt_project_for,
    ensure_manifest,
    invocation_dir,
    layer_dir,
    scoped_environ,
)
from eventlake.dbt.translator import translator
from eventlake.resources.core import EventlakeResource, settings_for
from eventlake.runs import WAREHOUSE_POOL

__all__ = ["DBT_PROJECT_DIR", "DbtRunConfig", "dbt_layer_assets", "layer_op_name"]


class DbtRunConfig(Config):
    """Run configuration of each dbt layer step."""

    full_checks: bool = Field(
        default=False,
        description="Run the dbt tests on whole tables instead of the rows this run wrote (the daily schedule sets it).",
    )


def _row_counts(warehouse, keys: list[AssetKey], manifest_models: Mapping[str, Mapping[str, Any]]) -> dict[AssetKey, int]:
    """``count(*)`` of each materialized model, read from the warehouse."""
    counts: dict[AssetKey, int] = {}
    selects = []
    for key in keys:
        props = manifest_models.get(key.path[-1])
        if props is None:
            continue
        relation = warehouse.relation(props["schema"], props["alias"] or props["name"])
        selects.append(f"select '{key.path[-1]}' as model, count(*) as n from {relation}")
    if not selects:
        return counts
    frame = warehouse.query_df(" union all ".join(selects))
    by_model = {str(m).lower(): int(n) for m, n in frame.itertuples(index=False, name=None)}
    for key in keys:
        if key.path[-1].lower() in by_model:
            counts[key] = by_model[key.path[-1].lower()]
    return counts


def _models_by_name(manifest_path: Path) -> dict[str, dict[str, Any]]:
    manifest = json.loads(manifest_path.read_text())
    return {
        node["name"]: {"schema": node["schema"], "alias": node.get("alias"), "name": node["name"]}
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }


def _with_row_counts(events: list[Any], counts: Mapping[AssetKey, int], key_of_output) -> Iterator[Any]:
    for event in events:
        if isinstance(event, Output):
            key = key_of_output(event.output_name)
            if key in counts:
                event = event.with_metadata({**(event.metadata or {}), "dagster/row_count": counts[key]})
        elif isinstance(event, AssetMaterialization) and event.asset_key in counts:
            event = event.with_metadata({**(event.metadata or {}), "dagster/row_count": counts[event.asset_key]})
        yield event


def layer_op_name(layer: str) -> str:
    """The op (and step) of a layer's multi-asset: ``dbt_staging`` ..."""
    return f"dbt_{layer}"


def _invoke_in_process(context, dbt: DbtCliResource, eventlake: EventlakeResource, args: list[str], layer: str) -> list[Any]:
    """dbt in this process (eventlake.dbt_runner); raises like dagster-dbt when dbt fails."""
    from dagster import Failure

    from eventlake import dbt_runner

    settings = eventlake.settings
    outcome = dbt_runner.invoke(
        context, args, project=dbt_project_for(settings), target=dbt.target or "LOCAL", env=eventlake.dbt_env(),
        translator=translator, target_path=layer_dir(settings, layer),
    )
    if not outcome.success:
        # dagster-dbt's subprocess path fails the step the same way: the
        # events dbt did produce (passed tests, built models) are lost with it
        errors = "\n".join(outcome.errors[-20:]) or str(outcome.exception or "")
        raise Failure(
            description=f"dbt {layer} failed: dbt {' '.join(outcome.argv)}\n{errors}",
            metadata={"dbt_errors": "\n".join(outcome.errors[-50:])},
            # transform_job's retry policy (eventlake.runs) retries only what may pass next time
            allow_retries=is_transient_dbt_failure([*outcome.errors, str(outcome.exception or "")]),
        )
    return outcome.events


#: dbt errors a later attempt may not meet: the warehouse file locked by another process,
#: I/O and connection failures. Failed tests, SQL and compilation errors are the data's or the
#: code's: retrying them changes nothing.
TRANSIENT_DBT_ERRORS = ("could not set lock", "io error", "connection", "timed out", "timeout", "temporarily unavailable")


def is_transient_dbt_failure(messages: list[str]) -> bool:
    """Whether dbt failed for a reason a retry may not meet (see ``TRANSIENT_DBT_ERRORS``)."""
    return any(pattern in message.lower() for message in messages for pattern in TRANSIENT_DBT_ERRORS)


def _dbt_layer(layer: str, manifest: Path, project) -> AssetsDefinition:
    @dbt_assets(
        manifest=manifest,
        project=project,
        dagster_dbt_translator=translator,
        name=layer_op_name(layer),
        select=f"fqn:eventlake.{layer}.*",
        pool=WAREHOUSE_POOL,  # one run writing the DuckDB file at a time, whatever its job (eventlake.runs)
    )
    def _layer(
        context: AssetExecutionContext,
        dbt: DbtCliResource,
        eventlake: EventlakeResource,
        warehouse: ResourceParam[Any],
        config: DbtRunConfig,
    ):
        # a test whose parents span layers (stg_events and fact_events) runs
        # with the later layer: "buildable" selects a test once all its
        # parents are selected or upstream of the selection
        args = ["build", "--indirect-selection", "buildable"]
        if config.full_checks:
            args += ["--vars", json.dumps({"full_checks": True})]
        if eventlake.settings.dbt_in_process:
            events = _invoke_in_process(context, dbt, eventlake, args, layer)
        else:
            # The dbt profile (dbt_project/profiles.yml) reads these. dagster-dbt
            # builds the subprocess environment from os.environ when the process
            # starts, so set them only for that moment: a run in process must not
            # leak another EVENTLAKE_HOME's paths into the rest of the process.
            # Each dbt process writes to a directory of its own in the home's target directory.
            target_path = invocation_dir(eventlake.settings, context.op_execution_context.op.name, context.run.run_id)
            with scoped_environ(eventlake.dbt_env()):
                invocation = dbt.cli(args, context=context, target_path=target_path)
            events = list(invocation.stream())
        key_of = context.assets_def.keys_by_output_name.get
        materialized = [
            key_of(e.output_name) if isinstance(e, Output) else e.asset_key
            for e in events
            if isinstance(e, (Output, AssetMaterialization))
        ]
        try:
            counts = _row_counts(warehouse, materialized, _models_by_name(manifest))
        except Exception as exc:  # counts are metadata: never fail a built layer for them
            context.log.warning(f"dbt {layer}: could not read row counts from the warehouse: {exc}")
            counts = {}
        if layer == LAYERS[-1]:  # the transform's last step: dbt docs of the whole warehouse, linked (never failing it)
            from eventlake.quality.dbt_docs import with_dbt_docs

            events = with_dbt_docs(events, eventlake.settings, context.log)
        yield from _with_row_counts(events, counts, key_of)

    return _layer


def dbt_layer_assets(home: str | None = None) -> tuple[AssetsDefinition, ...]:
    """The multi-assets of the layers, staging, intermediate and marts, in that order (op names
    :func:`layer_op_name`), with code references to their model, yml and this file.

    Built once per dbt target directory and process, when the definitions are built: the home's
    manifest (``home`` or the settings' EVENTLAKE_HOME) is ensured (parsed when missing or stale) first."""
    return _layer_assets(settings_for(home).dbt_target_path, home)


@functools.cache
def _layer_assets(target_path: Path, home: str | None) -> tuple[AssetsDefinition, ...]:  # noqa: ARG001 - the cache key
    from dagster import BetaWarning, with_source_code_references

    settings = settings_for(home)
    manifest = ensure_manifest(settings)
    project = dbt_project_for(settings)
    with warnings.catch_warnings():  # code references are a beta API of the pinned Dagster
        warnings.simplefilter("ignore", BetaWarning)
        return tuple(with_source_code_references([_dbt_layer(layer, manifest, project) for layer in LAYERS]))
