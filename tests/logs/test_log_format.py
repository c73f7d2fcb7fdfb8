"""eventlake's log line (``eventlake.logs``): its fields, the component, the ids, the error.

Property 38: every component logs its errors with a timestamp, the component name and the details.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
from pathlib import Path

from eventlake import logs


def _record(name: str, level: int = logging.ERROR, msg: str = "m %s", args=("x",), exc_info=None, **extra):
    return logging.getLogger(name).makeRecord(name, level, __file__, 1, msg, args, exc_info, extra=extra)


def test_a_line_has_timestamp_level_component_logger_message_then_the_ids_then_the_fields():
    line = json.loads(logs.JsonFormatter().format(
        _record("eventlake.consumer", run_id="r1", job_id="j1", snapshot_id=42, path=Path("/x"), attempts=3)))
    assert list(line)[:8] == ["timestamp", "level", "component", "logger", "message", "job_id", "snapshot_id", "run_id"]
    assert datetime.fromisoformat(line["timestamp"]).utcoffset().total_seconds() == 0
    assert (line["level"], line["component"], line["message"]) == ("ERROR", "consumer", "m x")
    assert (line["job_id"], line["snapshot_id"], line["run_id"], line["attempts"]) == ("j1", 42, "r1", 3)
    assert line["path"] == "/x"  # what JSON cannot hold is written as its str()


def test_the_component_comes_from_the_logger_then_the_process_then_the_name():
    assert logs.component_of("eventlake.committer") == "consumer"
    assert logs.component_of("eventlake.api.metrics") == "api"
    assert logs.component_of("uvicorn.error") == "api"
    assert logs.component_of("eventlake.airflow_bridge") == "airflow_bridge"
    assert logs.component_of("eventlake.lake") == "lake"
    assert logs.component_of("eventlake.lake", "sensors") == "sensors"  # the process's component
    assert logs.component_of("eventlake.consumer", "api") == "consumer"
    assert logs.component_of("httpx") == "httpx"


def test_the_apis_failed_backend_does_not_replace_the_component():
    line = json.loads(logs.JsonFormatter("api").format(_record("eventlake.api", component="job_store")))
    assert (line["component"], line["failed_component"]) == ("api", "job_store")


def test_an_exception_is_written_with_its_type_message_and_traceback():
    try:
        raise KeyError("shard-7")
    except KeyError:
        record = _record("eventlake.demo", exc_info=sys.exc_info())
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["error"]["type"] == "KeyError" and line["error"]["message"] == "'shard-7'"
    assert line["error"]["traceback"].startswith("Traceback (most recent call last):")
    assert "test_log_format.py" in line["error"]["traceback"]
    text = logs.TextFormatter().format(record)
    assert " ERROR demo eventlake.demo: m x error=KeyError: 'shard-7'\nTraceback" in text


def test_a_command_names_its_component_for_the_lines_of_other_loggers(capsys, restore_logging):
    logs.configure(logging.INFO)
    logs.set_component("consumer")
    logging.getLogger("eventlake.lake").error("catalog down")
    logging.getLogger("eventlake.api").error("not this process's, but the logger says so")
    first, second = (json.loads(x) for x in capsys.readouterr().err.splitlines())
    assert (first["component"], second["component"]) == ("consumer", "api")
