"""The dbt models as Dagster assets: staging -> intermediate -> marts.

dbt sources ``raw.events|users|products`` map onto the raw_* assets, so raw
Iceberg tables and dbt models form one lineage graph. dbt tests appear as asset
checks. The same SQL runs on DuckDB (target LOCAL) and Snowflake (target PROD).

Each layer is its own multi-asset, so a run builds them as separate steps in
order: a failed dbt test, or a failed blocking check (the staging Great
Expectations suite), stops the layers downstream of it in that run. Every
materialization carries ``dagster/row_count``, read from the warehouse once
the layer's dbt build has finished (the warehouse file is dbt's until then).
"""

import functools
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetMaterialization, AssetsDefinition, Config, Output, ResourceParam
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets
from dagster_dbt.dbt_project import DagsterDbtProjectPreparer

from eventlake.resources.core import EventlakeResource
from eventlake.runs import WAREHOUSE_POOL
from pydantic import Field

log = logging.getLogger("eventlake.dbt")

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
LAYERS = ("staging", "intermediate", "marts")
# The dbt of this interpreter's environment, also when the venv is not
# activated (e.g. `.venv/bin/dagster dev`), where `dbt` is not on PATH: the
# DbtCliResources (eventlake.resources.registry) and the parse below name it.
_VENV_DBT = Path(sys.executable).parent / "dbt"
DBT_EXECUTABLE = str(_VENV_DBT) if _VENV_DBT.exists() else "dbt"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target="LOCAL")


def _project_mtime(project_dir: Path) -> float:
    """Newest modification time of the files dbt parses."""
    newest = 0.0
    for pattern in ("*.yml", "models/**/*", "macros/**/*", "tests/**/*"):
        for path in project_dir.glob(pattern):
            if path.is_file():
                newest = max(newest, path.stat().st_mtime)
    return newest


class EventlakeDbtPreparer(DagsterDbtProjectPreparer):
    """dagster-dbt's preparer (``dbt deps`` when the project has packages, then ``dbt parse``,
    each under its concurrent-update lock), running this environment's dbt with an explicit
    environment: the variables the profile reads come from ``env``, never from writes to
    this process's ``os.environ``."""

    def __init__(self, env: Mapping[str, str]):
        super().__init__()
        self._env = dict(env)

    def _prepare_packages(self, project: DbtProject) -> None:
        self._run(project, ["deps", "--quiet"])

    def _prepare_manifest(self, project: DbtProject) -> None:
        self._run(project, self._prepare_project_cli_args)

    def _run(self, project: DbtProject, args: Sequence[str]) -> None:
        target_path = project.project_dir / project.target_path
        cmd = [
            DBT_EXECUTABLE, *args,
            "--project-dir", str(project.project_dir),
            "--profiles-dir", str(project.profiles_dir),
            *(["--target", project.target] if project.target else []),
            "--target-path", str(target_path),
            "--log-path", str(target_path),
        ]
        env = {**os.environ, **self._env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        done = subprocess.run(cmd, cwd=project.project_dir, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}")


def ensure_manifest(project: DbtProject = dbt_project) -> Path:
    """Parse the project when it has no manifest or a file changed since.

    Called when the definitions are built (``dbt_layer_assets``), never at
    import. Loading the code location happens in every run worker, so it must
    not parse the project each time (``DbtProject.prepare_if_dev`` does under
    ``dagster dev``, which kept a run in STARTING for tens of seconds). The
    parse runs with the dbt environment of the current settings, as the runs
    do: dbt then reuses it (partial parsing) instead of re-parsing the whole
    project on every invocation because "profile has changed".
    """
    manifest = project.manifest_path
    if not manifest.exists() or manifest.stat().st_mtime < _project_mtime(project.project_dir):
        log.info("dbt manifest %s missing or older than the project; running dbt parse", manifest)
        EventlakeDbtPreparer(EventlakeResource().dbt_env()).prepare(project)
    return manifest


@contextmanager
def scoped_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the block only, restoring what was there.

    For dbt invocations that read ``os.environ`` and take no environment of
    their own: dbt's ``dbtRunner`` (eventlake.dbt_runner) and the start of
    dagster-dbt's ``DbtCliResource.cli`` subprocess.
    """
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def layer_of(props: Mapping[str, Any]) -> str:
    fqn = props.get("fqn", [])
    for part in fqn:
        if part in LAYERS:
            return part
    return "marts"


class EventlakeDbtTranslator(DagsterDbtTranslator):
    """Keys are bare model names (stg_events ...); source raw.events is asset raw_events."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey(f"{dbt_resource_props['source_name']}_{dbt_resource_props['name']}")
        return AssetKey(dbt_resource_props["name"])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "raw"
        return layer_of(dbt_resource_props)


translator = EventlakeDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


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


def _invoke_in_process(context, dbt: DbtCliResource, eventlake: EventlakeResource, args: list[str], layer: str) -> list[Any]:
    """dbt in this process (eventlake.dbt_runner); raises like dagster-dbt when dbt fails."""
    from dagster import Failure

    from eventlake import dbt_runner

    outcome = dbt_runner.invoke(
        context, args, project=dbt_project, target=dbt.target or "LOCAL", env=eventlake.dbt_env(),
        translator=translator, target_path=DBT_PROJECT_DIR / "target" / "eventlake" / layer,
    )
    if not outcome.success:
        # dagster-dbt's subprocess path fails the step the same way: the
        # events dbt did produce (passed tests, built models) are lost with it
        errors = "\n".join(outcome.errors[-20:]) or str(outcome.exception or "")
        raise Failure(
            description=f"dbt {layer} failed: dbt {' '.join(outcome.argv)}\n{errors}",
            metadata={"dbt_errors": "\n".join(outcome.errors[-50:])},
        )
    return outcome.events


def _dbt_layer(layer: str, manifest: Path) -> AssetsDefinition:
    @dbt_assets(
        manifest=manifest,
        project=dbt_project,
        dagster_dbt_translator=translator,
        name=f"dbt_{layer}",
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
            with scoped_environ(eventlake.dbt_env()):
                invocation = dbt.cli(args, context=context)
            events = list(invocation.stream())
        key_of = context.assets_def.keys_by_output_name.get
        materialized = [
            key_of(e.output_name) if isinstance(e, Output) else e.asset_key
            for e in events
            if isinstance(e, (Output, AssetMaterialization))
        ]
        try:
            counts = _row_counts(warehouse, materialized, _models_by_name(dbt_project.manifest_path))
        except Exception as exc:  # counts are metadata: never fail a built layer for them
            context.log.warning(f"dbt {layer}: could not read row counts from the warehouse: {exc}")
            counts = {}
        yield from _with_row_counts(events, counts, key_of)

    return _layer


@functools.cache
def dbt_layer_assets() -> tuple[AssetsDefinition, ...]:
    """The multi-assets of the layers, staging, intermediate and marts, in that order (op names
    ``dbt_<layer>``). Built once per process, when the definitions are built: the manifest is
    ensured (parsed when missing or stale) first."""
    manifest = ensure_manifest()
    return tuple(_dbt_layer(layer, manifest) for layer in LAYERS)
