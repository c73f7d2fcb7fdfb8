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


# Property 18: Task failures execute retry logic
def test_transform_task_retries_with_exponential_backoff(parsed_dag):
    launch = parsed_dag["tasks"]["run_transform_job"]
    assert launch["retries"] >= 3
    assert launch["retry_delay_s"] > 0
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
