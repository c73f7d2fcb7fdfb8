"""dbt docs (``dbt docs generate``) of the warehouse: column descriptions, tests and lineage, browsable.

Built after each transform (the end of the marts step of ``transform_job``,
:func:`eventlake.assets.dbt`) into the home's ``dbt/docs`` directory
(:func:`docs_dir`), apart from the target directory the runs use, so a docs
build never touches the manifest the runs read:

* ``index.html`` with ``manifest.json`` and ``catalog.json`` (served over HTTP,
  e.g. ``dbt docs serve`` or any static file server);
* ``static_index.html``: the same site in one file, which a browser opens from
  disk (``file://``); the link the Dagster metadata carries.

It runs as its own dbt process with the settings' dbt environment, on the same
target as the runs (LOCAL: DuckDB, where the catalog query takes a fraction of a
second; PROD: Snowflake), starting from the runs' parse cache. A failure is the
caller's to log: :func:`generate_dbt_docs` raises, the transform step catches.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventlake.settings import Settings

log = logging.getLogger("eventlake.dbt")

#: seconds a docs build may take before it is abandoned
TIMEOUT_S = 300


@dataclass(frozen=True)
class DbtDocs:
    """Where a docs build wrote: the directory and the one-file site."""

    directory: Path
    index: Path
    static_index: Path
    catalog: Path

    @property
    def url(self) -> str:
        return self.static_index.as_uri()


def docs_dir(settings: Settings) -> Path:
    """``$EVENTLAKE_HOME/dbt/docs``."""
    return settings.home / "dbt" / "docs"


def generate_dbt_docs(settings: Settings, *, timeout_s: float = TIMEOUT_S) -> DbtDocs:
    """``dbt docs generate --static`` into :func:`docs_dir`; raises ``RuntimeError`` when dbt fails."""
    from eventlake.dbt.project import DBT_EXECUTABLE, DBT_PROJECT_DIR, PARTIAL_PARSE_FILE
    from eventlake.resources.core import dbt_env

    out = docs_dir(settings)
    out.mkdir(parents=True, exist_ok=True)
    parse_cache = settings.dbt_target_path / PARTIAL_PARSE_FILE
    if parse_cache.exists():  # start from the runs' parse instead of parsing the whole project
        shutil.copyfile(parse_cache, out / PARTIAL_PARSE_FILE)
    # With the runs' manifest (kept current with the project when the definitions load), the docs
    # take it as it is (--no-compile: no SQL compiled, the warehouse asked for the catalog only);
    # without one, dbt compiles the project first.
    manifest = settings.dbt_manifest_path
    no_compile = manifest.exists()
    if no_compile:
        shutil.copyfile(manifest, out / "manifest.json")
    cmd = [
        DBT_EXECUTABLE, "docs", "generate", "--static", *(["--no-compile"] if no_compile else []),
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target", settings.env,
        "--target-path", str(out),
        "--log-path", str(out),
    ]
    env = {**os.environ, **dbt_env(settings), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    try:
        done = subprocess.run(
            cmd, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, check=False, timeout=timeout_s
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"dbt docs generate took over {timeout_s:.0f} s") from exc
    if done.returncode != 0:
        raise RuntimeError(f"dbt docs generate failed ({done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}")
    docs = DbtDocs(
        directory=out, index=out / "index.html", static_index=out / "static_index.html", catalog=out / "catalog.json"
    )
    missing = [p.name for p in (docs.index, docs.static_index, docs.catalog) if not p.exists()]
    if missing:
        raise RuntimeError(f"dbt docs generate wrote no {', '.join(missing)} in {out}")
    log.info("dbt docs built in %s", out)
    return docs


def with_dbt_docs(events: list[Any], settings: Settings, log_to: Any = None) -> list[Any]:
    """Build the dbt docs (when ``settings.dbt_docs``) and link them from ``events``, the outputs and
    materializations of a dbt step: each gets ``dbt_docs`` (a URL to ``static_index.html``).

    Never raises: a failed docs build is logged (on ``log_to``, e.g. a Dagster context's ``log``, and
    this module's logger) and the events are returned as they were, so the data's step succeeds."""
    from dagster import AssetMaterialization, MetadataValue, Output

    if not settings.dbt_docs:
        return events
    try:
        docs = generate_dbt_docs(settings)
    except Exception as exc:  # docs describe the data; they must never fail it
        message = f"dbt docs were not built (the data is): {exc}"
        log.warning(message)
        if log_to is not None:
            log_to.warning(message)
        return events
    link = {"dbt_docs": MetadataValue.url(docs.url)}
    out = []
    for event in events:
        if isinstance(event, (Output, AssetMaterialization)):
            event = event.with_metadata({**(event.metadata or {}), **link})
        out.append(event)
    return out
