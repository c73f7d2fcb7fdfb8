"""The Airflow bridge's log lines when its task cannot reach Dagster.

Property 38: every component logs its errors with a timestamp, the component name and the details.

The DAG module is imported in-process as Airflow's task runner imports it (with its own
AIRFLOW_HOME); ``run_dagster_job``, the body of the ``run_transform_job`` task, runs against a
Dagster webserver address where nothing listens.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.airflow_bridge.test_airflow_bridge_dag import DAG_FILE, airflow_env
from tests.conftest import free_port

from .conftest import assert_error_line, error_lines, json_lines


@pytest.fixture
def bridge(tmp_path, monkeypatch, restore_logging):
    for key, value in airflow_env(tmp_path / "airflow").items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location("eventlake_bridge_dag_for_log_tests", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


# Property 38: Errors are logged with details
def test_the_transform_task_logs_an_unreachable_dagster_with_the_airflow_run_and_the_error(bridge, capsys):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    tags = {"airflow/dag_id": "eventlake_bridge", "airflow/run_id": "manual__2026-03-01", "airflow/try_number": "2"}
    with pytest.raises(Exception, match="unreachable"):
        bridge.run_dagster_job("transform_job", "eventlake", timeout_s=10, poll_s=0.5, tags=tags, dagster_url=url)

    (line,) = error_lines(json_lines(capsys.readouterr().err), "airflow_bridge")
    assert_error_line(line, "airflow_bridge", error_type="DagsterClientError")
    assert line["logger"] == "eventlake.airflow_bridge"
    assert line["message"].startswith(f"launching Dagster transform_job at {url} failed: ")
    assert "unreachable" in line["error"]["message"]
    assert (line["dagster_url"], line["dagster_job"]) == (url, "transform_job")
    assert (line["airflow_run_id"], line["airflow_try_number"]) == ("manual__2026-03-01", "2")
    assert "run_id" not in line  # no Dagster run was launched
