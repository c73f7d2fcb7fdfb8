"""A small client of Dagster's GraphQL API.

The API process and Airflow workers trigger Dagster jobs through this module.
It needs only ``httpx``: importing ``dagster`` (or ``dagster_graphql``, which
pulls in ``gql`` and ``requests``) would cost seconds and hundreds of MB in
processes that only send three queries.

The query shapes follow the schema served by the installed Dagster 1.13
webserver (``dagster_graphql/schema``): ``launchRun`` takes an
``ExecutionParams`` whose ``selector`` is a ``JobOrPipelineSelector`` and
returns a ``LaunchRunResult`` union; ``runOrError`` returns a ``RunOrError``
union. Every error member of those unions implements the ``Error`` interface
(a ``message``), so one ``... on Error`` fragment reads all of them.

Runs that coalesce: ``trigger_run`` joins a whole run of the job that is still
QUEUED in the same lane of the run queue (runs tagged alike, e.g.
``eventlake/pipeline: transform``, see ``eventlake.runs``) instead of queueing
another; a queued run has not started, so it will see what the trigger wanted
it to see.

Usage::

    client = DagsterClient("http://127.0.0.1:3000")
    run_id = client.launch_run("transform_job", tags={"triggered_by": "airflow"})
    triggered = client.trigger_run("transform_job", lane=runs.TRANSFORM_TAGS)  # joins a queued one
    status = client.wait_for_run(triggered.run_id, timeout_s=1800)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from eventlake import runs

log = logging.getLogger("eventlake.dagster_client")

DEFAULT_LOCATION = "eventlake"
DEFAULT_REPOSITORY = "__repository__"

#: Run states after which a run never changes again.
TERMINAL_STATUSES = frozenset({"SUCCESS", "FAILURE", "CANCELED"})

LAUNCH_RUN_MUTATION = """
mutation EventlakeLaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess {
      run { runId status }
    }
    ... on RunConfigValidationInvalid {
      errors { message path reason }
    }
    ... on InvalidStepError {
      invalidStepKey
    }
    ... on InvalidOutputError {
      stepKey
      invalidOutputName
    }
    ... on Error {
      message
    }
  }
}
"""

RUN_STATUS_QUERY = """
query EventlakeRunStatus($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId status jobName }
    ... on Error { message }
  }
}
"""

QUEUED_RUNS_QUERY = """
query EventlakeQueuedRuns($filter: RunsFilter!, $limit: Int!) {
  runsOrError(filter: $filter, limit: $limit) {
    __typename
    ... on Runs {
      results {
        runId
        status
        jobName
        creationTime
        parentRunId
        resolvedOpSelection
        assetSelectionCount
        assetCheckSelectionCount
        tags { key value }
      }
    }
    ... on Error { message }
  }
}
"""

SERVER_INFO_QUERY = """
query EventlakeServerInfo {
  version
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation {
            repositories { name jobs { name } }
          }
          ... on PythonError { message }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""


class DagsterClientError(RuntimeError):
    """Dagster refused a request, answered with an error, or could not be reached.

    ``kind`` is Dagster's error type (``PipelineNotFoundError``, ``PythonError``,
    ``InvalidSubsetError``, ``RunConfigValidationInvalid``, ...), or
    ``ConnectionError`` / ``HTTPError`` / ``GraphQLError`` for transport problems.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        job_name: str | None = None,
        location: str | None = None,
        run_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.job_name = job_name
        self.location = location
        self.run_id = run_id


class DagsterRunTimeout(DagsterClientError):
    """A run did not reach a terminal state within the allowed time."""


@dataclass(frozen=True)
class QueuedRun:
    run_id: str
    job_name: str
    creation_time: float
    tags: dict[str, str]


@dataclass(frozen=True)
class TriggeredRun:
    """The run a trigger stands for: ``joined`` when it was already queued by someone else."""

    run_id: str
    joined: bool


class DagsterClient:
    """Launch Dagster jobs and follow their runs through the webserver's GraphQL API.

    ``url`` is the webserver's base URL (``http://host:3000``, optionally with a
    path prefix); ``/graphql`` is appended unless already present.
    """

    def __init__(self, url: str, timeout: float = 10) -> None:
        base = url.rstrip("/")
        if base.endswith("/graphql"):
            base = base[: -len("/graphql")]
        self.base_url = base
        self.graphql_url = f"{base}/graphql"
        self._http = httpx.Client(timeout=timeout)

    # -- lifecycle ----------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DagsterClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DagsterClient({self.base_url!r})"

    # -- public API -------------------------------------------------------------
    def launch_run(
        self,
        job_name: str,
        *,
        location: str = DEFAULT_LOCATION,
        repository: str = DEFAULT_REPOSITORY,
        run_config: dict | None = None,
        tags: dict | None = None,
    ) -> str:
        """Start a run of ``job_name`` and return its run id.

        Raises DagsterClientError naming the job, the code location and Dagster's
        own message when the job does not exist, its config or selection is
        invalid, user code raised, or the webserver is unreachable.
        """
        where = f"job '{job_name}' in code location '{location}' (repository '{repository}')"
        execution_params: dict[str, Any] = {
            "selector": {
                "repositoryLocationName": location,
                "repositoryName": repository,
                "jobName": job_name,
            },
            "runConfigData": run_config or {},
            "executionMetadata": {
                "tags": [{"key": str(k), "value": str(v)} for k, v in (tags or {}).items()]
            },
        }
        data = self._execute(
            LAUNCH_RUN_MUTATION,
            {"executionParams": execution_params},
            action=f"launch {where}",
            job_name=job_name,
            location=location,
        )
        result = data["launchRun"]
        kind = result["__typename"]
        if kind == "LaunchRunSuccess":
            run_id = result["run"]["runId"]
            log.info("launched %s: run %s (%s)", where, run_id, self.run_url(run_id))
            return run_id

        if kind == "RunConfigValidationInvalid":
            detail = "; ".join(
                f"{'.'.join(err.get('path') or []) or '<root>'}: {err['message']}"
                for err in result.get("errors", [])
            )
        elif kind == "InvalidStepError":
            detail = f"invalid step key {result.get('invalidStepKey')!r}"
        elif kind == "InvalidOutputError":
            detail = f"invalid output {result.get('invalidOutputName')!r} of step {result.get('stepKey')!r}"
        else:
            detail = result.get("message") or "(no message)"
        message = f"Dagster could not launch {where}: {kind}: {detail}"
        log.error(message)
        raise DagsterClientError(message, kind=kind, job_name=job_name, location=location)

    def queued_runs(self, job_name: str, lane: Mapping[str, str], *, limit: int = 50) -> list[QueuedRun]:
        """Whole runs of ``job_name`` in ``lane`` (runs with these tags) still QUEUED, oldest first.

        Only runs a trigger may join: not re-executions, not subsets of steps or assets.
        """
        run_filter = {
            "pipelineName": job_name,
            "statuses": ["QUEUED"],
            "tags": [{"key": str(k), "value": str(v)} for k, v in lane.items()],
        }
        data = self._execute(
            QUEUED_RUNS_QUERY, {"filter": run_filter, "limit": limit}, action=f"list the queued runs of '{job_name}'",
            job_name=job_name,
        )
        result = data["runsOrError"]
        if result["__typename"] != "Runs":
            message = f"Dagster could not list the queued runs of '{job_name}': {result['__typename']}: {result.get('message')}"
            raise DagsterClientError(message, kind=result["__typename"], job_name=job_name)
        found = []
        for run in result["results"]:
            tags = {t["key"]: t["value"] for t in run["tags"]}
            if any(tags.get(k) != v for k, v in lane.items()):
                continue
            # (stepKeysToExecute names every step of a whole run launched through GraphQL: no mark of a subset)
            subset = bool(
                run["parentRunId"] or run["resolvedOpSelection"] or run["assetSelectionCount"] or run["assetCheckSelectionCount"]
            )
            if run["jobName"] == job_name and run["status"] == "QUEUED" and not subset and runs.PARENT_RUN_TAG not in tags:
                found.append(QueuedRun(run["runId"], run["jobName"], float(run["creationTime"]), tags))
        found.reverse()  # Dagster lists the newest (by storage id) first
        return found

    def trigger_run(
        self,
        job_name: str,
        *,
        lane: Mapping[str, str] | None = None,
        location: str = DEFAULT_LOCATION,
        repository: str = DEFAULT_REPOSITORY,
        tags: Mapping[str, str] | None = None,
    ) -> TriggeredRun:
        """Join the oldest whole run of ``job_name`` still QUEUED in ``lane``, or launch one.

        ``lane`` (tags, e.g. ``runs.TRANSFORM_TAGS``; by default the job's lane from
        ``runs.lane_of``) is added to a launched run's tags. Without a lane this is
        ``launch_run``.

        Two triggers within one round trip of each other may both find nothing
        queued and both launch: the lane then runs the two one after the other.
        Neither run is canceled to undo that: a third trigger may already have
        joined either, and a run id handed out must not end CANCELED.
        """
        lane = dict(runs.lane_of(job_name) if lane is None else lane)
        if not lane:
            return TriggeredRun(self.launch_run(job_name, location=location, repository=repository, tags=tags), False)
        queued = self.queued_runs(job_name, lane)
        if queued:
            log.info("joined queued run %s of '%s' (%s)", queued[0].run_id, job_name, self.run_url(queued[0].run_id))
            return TriggeredRun(queued[0].run_id, True)
        run_id = self.launch_run(job_name, location=location, repository=repository, tags={**(tags or {}), **lane})
        return TriggeredRun(run_id, False)

    def run_status(self, run_id: str) -> str:
        """The run's status: QUEUED, NOT_STARTED, STARTING, STARTED, SUCCESS, FAILURE, CANCELING, CANCELED..."""
        data = self._execute(RUN_STATUS_QUERY, {"runId": run_id}, action=f"read the status of run {run_id}")
        result = data["runOrError"]
        kind = result["__typename"]
        if kind == "Run":
            return result["status"]
        message = f"Dagster has no status for run {run_id}: {kind}: {result.get('message')}"
        raise DagsterClientError(message, kind=kind, run_id=run_id)

    def wait_for_run(self, run_id: str, timeout_s: float, poll_s: float = 2) -> str:
        """Poll until the run is SUCCESS, FAILURE or CANCELED and return that status.

        A webserver that is briefly unreachable (restart, reload) is retried until
        the deadline. Raises DagsterRunTimeout when the run is still going at
        ``timeout_s``; the run itself keeps running.
        """
        deadline = time.monotonic() + timeout_s
        last_status: str | None = None
        while True:
            try:
                status = self.run_status(run_id)
            except DagsterClientError as exc:
                if exc.kind != "ConnectionError" or time.monotonic() >= deadline:
                    raise
                log.warning("waiting for run %s: %s; retrying", run_id, exc)
                status = last_status
            if status != last_status:
                log.info("run %s is %s", run_id, status)
                last_status = status
            if status in TERMINAL_STATUSES:
                return status
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                message = (
                    f"Dagster run {run_id} is still {last_status} after {timeout_s:g} s "
                    f"({self.run_url(run_id)})"
                )
                raise DagsterRunTimeout(message, kind="Timeout", run_id=run_id)
            time.sleep(min(poll_s, remaining))

    def server_info(self) -> dict[str, Any]:
        """Dagster's version and the code locations it serves, with their jobs or load errors.

        ``{"version": "1.13.x", "locations": [{"name": ..., "load_status": "LOADED",
        "repositories": {"__repository__": ["raw_ingest_job", ...]}, "error": None}]}``
        """
        data = self._execute(SERVER_INFO_QUERY, None, action="read the server info")
        workspace = data["workspaceOrError"]
        if workspace["__typename"] != "Workspace":
            raise DagsterClientError(
                f"Dagster could not load its workspace: {workspace.get('message')}",
                kind=workspace["__typename"],
            )
        locations = []
        for entry in workspace["locationEntries"]:
            loaded = entry.get("locationOrLoadError") or {}
            repositories: dict[str, list[str]] = {}
            error = None
            if loaded.get("__typename") == "RepositoryLocation":
                repositories = {
                    repo["name"]: sorted(job["name"] for job in repo["jobs"])
                    for repo in loaded["repositories"]
                }
            elif loaded:
                error = loaded.get("message")
            locations.append(
                {
                    "name": entry["name"],
                    "load_status": entry["loadStatus"],
                    "repositories": repositories,
                    "error": error,
                }
            )
        return {"version": data["version"], "locations": locations}

    def run_url(self, run_id: str) -> str:
        """Where a person can look at the run in the Dagster UI."""
        return f"{self.base_url}/runs/{run_id}"

    # -- transport ----------------------------------------------------------------
    def _execute(
        self,
        query: str,
        variables: dict[str, Any] | None,
        *,
        action: str,
        job_name: str | None = None,
        location: str | None = None,
    ) -> dict[str, Any]:
        def fail(kind: str, detail: str) -> DagsterClientError:
            message = f"Could not {action}: {detail}"
            log.error(message)
            return DagsterClientError(message, kind=kind, job_name=job_name, location=location)

        try:
            response = self._http.post(self.graphql_url, json={"query": query, "variables": variables or {}})
        except httpx.TransportError as exc:
            raise fail(
                "ConnectionError", f"Dagster webserver at {self.graphql_url} is unreachable ({exc!r})"
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or (response.status_code != 200 and not body.get("errors")):
            raise fail(
                "HTTPError",
                f"{self.graphql_url} answered HTTP {response.status_code}: {response.text[:500]}",
            )
        if body.get("errors"):
            messages = "; ".join(str(err.get("message", err)) for err in body["errors"])
            raise fail("GraphQLError", f"GraphQL errors from {self.graphql_url}: {messages}")
        return body["data"]
