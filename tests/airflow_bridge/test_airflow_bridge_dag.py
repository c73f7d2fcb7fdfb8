"""The Airflow bridge DAG: parsing, structure, the snapshot sensor, and a real run.

Airflow reads its configuration once per process at import, so DagBag parsing
and ``dag.test()`` run in subprocesses with their own AIRFLOW_HOME (SQLite,
examples off). The sensor's poke logic runs in-process against a real Iceberg
SqlCatalog; the Dagster side is a real dagster-webserver on a free port.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from eventlake.dagster_client import DagsterClient
from eventlake.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "airflow_bridge" / "dags"
DAG_FILE = DAGS_FOLDER / "eventlake_bridge.py"


def _load_by_path(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


harness = _load_by_path(
    "eventlake_tests_dagster_webserver_harness", Path(__file__).with_name("dagster_webserver_harness.py")
)


def airflow_env(airflow_home: Path, **extra: str) -> dict[str, str]:
    airflow_home.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        **extra,
    }


def run_python(code: str, env: dict[str, str], timeout: float = 300) -> dict:
    """Run code in a fresh interpreter; it prints one JSON line prefixed RESULT=."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=timeout
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT="):
            return json.loads(line.removeprefix("RESULT="))
    raise AssertionError(f"subprocess failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")


def make_catalog(home: Path) -> SqlCatalog:
    settings = Settings(home=home)
    settings.ensure_home()
    props = settings.catalog_properties()
    props.pop("type")
    return SqlCatalog(settings.catalog_name, **props)


def append_rows(catalog: SqlCatalog, identifier: str, n: int = 2) -> int:
    catalog.create_namespace_if_not_exists("raw")
    table = catalog.create_table_if_not_exists(identifier, schema=pa.schema([pa.field("id", pa.int64())]))
    table.append(pa.table({"id": pa.array(range(n), pa.int64())}))
    return table.current_snapshot().snapshot_id


# -- parsing and structure -------------------------------------------------------


@pytest.fixture(scope="module")
def parsed_dag(tmp_path_factory) -> dict:
    env = airflow_env(tmp_path_factory.mktemp("airflow_parse"))
    env.pop("EVENTLAKE_BRIDGE_RETRY_DELAY_SECONDS", None)
    return run_python(
        f"""
        import json, sys
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder={str(DAGS_FOLDER)!r})
        dag = bag.dags.get("eventlake_bridge")
        tasks = {{}}
        if dag is not None:
            for t in dag.tasks:
                tasks[t.task_id] = {{
                    "upstream": sorted(t.upstream_task_ids),
                    "retries": t.retries,
                    "retry_delay_s": t.retry_delay.total_seconds(),
                    "backoff": float(t.retry_exponential_backoff),
                    "max_retry_delay_s": t.max_retry_delay.total_seconds() if t.max_retry_delay else None,
                    "mode": getattr(t, "mode", None),
                    "soft_fail": getattr(t, "soft_fail", None),
                    "is_sensor": hasattr(t, "poke"),
                }}
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("eventlake", "pyiceberg"))
        print("RESULT=" + json.dumps({{
            "import_errors": bag.import_errors,
            "dag_ids": sorted(bag.dags),
            "tasks": tasks,
            "catchup": dag.catchup if dag else None,
            "max_active_runs": dag.max_active_runs if dag else None,
            "heavy_modules_after_parse": heavy,
        }}))
        """,
        env,
    )


def test_dagbag_loads_without_import_errors(parsed_dag):
    assert parsed_dag["import_errors"] == {}
    assert parsed_dag["dag_ids"] == ["eventlake_bridge"]


def test_dag_parsing_imports_no_eventlake_or_iceberg(parsed_dag):
    # Imports live in the callables so the DAG processor parses the file fast.
    assert parsed_dag["heavy_modules_after_parse"] == []


def test_dag_tasks_and_dependencies(parsed_dag):
    tasks = parsed_dag["tasks"]
    assert set(tasks) == {"wait_for_raw_snapshot", "run_transform_job", "remember_snapshots"}
    assert tasks["wait_for_raw_snapshot"]["is_sensor"]
    assert tasks["wait_for_raw_snapshot"]["upstream"] == []
    assert tasks["run_transform_job"]["upstream"] == ["wait_for_raw_snapshot"]
    assert tasks["remember_snapshots"]["upstream"] == ["run_transform_job", "wait_for_raw_snapshot"]
    # A quiet period skips the run instead of failing it, without holding a worker slot.
    assert tasks["wait_for_raw_snapshot"]["mode"] == "reschedule"
    assert tasks["wait_for_raw_snapshot"]["soft_fail"] is True
    assert parsed_dag["catchup"] is False and parsed_dag["max_active_runs"] == 1


