"""/metrics in Prometheus' text format: requests POSTed through the app, drained by the real
consumer into Iceberg, then scraped; the numbers are the job store's, the stream's and the lake's."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from api import prometheus
from api.main import create_app
from eventlake.consumer import Consumer

from .conftest import AUTH, make_settings

TS = "2026-01-01T00:00:00Z"
PROM = {"Accept": "text/plain;version=0.0.4;q=0.4,*/*;q=0.1"}  # what a Prometheus server sends
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$')


def parse(text: str) -> dict[str, dict[tuple, float]]:
    """A strict reading of the exposition: every sample belongs to a family declared by HELP and TYPE."""
    declared: dict[str, str] = {}
    samples: dict[str, dict[tuple, float]] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in {"counter", "gauge", "summary"}, line
            declared[name] = kind
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.group(1), match.group(2) or "", match.group(3)
        family = next((f for f in declared if name in (f, f + "_sum", f + "_count")), None)
        assert family is not None, f"{name} has no TYPE line"
        key = tuple(sorted(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels)))
        samples.setdefault(name, {})[key] = float(value)
    return samples


def event(i, **fields) -> dict:
    return {"event_id": f"e{i}", "user_id": "u1", "event_type": "view", "event_timestamp": TS, **fields}


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setattr(prometheus, "CACHE_SECONDS", 0.0)  # each scrape reads the lake again
    return make_settings(tmp_path / "home")


def test_the_scrape_follows_records_from_post_to_iceberg(settings):
    # e0, e2 valid; e1 and e4 invalid; the second e0 a duplicate
    body = [event(0), {"event_id": "e1", "event_type": "view", "event_timestamp": TS}, event(2), event(0),
            event(4, event_value="x")]
    with TestClient(create_app(settings)) as client:
        assert client.post("/api/v1/ingest", json=body, headers=AUTH).status_code == 202
        before = client.get("/metrics")
        assert before.status_code == 200 and before.headers["content-type"].startswith("text/plain; version=0.0.4")
        m = parse(before.text)
        assert m["eventlake_records_total"][(("outcome", "in_flight"),)] == 5
        assert m["eventlake_records_total"][(("outcome", "received"),)] == 5
        assert sum(m["eventlake_stream_lag_records"].values()) == 1, "one stream record not consumed yet"
        assert "eventlake_table_last_commit_timestamp_seconds" not in m, "nothing committed yet"

        Consumer(settings).drain()
        m = parse(client.get("/metrics").text)

    outcome = {k[0][1]: v for k, v in m["eventlake_records_total"].items()}
    assert outcome == {"received": 5, "accepted": 2, "rejected": 2, "duplicate": 1, "in_flight": 0}
    assert m["eventlake_rejected_ratio"][()] == pytest.approx(2 / 5)
    assert m["eventlake_jobs"][(("status", "COMPLETED"),)] == 1
    assert sum(m["eventlake_stream_lag_records"].values()) == 0
    assert m["eventlake_records_per_second"][(("direction", "in"),)] == pytest.approx(5 / 60)
    assert m["eventlake_records_per_second"][(("direction", "out"),)] == pytest.approx(5 / 60)
    assert m["eventlake_ingest_to_commit_seconds_count"][()] == 1
    assert m["eventlake_ingest_to_commit_seconds"][(("quantile", "0.5"),)] > 0
    fresh = m["eventlake_table_freshness_seconds"]
    assert set(fresh) == {(("kind", "raw"), ("table", "raw.events"))}, "users and products have no commit yet"
    assert all(0 <= age < 600 for age in fresh.values())
    assert [v for k, v in m["eventlake_api_requests_total"].items() if ("status", "202") in k] == [1]
    assert set(m["eventlake_metrics_source_up"].values()) == {1.0}


def test_api_v1_metrics_negotiates_and_needs_no_key(settings):
    with TestClient(create_app(settings)) as client:
        as_json = client.get("/api/v1/metrics")
        as_text = client.get("/api/v1/metrics", headers=PROM)
        openmetrics = client.get("/api/v1/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        browser = client.get("/api/v1/metrics", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert as_json.status_code == 200 and "jobs" in as_json.json()
    assert browser.headers["content-type"].startswith("application/json")
    for response in (as_text, openmetrics):
        assert response.status_code == 200 and "eventlake_records_total" in parse(response.text)


def test_model_builds_read_the_latest_successful_build_per_model(tmp_path):
    """dbt's run_results.json (one per layer step): successful models only, the latest build wins."""
    def results(path, *rows):
        path.mkdir(parents=True, exist_ok=True)
        (path / "run_results.json").write_text(json.dumps({"results": [
            {"unique_id": uid, "status": status,
             "timing": [{"name": "compile", "completed_at": "2026-01-01T00:00:00Z"},
                        {"name": "execute", "completed_at": at}]}
            for uid, status, at in rows]}))

    results(tmp_path / "staging", ("model.eventlake.stg_events", "success", "2026-03-01T10:00:00.5Z"),
            ("test.eventlake.not_null_x", "pass", "2026-03-01T10:00:01Z"))
    results(tmp_path / "marts", ("model.eventlake.fact_events", "success", "2026-03-01T10:05:00Z"),
            ("model.eventlake.dim_users", "error", "2026-03-01T10:06:00Z"))
    results(tmp_path / "old", ("model.eventlake.fact_events", "success", "2026-03-01T09:00:00Z"))
    builds = prometheus.model_builds(tmp_path)
    at = lambda s: datetime.fromisoformat(s).replace(tzinfo=UTC).timestamp()  # noqa: E731
    assert builds == {"stg_events": at("2026-03-01T10:00:00.500000"), "fact_events": at("2026-03-01T10:05:00")}


def test_quantiles_are_nearest_rank():
    values = sorted(float(v) for v in range(1, 101))
    assert [prometheus.quantile(values, q) for q in prometheus.QUANTILES] == [50.0, 95.0, 99.0]
    assert str(prometheus.quantile([], 0.5)) == "nan"
