"""`eventlake demo` waits for the first transform_job run that started after the last raw commit.

The snapshot sensor joins a transform run still QUEUED instead of asking for one
with the final snapshots' run key, so the demo cannot look a run up by that key:
the run that read everything is the first one that started at/after the last
commit that changed data (a compaction asks for no run and is passed over).
"""

from __future__ import annotations

from eventlake import demo
from eventlake.resources.core import EventlakeResource
from tests.test_sensor_coalescing import compact, land


def run(run_id: str, status: str, created: float, started: float | None, run_key: str | None = None) -> dict:
    tags = [{"key": "dagster/run_key", "value": run_key}] if run_key else []
    return {"runId": run_id, "status": status, "creationTime": created, "startTime": started, "endTime": None,
            "tags": tags}


def test_the_run_that_started_first_after_the_commit_is_waited_for():
    committed_at = 1_000.0
    runs = [  # newest first, as Dagster lists them
        run("later", "QUEUED", 1_030.0, None, "snapshots:events=3"),
        run("follow-up", "STARTED", 995.0, 1_020.0),  # a queued run the final snapshots joined: no run key of theirs
        run("joined", "SUCCESS", 990.0, 1_000.0),  # started the moment the commit landed: it read it too
        run("before", "SUCCESS", 900.0, 950.0, "snapshots:events=1"),  # started before: missed it
    ]
    assert demo._transform_run_after(runs, committed_at)["runId"] == "joined"
    assert demo._transform_run_after(runs, 1_000.5)["runId"] == "follow-up"
    assert demo._transform_run_after(runs, 1_025.0) is None  # only a queued run left: not started yet
    assert demo._transform_run_after([], committed_at) is None


def test_a_run_still_queued_when_the_commit_landed_is_the_one():
    # the sensor saw the final snapshots while run A was queued and joined it: the only run, its key
    # names older snapshots, and it started after the commit
    runs = [run("A", "STARTED", 10.0, 25.0, "snapshots:events=1,products=None,users=None")]
    assert demo._transform_run_after(runs, 20.0)["runId"] == "A"


def test_the_last_data_commit_passes_over_a_compaction(tmp_path):
    tables = EventlakeResource(home=str(tmp_path / "eventlake")).tables()
    assert demo.last_data_commit(tables) is None

    land(tables, "users", 3, "a")
    land(tables, "events", 4, "a")
    last = land(tables, "events", 4, "b")
    assert demo.last_data_commit(tables) == last.timestamp_ms / 1000

    compacted = compact(tables["events"], "replace")
    assert compacted.snapshot_id != last.snapshot_id and compacted.timestamp_ms >= last.timestamp_ms
    assert demo.last_data_commit(tables) == last.timestamp_ms / 1000

    newer = land(tables, "products", 2, "c")
    assert demo.last_data_commit(tables) == newer.timestamp_ms / 1000


def test_the_summary_names_the_run():
    described = demo._describe_run(
        {**run("9221f8fb-0000", "SUCCESS", 90.0, 138.1), "endTime": 318.1,
         "tags": [{"key": "dagster/sensor_name", "value": "iceberg_snapshot_sensor"}]},
        100.0,
    )
    assert described == ("transform_job run 9221f8fb SUCCESS, started 38.1s after the last raw commit, ran 180s, "
                         "asked for by iceberg_snapshot_sensor")
