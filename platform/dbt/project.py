"""The dbt project: where it is, the ``DbtProject``, its manifest, and the environment dbt runs with.

The same SQL runs on DuckDB (target LOCAL) and Snowflake (target PROD). The
manifest is prepared when the definitions are built (:func:`ensure_manifest`),
never at import.
"""

import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from dagster_dbt import DbtProject
from dagster_dbt.dbt_project import DagsterDbtProjectPreparer

from eventlake.resources.core import EventlakeResource

log = logging.getLogger("eventlake.dbt")

# platform/dbt/project.py -> repo root -> dbt_project/
DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
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

    Called when the definitions are built (``eventlake.assets.dbt.dbt_layer_assets``),
    never at import. Loading the code location happens in every run worker, so it must
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
