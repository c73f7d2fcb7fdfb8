"""The Prometheus text exposition of ``/metrics`` (format 0.0.4, which every scraper reads).

What each family measures:

* ``eventlake_api_*``: this worker's request counters (each uvicorn worker has its own; a
  scraper adds them up by ``instance``).
* ``eventlake_jobs``, ``eventlake_records_total``: the job store's totals (global). Every
  received record is counted once: ``received = accepted + rejected + duplicate + in_flight``.
  ``rate(eventlake_records_total{outcome="received"}[1m])`` is records/s in; the other outcomes
  summed are records/s out.
* ``eventlake_records_per_second``: the same two rates over the last minute, for a reader
  without Prometheus (the dashboard).
* ``eventlake_rejected_ratio``: invalid records over the records processed.
* ``eventlake_ingest_to_commit_seconds``: POST -> COMPLETED (the job's records committed to
  Iceberg) of the latest 1,000 completed jobs, as a summary.
* ``eventlake_stream_lag_records`` / ``eventlake_stream_oldest_unread_age_seconds`` per shard
  (the local stream; Kinesis reports its iterator age to CloudWatch).
* ``eventlake_table_last_commit_timestamp_seconds`` / ``eventlake_table_freshness_seconds``: the
  raw tables' latest Iceberg commit and the dbt models' latest successful build.

The slow parts (the Iceberg catalog, dbt's run results) are read at most every
``CACHE_SECONDS``; a part that cannot be read is left out and named in
``eventlake_metrics_source_up{source=...} 0``.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger("eventlake.api.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CACHE_SECONDS = 10.0
RATE_WINDOW_SECONDS = 60.0
QUANTILES = (0.5, 0.95, 0.99)


def wants_prometheus(accept: str | None) -> bool:
    """Whether an Accept header asks for the text format (Prometheus sends ``text/plain;version=0.0.4``
    or ``application/openmetrics-text``); browsers and JSON clients get JSON."""
    accept = (accept or "").lower()
    return "openmetrics-text" in accept or ("text/plain" in accept and "text/html" not in accept)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return repr(float(value)) if isinstance(value, float) else str(int(value))


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]],
               suffix: str = "") -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            text = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
            self.lines.append(f"{name}{suffix}{{{text}}} {_number(value)}" if text else f"{name}{suffix} {_number(value)}")

    def render(self) -> str:
        return "\n".join(self.lines) + "\n"


def quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted values (NaN when there are none)."""
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


# -- the slow sources, cached ----------------------------------------------------------------------
_cache: dict[str, tuple[float, Any]] = {}
_cache_lock = threading.Lock()


def _cached(key: str, read: Any) -> Any:
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
    value = read()
    with _cache_lock:
        _cache[key] = (now, value)
    return value


def raw_table_commits(settings: Any) -> dict[str, float]:
    """The latest Iceberg commit time (epoch seconds) of each raw table that has one."""
    from eventlake import raw_snapshots
    from eventlake.contracts import RAW_NAMESPACE

    out = {}
    for dataset, table in raw_snapshots.existing_tables(settings).items():
        snapshot = table.metadata.current_snapshot()
        if snapshot is not None:
            out[f"{RAW_NAMESPACE}.{dataset}"] = snapshot.timestamp_ms / 1000.0
    return out


def model_builds(target: Path) -> dict[str, float]:
    """The latest successful build time (epoch seconds) of each dbt model, from the run_results.json
    files dbt wrote under its target directory (one per layer step, or one per dbt process)."""
    from datetime import datetime

    out: dict[str, float] = {}
    for path in [target / "run_results.json", *target.glob("*/run_results.json")]:
        try:
            results = json.loads(path.read_text()).get("results", [])
        except (OSError, ValueError):
            continue
        for result in results:
            unique_id = result.get("unique_id", "")
            if not unique_id.startswith("model.") or result.get("status") != "success":
                continue
            ends = [t.get("completed_at") for t in result.get("timing", []) if t.get("name") == "execute"]
            if not ends or not ends[0]:
                continue
            at = datetime.fromisoformat(ends[0].replace("Z", "+00:00")).timestamp()
            name = unique_id.split(".")[-1]
            out[name] = max(out.get(name, 0.0), at)
    return out


