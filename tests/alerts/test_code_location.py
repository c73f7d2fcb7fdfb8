"""Property 31: the alert sensors are part of eventlake's code location and are quiet when all is well.

The real Definitions (``build_definitions``) hold the four alert sensors and the
marts' freshness checks and sensor, running by default; every marts freshness
check is in ``transform_job``. On a fresh home with a real Dagster instance,
each alert sensor ticks and no channel hears anything.
"""

from __future__ import annotations

from dagster import AssetCheckKey, AssetKey, DefaultSensorStatus, build_sensor_context

from eventlake.resources.core import EventlakeResource
from eventlake.sensors import alerts as alert_sensors

SENSORS = [
    alert_sensors.CHECK_SENSOR,
    alert_sensors.RUN_SENSOR,
    alert_sensors.JOB_SENSOR,
    alert_sensors.LAG_SENSOR,
    alert_sensors.FRESHNESS_SENSOR,
]


def test_the_code_location_runs_the_alert_sensors_and_they_are_quiet_when_all_is_well(alert_home, receiver, instance):
    """Property 31: registered, running by default, the marts' freshness checks in transform_job; a tick of each
    alert sensor on a healthy (empty) home sends nothing."""
    from eventlake.definitions import build_definitions

    defs = build_definitions("LOCAL", home=str(alert_home))
    for name in SENSORS:
        assert defs.resolve_sensor_def(name).default_status == DefaultSensorStatus.RUNNING, name
    freshness = {AssetCheckKey(AssetKey(m), "freshness_check") for m in alert_sensors.MARTS}
    assert freshness <= set(defs.resolve_job_def("transform_job").asset_layer.asset_graph.asset_check_keys)

    resources = {"eventlake": EventlakeResource(home=str(alert_home))}
    for name in SENSORS[:4]:
        sensor = defs.resolve_sensor_def(name)
        context = build_sensor_context(instance=instance, definitions=defs, resources=resources)
        result = sensor.evaluate_tick(context)
        assert not result.run_requests, name
    assert receiver.posts == []
