"""The dbt project: where it is, the ``DbtProject``, its manifest, and the environment dbt runs with.

The same SQL runs on DuckDB (target LOCAL) and Snowflake (target PROD). The
project's files live in the repository (``dbt_project/``); everything dbt
writes lives in the home's dbt target directory (``Settings.dbt_target_path``,
``$EVENTLAKE_HOME/dbt/target`` by default), so each home has its own manifest and
run artifacts and nothing is written into the repository:

* ``manifest.json`` and dbt's parse cache, prepared when the definitions are
  built (:func:`ensure_manifest`), never at import;
* ``<layer>/``: the artifacts of the layer's latest in-process dbt step (a
  fixed directory per layer, so dbt reuses its parse);
* ``dbt_<layer>-<run>-<id>/``: one directory per dbt process (``EVENTLAKE_DBT_IN_PROCESS=false``),
  of which the newest :data:`KEPT_INVOCATION_DIRS` are kept (:func:`invocation_dir`).
"""

import functools
import logging
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from dagster_dbt import DbtProject
from dagster_dbt.dbt_project import DagsterDbtProjectPreparer

from eventlake.resources.core import dbt_env
from eventlake.settings import Settings

log = logging.getLogger("eventlake.dbt")

# platform/dbt/project.py -> repo root -> dbt_project/
DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
# The dbt of this interpreter's environment, also when the venv is not
# activated (e.g. `.venv/bin/dagster dev`), where `dbt` is not on PATH: the
# DbtCliResources (eventlake.resources.registry) and the parse below name it.
_VENV_DBT = Path(sys.executable).parent / "dbt"
DBT_EXECUTABLE = str(_VENV_DBT) if _VENV_DBT.exists() else "dbt"
#: dbt's parse cache, which a new target directory starts from (as dagster-dbt's subprocess runs do)
PARTIAL_PARSE_FILE = "partial_parse.msgpack"
#: Directories of dbt processes kept in the target directory: the last two transform runs (one per layer).
KEPT_INVOCATION_DIRS = 6


@functools.cache
def dbt_project_at(target_path: Path) -> DbtProject:
    """The ``DbtProject`` writing to ``target_path`` (absolute: dbt joins it to nothing)."""
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target="LOCAL", target_path=target_path)


def dbt_project_for(settings: Settings) -> DbtProject:
    """The ``DbtProject`` of a home: the repository's project, writing to the home's dbt target directory."""
    return dbt_project_at(settings.dbt_target_path)


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


def ensure_manifest(settings: Settings) -> Path:
    """The home's manifest, parsed when it is missing or a project file changed since.

    Called when the definitions are built (``eventlake.assets.dbt.dbt_layer_assets``),
    never at import. Loading the code location happens in every run worker, so it must
    not parse the project each time (``DbtProject.prepare_if_dev`` does under
    ``dagster dev``, which kept a run in STARTING for tens of seconds). The
    parse runs with the dbt environment of the settings, as the runs
    do: dbt then reuses it (partial parsing) instead of re-parsing the whole
    project on every invocation because "profile has changed".
    """
    project = dbt_project_for(settings)
    manifest = project.manifest_path
    if not manifest.exists() or manifest.stat().st_mtime < _project_mtime(project.project_dir):
        log.info("dbt manifest %s missing or older than the project; running dbt parse", manifest)
        settings.ensure_home()
        manifest.parent.mkdir(parents=True, exist_ok=True)
        EventlakeDbtPreparer(dbt_env(settings)).prepare(project)
    return manifest


def layer_dir(settings: Settings, layer: str) -> Path:
    """Where the layer's in-process dbt step writes (the same directory every run, so dbt reuses its
    parse); a new one starts from the manifest's parse cache."""
    path = settings.dbt_target_path / layer
    _seed_partial_parse(settings.dbt_target_path, path)
    return path


def invocation_dir(settings: Settings, op_name: str, run_id: str) -> Path:
    """A new directory for one dbt process of ``op_name`` in run ``run_id``
    (``<op>-<run id[:7]>-<id>``, dagster-dbt's naming), starting from the manifest's parse cache.
    The oldest such directories beyond :data:`KEPT_INVOCATION_DIRS` are deleted first."""
    root = settings.dbt_target_path
    prune_invocation_dirs(root, keep=KEPT_INVOCATION_DIRS - 1)
    path = root / f"{op_name}-{run_id[:7]}-{uuid.uuid4().hex[:7]}"
    _seed_partial_parse(root, path)
    return path


def prune_invocation_dirs(root: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest dbt process directories under ``root``; the deleted ones."""
    found = sorted(
        (p for p in root.glob("dbt_*-*-*") if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for path in found[keep:]:
        shutil.rmtree(path, ignore_errors=True)
    return found[keep:]


def _seed_partial_parse(root: Path, path: Path) -> None:
    source, dest = root / PARTIAL_PARSE_FILE, path / PARTIAL_PARSE_FILE
    if source.exists() and not dest.exists():
        path.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)


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