def render(*, settings: Any, api: dict[str, Any], writer_stats: dict[str, Any] | None, jobs: Any) -> str:
    """The whole exposition; ``jobs`` is the ingestion job store."""
    w = _Writer()
    up: dict[str, int] = {}

    # -- this worker -------------------------------------------------------------------------------
    w.family("eventlake_api_requests_total", "counter", "Requests answered by this API worker, by endpoint and status.",
             [({"endpoint": e, "status": s}, n) for e, by in sorted(api["requests"].items()) for s, n in sorted(by.items())])
    w.family("eventlake_api_ingest_records_total", "counter", "Records in ingest requests this worker accepted.",
             [({}, api["records_received"])])
    w.family("eventlake_api_ingest_bytes_total", "counter", "Bytes of ingest requests this worker accepted.",
             [({}, api["bytes_received"])])
    w.family("eventlake_api_client_disconnects_total", "counter", "Uploads the client abandoned (status 499).",
             [({}, api["client_disconnects"])])
    w.family("eventlake_api_uptime_seconds", "gauge", "Seconds since this API worker started.", [({}, api["uptime_seconds"])])
    writer_stats = writer_stats or {}  # None before the worker's first ingest request
    w.family("eventlake_api_ingest_writer_groups_total", "counter",
             "Group commits of this worker's ingest writer (requests per group show the coalescing).",
             [({}, writer_stats.get("groups", 0))])
    w.family("eventlake_api_ingest_writer_requests_total", "counter", "Requests written by this worker's ingest writer.",
             [({}, writer_stats.get("requests", 0))])

    # -- the job store (global) ------------------------------------------------------------------
    m = jobs.metrics()
    w.family("eventlake_jobs", "gauge", "Ingestion jobs by status.", [({"status": s}, n) for s, n in m["jobs_by_status"].items()])
    outcomes = {"received": m["records_received"], "accepted": m["records_accepted"], "rejected": m["records_rejected"],
                "duplicate": m["records_duplicates"], "in_flight": m["records_in_flight"]}
    w.family("eventlake_records_total", "counter",
             "Records by outcome: received = accepted + rejected (invalid) + duplicate + in_flight.",
             [({"outcome": k}, v) for k, v in outcomes.items()])
    processed = m["records_accepted"] + m["records_rejected"] + m["records_duplicates"]
    w.family("eventlake_rejected_ratio", "gauge", "Invalid records over the records processed (accepted + rejected + duplicate).",
             [({}, m["records_rejected"] / processed if processed else 0.0)])
    recent = jobs.recent(RATE_WINDOW_SECONDS)
    w.family("eventlake_records_per_second", "gauge",
             f"Records/s over the last {RATE_WINDOW_SECONDS:.0f} s: in (received) and out (processed).",
             [({"direction": "in"}, recent["received"] / RATE_WINDOW_SECONDS),
              ({"direction": "out"}, recent["processed"] / RATE_WINDOW_SECONDS)])
    seconds = recent["seconds_to_complete"]
    name = "eventlake_ingest_to_commit_seconds"
    w.family(name, "summary", "POST -> COMPLETED (records committed to Iceberg) of the latest completed jobs.",
             [({"quantile": str(q)}, quantile(seconds, q)) for q in QUANTILES])
    w.lines.append(f"{name}_sum {_number(float(sum(seconds)))}")
    w.lines.append(f"{name}_count {len(seconds)}")

    # -- the stream ------------------------------------------------------------------------------
    from eventlake.stream.lag import LagUnavailable, stream_lag

    try:
        lag = stream_lag(settings)
        up["stream_lag"] = 1
    except LagUnavailable:
        lag, up["stream_lag"] = [], 1  # not measured for this backend: nothing is wrong
    except Exception as exc:  # noqa: BLE001 - a metrics scrape reports, it does not fail
        log.warning("metrics: stream lag unavailable: %s", exc)
        lag, up["stream_lag"] = [], 0
    w.family("eventlake_stream_lag_records", "gauge", "Stream records the consumer has not committed yet, per shard.",
             [({"shard": r["shard"]}, r["lag_records"]) for r in lag])
    w.family("eventlake_stream_oldest_unread_age_seconds", "gauge", "Age of the oldest record not committed yet, per shard.",
             [({"shard": r["shard"]}, r["oldest_unread_age_s"]) for r in lag])

    # -- freshness -------------------------------------------------------------------------------
    commits: dict[str, tuple[str, float]] = {}
    try:
        commits.update({t: ("raw", at) for t, at in _cached(f"raw:{settings.home}", lambda: raw_table_commits(settings)).items()})
        up["iceberg"] = 1
    except Exception as exc:  # noqa: BLE001
        log.warning("metrics: raw table commits unavailable: %s", exc)
        up["iceberg"] = 0
    try:
        builds = _cached(f"dbt:{settings.dbt_target_path}", lambda: model_builds(settings.dbt_target_path))
        commits.update({m_: ("dbt", at) for m_, at in builds.items()})
        up["dbt"] = 1
    except Exception as exc:  # noqa: BLE001
        log.warning("metrics: dbt run results unavailable: %s", exc)
        up["dbt"] = 0
    now = time.time()
    w.family("eventlake_table_last_commit_timestamp_seconds", "gauge",
             "Latest Iceberg commit of a raw table, or latest successful dbt build of a model (Unix time).",
             [({"table": t, "kind": k}, at) for t, (k, at) in sorted(commits.items())])
    w.family("eventlake_table_freshness_seconds", "gauge", "Seconds since that commit or build.",
             [({"table": t, "kind": k}, round(now - at, 3)) for t, (k, at) in sorted(commits.items())])
    w.family("eventlake_metrics_source_up", "gauge", "Whether a metrics source could be read on this scrape.",
             [({"source": s}, v) for s, v in up.items()])
    return w.render()
