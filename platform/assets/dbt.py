"""The dbt models as Dagster assets: staging -> intermediate -> marts.

dbt sources ``raw.events|users|products`` map onto the raw_* assets, so raw
Iceberg tables and dbt models form one lineage graph. dbt tests appear as asset
checks. The same SQL runs on DuckDB (target LOCAL) and Snowflake (target PROD).
"""

import logging
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from eventlake.resources.core import EventlakeResource

log = logging.getLogger("eventlake.dbt")

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
LAYERS = ("staging", "intermediate", "marts")
# Use the dbt of this interpreter's environment also when the venv is not
# activated (e.g. `.venv/bin/dagster dev`): dagster-dbt looks `dbt` up on PATH,
# including inside DbtProject.prepare_if_dev.
_VENV_BIN = Path(sys.executable).parent
if (_VENV_BIN / "dbt").exists() and shutil.which("dbt") != str(_VENV_BIN / "dbt"):
    os.environ["PATH"] = f"{_VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target="LOCAL")


def ensure_manifest(project: DbtProject = dbt_project) -> Path:
    """Parse the project if no manifest exists yet (first run on a fresh clone).

    Under ``dagster dev`` the project is re-parsed on every load to pick up
    edits; deployments build the manifest ahead of time.
    """
    project.prepare_if_dev()
    if not project.manifest_path.exists():
        log.info("no dbt manifest at %s; running dbt parse", project.manifest_path)
        project.preparer.prepare(project)
    return project.manifest_path


@contextmanager
def scoped_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the block only, restoring what was there."""
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


@dbt_assets(
    manifest=ensure_manifest(),
    project=dbt_project,
    dagster_dbt_translator=translator,
    name="dbt_models",
)
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, eventlake: EventlakeResource):
    # The dbt profile (dbt_project/profiles.yml) reads these. dagster-dbt builds
    # the subprocess environment from os.environ when the process starts, so set
    # them only for that moment: a run in process must not leak another
    # EVENTLAKE_HOME's paths into the rest of the process.
    with scoped_environ(eventlake.dbt_env()):
        invocation = dbt.cli(["build"], context=context)
    yield from invocation.stream()