# Property 18: Task failures execute retry logic (the configuration; it is shown to happen in
# test_failed_launches_are_retried_with_exponential_backoff_then_the_run_launches)
def test_transform_task_retries_with_exponential_backoff(parsed_dag):
    launch = parsed_dag["tasks"]["run_transform_job"]
    assert launch["retries"] >= 3
    assert launch["retry_delay_s"] == 60  # the production default, EVENTLAKE_BRIDGE_RETRY_DELAY_SECONDS unset
    assert launch["backoff"] > 1  # each retry waits longer than the last
    assert launch["max_retry_delay_s"] >= launch["retry_delay_s"]


# -- the sensor's poke logic, against a real Iceberg SqlCatalog --------------------


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    """The DAG module, imported in-process with AIRFLOW_HOME in a temp dir."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in airflow_env(tmp_path_factory.mktemp("airflow_inproc")).items():
            mp.setenv(key, value)
        yield _load_by_path("eventlake_bridge_dag_under_test", DAG_FILE)


# Property 17: New Iceberg snapshots trigger workflow
def test_sensor_fires_only_on_new_raw_snapshots(bridge, tmp_path):
    settings = Settings(home=tmp_path / "home")

    # No catalog yet: nothing to do, and the poke does not create one.
    first = bridge.poke_raw_snapshots({}, settings)
    assert not first.is_done
    assert not (settings.home / "catalog.db").exists()

    catalog = make_catalog(settings.home)
    catalog.create_namespace("raw")
    catalog.create_table("raw.events", schema=pa.schema([pa.field("id", pa.int64())]))
    # A table without any snapshot is not new data.
    assert not bridge.poke_raw_snapshots({}, settings).is_done

    events_snapshot = append_rows(catalog, "raw.events")
    fired = bridge.poke_raw_snapshots({}, settings)
    assert fired.is_done
    assert fired.xcom_value == {"raw.events": events_snapshot}

    # Recorded (as the Variable stores it: JSON) -> no new snapshot -> no fire.
    last_seen = json.loads(json.dumps(fired.xcom_value))
    assert not bridge.poke_raw_snapshots(last_seen, settings).is_done

    # A rejected-records commit is not transform input.
    append_rows(catalog, "raw.rejected_records")
    assert not bridge.poke_raw_snapshots(last_seen, settings).is_done

    # Another raw table gets data -> fires, and the XCom holds every table's snapshot.
    users_snapshot = append_rows(catalog, "raw.users")
    fired_again = bridge.poke_raw_snapshots(last_seen, settings)
    assert fired_again.is_done
    assert fired_again.xcom_value == {"raw.events": events_snapshot, "raw.users": users_snapshot}
    assert bridge.changed_tables(fired_again.xcom_value, last_seen) == ["raw.users"]

    # A new append to an already-recorded table fires too.
    newer = append_rows(catalog, "raw.events")
    recorded = fired_again.xcom_value
    assert bridge.changed_tables({**recorded, "raw.events": newer}, recorded) == ["raw.events"]
    assert bridge.poke_raw_snapshots(recorded, settings).is_done


# -- against a real Dagster webserver -----------------------------------------------


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    with harness.run_dagster_webserver(tmp_path_factory.mktemp("dagster")) as server:
        yield server


# Property 40: Task failures logged and retried
def test_failed_dagster_run_fails_the_task_retryably(bridge, webserver, caplog):
    from airflow.sdk.exceptions import AirflowFailException

    caplog.set_level("INFO", logger="eventlake")
    with pytest.raises(RuntimeError) as info:
        bridge.run_dagster_job("failing_job", "eventlake", timeout_s=120, poll_s=0.5, dagster_url=webserver.url)
    # An ordinary exception: Airflow applies the task's retries (AirflowFailException would not).
    assert not isinstance(info.value, AirflowFailException)
    assert "FAILURE" in str(info.value)
    failure_logs = [r for r in caplog.records if r.name == "eventlake.airflow_bridge" and r.levelname == "ERROR"]
    assert failure_logs and "failing_job" in failure_logs[-1].getMessage()


def test_unknown_dagster_job_fails_without_retry(bridge, webserver):
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException) as info:
        bridge.run_dagster_job("no_such_job", "eventlake", timeout_s=30, dagster_url=webserver.url)
    assert "no_such_job" in str(info.value)


# Property 17: New Iceberg snapshots trigger workflow
# Property 19: Successful workflows marked complete
def test_dag_run_launches_transform_job_and_records_snapshots(webserver, tmp_path):
    home = tmp_path / "eventlake"
    snapshot_id = append_rows(make_catalog(home), "raw.events")
    env = airflow_env(
        tmp_path / "airflow",
        EVENTLAKE_HOME=str(home),
        EVENTLAKE_DAGSTER_URL=webserver.url,
    )
    # the dag.test() preamble is written out in each script on purpose: each runs alone in an Airflow subprocess
    result = run_python(
        f"""
        import json
        from airflow.utils import db
        db.initdb()
        from airflow.dag_processing.dagbag import DagBag
        from airflow.models.variable import Variable
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        dag = DagBag(dag_folder={str(DAGS_FOLDER)!r}).dags["eventlake_bridge"]
        dr = dag.test(run_conf={{"poll_s": 0.5, "run_timeout_s": 180}})
        with create_session() as session:
            row = session.scalars(XComModel.get_many(
                run_id=dr.run_id, dag_ids="eventlake_bridge", task_ids="run_transform_job", key="return_value"
            )).first()
            dagster_run_id = XComModel.deserialize_value(row) if row is not None else None
            states = {{ti.task_id: str(ti.state) for ti in dr.get_task_instances(session=session)}}
        print("RESULT=" + json.dumps({{
            "state": str(dr.state),
            "states": states,
            "variable": Variable.get("eventlake_bridge_last_snapshots", default_var=None),
            "dagster_run_id": dagster_run_id,
        }}))
        """,
        env,
    )
    assert result["state"].endswith("success"), result
    assert all(state.endswith("success") for state in result["states"].values()), result
    assert json.loads(result["variable"]) == {"raw.events": snapshot_id}
    with DagsterClient(webserver.url) as client:
        assert client.run_status(result["dagster_run_id"]) == "SUCCESS"


# -- retries that happen: a Dagster webserver whose first launches fail --------------


class LaunchFailingProxy:
    """A real HTTP proxy in front of the Dagster webserver that fails the first launches.

    Every request is passed through to ``upstream``, except the first
    ``len(failures)`` GraphQL ``launchRun`` mutations, answered in turn by
    ``failures``: ``"http500"`` (the webserver's gateway answers HTTP 500) or
    ``"graphql_error"`` (HTTP 200 with a GraphQL ``errors`` list). ``launches``
    records each launch and what it got.
    """

    def __init__(self, upstream: str, failures: list[str]):
        import http.server
        import threading

        import httpx

        self.upstream = upstream.rstrip("/")
        self.failures = list(failures)
        self.launches: list[str] = []
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=60)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    query = json.loads(body).get("query", "")
                except ValueError:
                    query = ""
                if "launchRun(" in query:
                    with proxy._lock:
                        failure = proxy.failures.pop(0) if proxy.failures else None
                        proxy.launches.append(failure or "passed")
                    if failure == "http500":
                        return self._answer(500, b"Internal Server Error: injected by the test proxy", "text/plain")
                    if failure == "graphql_error":
                        errors = {"data": None, "errors": [{"message": "injected transient error: run storage unavailable"}]}
                        return self._answer(200, json.dumps(errors).encode(), "application/json")
                upstream = proxy._http.post(
                    f"{proxy.upstream}{self.path}", content=body, headers={"Content-Type": self.headers.get("Content-Type", "application/json")}
                )
                self._answer(upstream.status_code, upstream.content, upstream.headers.get("Content-Type", "application/json"))

            def do_GET(self) -> None:
                upstream = proxy._http.get(f"{proxy.upstream}{self.path}")
                self._answer(upstream.status_code, upstream.content, upstream.headers.get("Content-Type", "text/plain"))

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LaunchFailingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._http.close()


def dagster_runs_of(url: str, dag_run_id: str) -> list[dict]:
    """The Dagster runs (id, status, tags) launched for one Airflow DAG run, read from the webserver."""
    import httpx

    query = """query Runs($filter: RunsFilter) { runsOrError(filter: $filter) { __typename
        ... on Runs { results { runId jobName status tags { key value } } } } }"""
    variables = {"filter": {"tags": [{"key": "airflow/run_id", "value": dag_run_id}]}}
    body = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=30).json()
    return [
        {**run, "tags": {t["key"]: t["value"] for t in run["tags"]}} for run in body["data"]["runsOrError"]["results"]
    ]


def test_retry_delay_defaults_to_a_minute_and_is_configurable(bridge):
    from datetime import timedelta

    assert bridge.retry_delay({}) == timedelta(minutes=1)
    assert bridge.retry_delay({"EVENTLAKE_BRIDGE_RETRY_DELAY_SECONDS": "1.5"}) == timedelta(seconds=1.5)
    for bad in ("0", "-3", "soon", "nan", "inf"):
        with pytest.raises(ValueError, match="EVENTLAKE_BRIDGE_RETRY_DELAY_SECONDS"):
            bridge.retry_delay({"EVENTLAKE_BRIDGE_RETRY_DELAY_SECONDS": bad})


def test_failed_launches_are_retried_with_exponential_backoff_then_the_run_launches(webserver, tmp_path):
    """Property 18: Task failures run the retry policy. dag.test() runs the bridge DAG against a
    real Dagster webserver behind a proxy that fails the first launch with HTTP 500 and the second
    with a GraphQL error. Airflow retries run_transform_job (try 2, then try 3), each retry waiting
    at least its backoff after the failed try ended (2 s, then 4 s with the delay set to 2 s), and
    the third try launches transform_job in Dagster: exactly one run, tagged with try 3, SUCCESS."""
    home = tmp_path / "eventlake"
    snapshot_id = append_rows(make_catalog(home), "raw.events")
    with LaunchFailingProxy(webserver.url, ["http500", "graphql_error"]) as proxy:
        env = airflow_env(
            tmp_path / "airflow",
            EVENTLAKE_HOME=str(home),
            EVENTLAKE_DAGSTER_URL=proxy.url,
            EVENTLAKE_BRIDGE_RETRY_DELAY_SECONDS="2",
        )
        # the dag.test() preamble is written out in each script on purpose: each runs alone in an Airflow subprocess
        result = run_python(
            f"""
            import json
            from airflow.utils import db
            db.initdb()
            from sqlalchemy import select
            from airflow.dag_processing.dagbag import DagBag
            from airflow.models.taskinstancehistory import TaskInstanceHistory
            from airflow.models.variable import Variable
            from airflow.models.xcom import XComModel
            from airflow.utils.session import create_session

            dag = DagBag(dag_folder={str(DAGS_FOLDER)!r}).dags["eventlake_bridge"]
            task = dag.task_dict["run_transform_job"]
            dr = dag.test(run_conf={{"poll_s": 0.5, "run_timeout_s": 180}})
            with create_session() as session:
                row = session.scalars(XComModel.get_many(
                    run_id=dr.run_id, dag_ids="eventlake_bridge", task_ids="run_transform_job", key="return_value"
                )).first()
                dagster_run_id = XComModel.deserialize_value(row) if row is not None else None
                tis = {{ti.task_id: ti for ti in dr.get_task_instances(session=session)}}
                launch = tis["run_transform_job"]
                history = session.scalars(
                    select(TaskInstanceHistory)
                    .where(TaskInstanceHistory.dag_id == "eventlake_bridge", TaskInstanceHistory.run_id == dr.run_id,
                           TaskInstanceHistory.task_id == "run_transform_job")
                    .order_by(TaskInstanceHistory.try_number)
                ).all()
                tries = [
                    {{"try_number": h.try_number, "start": h.start_date.timestamp(), "end": h.end_date.timestamp()}}
                    for h in history
                ] + [{{"try_number": launch.try_number, "start": launch.start_date.timestamp(),
                       "end": launch.end_date.timestamp(), "state": str(launch.state)}}]
                states = {{task_id: str(ti.state) for task_id, ti in tis.items()}}
            print("RESULT=" + json.dumps({{
                "state": str(dr.state),
                "dag_run_id": dr.run_id,
                "states": states,
                "tries": tries,
                "retries": task.retries,
                "retry_delay_s": task.retry_delay.total_seconds(),
                "backoff": float(task.retry_exponential_backoff),
                "variable": Variable.get("eventlake_bridge_last_snapshots", default_var=None),
                "dagster_run_id": dagster_run_id,
            }}))
            """,
            env,
        )
        launches = list(proxy.launches)

    assert (result["retries"], result["retry_delay_s"], result["backoff"]) == (3, 2.0, 2.0)
    assert result["state"].endswith("success"), result
    assert all(state.endswith("success") for state in result["states"].values()), result
    # the launch was tried three times: two failed tries kept in the history, the third succeeded
    assert launches == ["http500", "graphql_error", "passed"]
    tries = result["tries"]
    assert [t["try_number"] for t in tries] == [1, 2, 3], tries
    # each retry started only after its backoff: >= 2 s after try 1 ended, >= 4 s after try 2 ended
    # (lower bounds Airflow guarantees; dag.test() alone polls every second)
    assert tries[1]["start"] - tries[0]["end"] >= 2.0, tries
    assert tries[2]["start"] - tries[1]["end"] >= 4.0, tries
    # and the run launched in Dagster, once, by the third try, and succeeded
    runs = dagster_runs_of(webserver.url, result["dag_run_id"])
    assert [r["runId"] for r in runs] == [result["dagster_run_id"]], runs
    assert runs[0]["jobName"] == "transform_job" and runs[0]["tags"]["airflow/try_number"] == "3"
    with DagsterClient(webserver.url) as client:
        assert client.run_status(result["dagster_run_id"]) == "SUCCESS"
    assert json.loads(result["variable"]) == {"raw.events": snapshot_id}
