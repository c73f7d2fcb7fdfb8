"""Run dbt inside the Dagster step's process and turn its events into Dagster's.

dagster-dbt's ``DbtCliResource.cli`` starts a new ``dbt`` process for every
invocation. Importing dbt-core costs several seconds of CPU (its artifact
classes), and ``transform_job`` invokes dbt once per layer, so most of a small
incremental run went to importing dbt three times. Here dbt runs through its
programmatic entry point (``dbtRunner``) in the run's own process, which has
imported dbt already (dagster-dbt does to define the assets): one import per
run, and each layer keeps a fixed target path so dbt reuses its parse
(``partial_parse.msgpack``).

dbt's structured events are the same dictionaries its JSON log lines carry,
so dagster-dbt's own translation (``DbtCoreCliEventMessage.to_default_asset_events``)
turns them into the same ``Output``/``AssetCheckResult`` events, and
dagster-dbt's own selection logic (``get_updated_cli_invocation_params_for_context``)
picks the models and tests of the run's subset.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("eventlake.dbt")


@dataclass
class DbtOutcome:
    """What one in-process dbt invocation produced."""

    success: bool
    events: list[Any] = field(default_factory=list)  # Dagster events, in dbt's order
    errors: list[str] = field(default_factory=list)  # dbt's error messages
    argv: list[str] = field(default_factory=list)
    exception: BaseException | None = None


def release_duckdb() -> None:
    """dbt-duckdb keeps its DuckDB database open in a class attribute after an
    in-process run; close it so other connections (checks, the next run, other
    processes) can open the file."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # no DuckDB adapter installed: nothing to release
        return
    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
    DuckDBConnectionManager.close_all_connections()


def invoke(
    context: Any,
    args: Sequence[str],
    *,
    project: Any,
    target: str,
    env: Mapping[str, str],
    translator: Any,
    target_path: Path,
) -> DbtOutcome:
    """Run ``dbt <args>`` for the assets of ``context``'s step, in this process."""
    from dagster_dbt.asset_utils import extract_runtime_selection_from_args, get_updated_cli_invocation_params_for_context
    from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    from eventlake.dbt.project import scoped_environ

    cleaned, selects, excludes = extract_runtime_selection_from_args(list(args))
    params = get_updated_cli_invocation_params_for_context(
        context=context, manifest={}, dagster_dbt_translator=translator,
        runtime_selects=selects, runtime_excludes=excludes,
    )
    if params.indirect_selection and "--indirect-selection" in cleaned:
        # dagster-dbt narrowed the run to some checks: its choice wins
        i = cleaned.index("--indirect-selection")
        del cleaned[i : i + 2]
    project_dir = Path(params.dbt_project.project_dir if params.dbt_project else project.project_dir)
    argv = [
        *cleaned,
        "--project-dir", str(project_dir),
        "--profiles-dir", str(project.profiles_dir or project_dir),
        "--target", target,
        "--target-path", str(target_path),
        "--log-path", str(target_path),
        *params.selection_args,
        *(["--indirect-selection", params.indirect_selection] if params.indirect_selection else []),
    ]
    raw: list[dict[str, Any]] = []
    outcome = DbtOutcome(success=False, argv=argv)
    with scoped_environ({**env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}):
        try:
            result = dbtRunner(callbacks=[lambda msg: raw.append(msg_to_dict(msg))]).invoke(argv)
            outcome.success = bool(result.success)
            outcome.exception = result.exception
        finally:
            release_duckdb()
    for event in raw:
        info = event.get("info", {})
        if info.get("level") == "error" and info.get("msg"):
            outcome.errors.append(str(info["msg"]))
        message = DbtCoreCliEventMessage(raw_event=event, event_history_metadata={})
        outcome.events.extend(
            message.to_default_asset_events(
                manifest=params.manifest, dagster_dbt_translator=params.dagster_dbt_translator,
                context=context, target_path=target_path, project=params.dbt_project,
            )
        )
    return outcome
