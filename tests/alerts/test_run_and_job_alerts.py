"""Property 31: Critical failures raise alerts: failed runs and ingestion jobs marked FAILED.

A failed Dagster run reaches the channels through ``run_failure_alert_sensor``
(Dagster's run-failure sensor, ticking on a real instance over the run status
events); an ingestion job marked FAILED in a real job store through
``failed_job_alert_sensor``. Repeats of the same failure inside the window are
held back; successful runs and completed jobs send nothing.
"""

from __future__ import annotations

from dagster import Definitions, build_sensor_context, job, op

from eventlake.resources.core import EventlakeResource
from eventlake.sensors.alerts import failed_job_alert_sensor, run_failure_alert_sensor
from eventlake.settings import Settings
from eventlake.state.ingestion_jobs import IngestionJobStore

from .conftest import DAGSTER_URL, texts


def _jobs(state: dict):
    @op
    def dbt_staging() -> None:
        if state["fail"]:
            raise RuntimeError("warehouse unreachable: connection refused")

    @job(name="transform_job")
    def transform_job() -> None:
        dbt_staging()

    return transform_job


def _tick(sensor, instance, defs, home, cursor=None):
    context = build_sensor_context(
        instance=instance, definitions=defs, cursor=cursor, resources={"eventlake": EventlakeResource(home=str(home))}
    )
    result = sensor.evaluate_tick(context)
    return result.cursor


def test_a_failed_run_is_alerted_with_its_job_step_error_and_link_and_its_repeat_is_held_back(
    alert_home, receiver, instance
):
    """Property 31: a transform_job run whose step raises is alerted once to each channel, naming the job, the
    failed step and its error, with a link to the run; the same failure in the next run is held back."""
    state = {"fail": True}
    transform_job = _jobs(state)
    defs = Definitions(jobs=[transform_job], sensors=[run_failure_alert_sensor])
    cursor = _tick(run_failure_alert_sensor, instance, defs, alert_home)  # the first tick starts from now

    failed = transform_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not failed.success
    cursor = _tick(run_failure_alert_sensor, instance, defs, alert_home, cursor)

    a, b = receiver.bodies("/a"), receiver.bodies("/b")
    assert len(a) == 1 and a == b, receiver.posts
    shown = texts(a[0])
    assert "Dagster run failed: job transform_job" in shown
    assert "dbt_staging" in shown and "warehouse unreachable: connection refused" in shown
    assert f"{DAGSTER_URL}/runs/{failed.run_id}" in shown

    again = transform_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not again.success
    _tick(run_failure_alert_sensor, instance, defs, alert_home, cursor)
    assert len(receiver.bodies("/a")) == 1


def test_a_successful_run_sends_nothing(alert_home, receiver, instance):
    """Property 31: a run that succeeds is not alerted."""
    transform_job = _jobs({"fail": False})
    defs = Definitions(jobs=[transform_job], sensors=[run_failure_alert_sensor])
    cursor = _tick(run_failure_alert_sensor, instance, defs, alert_home)
    assert transform_job.execute_in_process(instance=instance).success
    _tick(run_failure_alert_sensor, instance, defs, alert_home, cursor)
    assert receiver.posts == []


REASON = "iceberg commit failed after 3 attempts: database is locked"


def test_an_ingestion_job_marked_failed_is_alerted_and_a_repeat_of_its_reason_is_held_back(alert_home, receiver):
    """Property 31: a job the consumer marks FAILED is alerted once, naming the job, its dataset and the reason;
    another job failing for the same reason within the window is held back; a job failing for another reason
    is a new alert."""
    settings = Settings(home=alert_home)
    store = IngestionJobStore(settings.job_db)
    for job_id in ("job-a", "job-b", "job-c"):
        store.create_job(job_id, "events", "ndjson", 10, 1)
        store.mark_processing(job_id)
    defs = Definitions(sensors=[failed_job_alert_sensor])

    cursor = _tick(failed_job_alert_sensor, None, defs, alert_home)
    assert receiver.posts == []
    assert store.mark_failed("job-a", REASON)
    cursor = _tick(failed_job_alert_sensor, None, defs, alert_home, cursor)
    (body,) = receiver.bodies("/a")
    assert receiver.bodies("/b") == [body]
    shown = texts(body)
    assert "Ingestion job FAILED: dataset events" in shown
    assert "job-a" in shown and REASON in shown
    assert "/api/v1/status/job-a" in shown

    cursor = _tick(failed_job_alert_sensor, None, defs, alert_home, cursor)  # nothing new: nothing sent
    assert len(receiver.bodies("/a")) == 1

    assert store.mark_failed("job-b", REASON)  # the same failure again: held back
    cursor = _tick(failed_job_alert_sensor, None, defs, alert_home, cursor)
    assert len(receiver.bodies("/a")) == 1

    assert store.mark_failed("job-c", "stream record could not be decoded")
    _tick(failed_job_alert_sensor, None, defs, alert_home, cursor)
    bodies = receiver.bodies("/a")
    assert len(bodies) == 2
    assert "job-c" in texts(bodies[1]) and "stream record could not be decoded" in texts(bodies[1])
    assert "job-b" not in texts(bodies[1])
    store.close()


def test_completed_jobs_send_nothing(alert_home, receiver):
    """Property 31: jobs that complete are not alerted."""
    settings = Settings(home=alert_home)
    store = IngestionJobStore(settings.job_db)
    defs = Definitions(sensors=[failed_job_alert_sensor])
    cursor = _tick(failed_job_alert_sensor, None, defs, alert_home)
    store.create_job("job-ok", "events", "ndjson", 10, 1)
    store.record_chunk("job-ok", 0, accepted=9, rejected=1, duplicates=0, snapshot_id=1)
    _tick(failed_job_alert_sensor, None, defs, alert_home, cursor)
    assert receiver.posts == []
    store.close()
