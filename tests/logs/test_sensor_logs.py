"""The sensors' log lines when an evaluation fails.

Property 38: every component logs its errors with a timestamp, the component name and the details.

A sensor is evaluated as Dagster's code server evaluates it (its evaluation function, with its
resource); the failure is real: the Iceberg catalog, or the job store, cannot be opened (its
SQLite file is a directory). The failed evaluation sets eventlake's log setup up itself, as in a
code server.
"""

from __future__ import annotations

import pytest
from dagster import DagsterInstance, build_sensor_context

from eventlake.resources.core import EventlakeResource
from eventlake.sensors.alerts import JOB_SENSOR, failed_job_alert_sensor
from eventlake.sensors.snapshots import SENSOR_NAME, iceberg_snapshot_sensor

from .conftest import assert_error_line, error_lines, json_lines


# Property 38: Errors are logged with details
def test_a_failed_sensor_evaluation_is_an_error_line_of_the_sensors_component(tmp_path, capsys, restore_logging):
    home = tmp_path / "home"
    (home / "catalog.db").mkdir(parents=True)  # no SQLite database can be opened there
    context = build_sensor_context(resources={"eventlake": EventlakeResource(home=str(home))},
                                   instance=DagsterInstance.ephemeral())
    with pytest.raises(Exception, match="unable to open database file"):
        iceberg_snapshot_sensor(context)

    errors = error_lines(json_lines(capsys.readouterr().err), "sensors")
    (line,) = [e for e in errors if e["logger"] == "eventlake.sensors"]
    assert_error_line(line, "sensors", error_type="OperationalError")
    assert line["sensor"] == SENSOR_NAME and line["message"].startswith(f"{SENSOR_NAME} failed: ")
    assert "unable to open database file" in line["error"]["message"]
    assert "snapshots.py" in line["error"]["traceback"]  # down to the sensor's code


# Property 38: Errors are logged with details
def test_a_failed_alert_sensor_evaluation_is_an_error_line_of_the_sensors_component(tmp_path, capsys, restore_logging):
    home = tmp_path / "home"
    (home / "jobs.db").mkdir(parents=True)  # the job store cannot be opened
    context = build_sensor_context(resources={"eventlake": EventlakeResource(home=str(home))},
                                   instance=DagsterInstance.ephemeral())
    with pytest.raises(Exception, match="unable to open database file"):
        failed_job_alert_sensor(context)

    (line,) = [e for e in error_lines(json_lines(capsys.readouterr().err), "sensors") if e["logger"] == "eventlake.alerts"]
    assert_error_line(line, "sensors", error_type="OperationalError")
    assert line["sensor"] == JOB_SENSOR and "alerts.py" in line["error"]["traceback"]
