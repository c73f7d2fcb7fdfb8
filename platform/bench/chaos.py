"""``eventlake bench ingest --chaos MINUTES``: break the ingest path for minutes, then reconcile every job.

An API and consumers run as real processes on a fresh home while producers
keep POSTing NDJSON batches (with invalid events, and repeats of events posted
before). A chaos loop kills (SIGKILL) or pauses (SIGSTOP past the lease period,
then SIGCONT) a random component every few seconds and restarts what it
killed. Producers retry a POST whose answer they did not get, as real ones do.

Then the load stops, the components run undisturbed until every acknowledged
job is COMPLETED, and the run is reconciled:

* every event of every acknowledged request is in ``raw.events`` exactly once,
  unless it is invalid (then it is in ``raw.rejected_records``);
* nothing else is in ``raw.events``;
* every job's counts add up (accepted + rejected = records; duplicates
  counted in rejected);
* no job is left PENDING or PROCESSING;
* the tables' stored positions never went backwards (sampled every second).

It prints what was broken and the reconciliation, and writes ``chaos-<stamp>.json``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("eventlake.bench.chaos")

LEASE_SECONDS = 4.0  # short, so paused and killed consumers are taken over quickly


def _events(rng: random.Random, body_no: int, history: list[str]) -> tuple[list[dict], set[str], set[str]]:
    """A body of events: (records, valid ids, invalid ids); some repeat ids posted before."""
    records, valid, invalid = [], set(), set()
    for i in range(rng.randint(20, 400)):
        event_id = f"c{body_no}-{i}"
        bad = rng.random() < 0.03
        records.append({"event_id": event_id, "user_id": f"u{i % 50}", "event_type": "teleport" if bad else "view",
                        "event_timestamp": "2026-03-01T10:00:00Z", "event_value": 1.0})  # fmt: skip
        (invalid if bad else valid).add(event_id)
    for event_id in rng.sample(history, min(len(history), rng.randint(0, 5))):
        records.append({"event_id": event_id, "user_id": "u", "event_type": "view",
                        "event_timestamp": "2026-03-01T10:00:00Z"})  # fmt: skip
    return records, valid, invalid


class Producers:
    """Threads POSTing NDJSON bodies to the API; a POST without an answer is retried, like a real producer."""

    def __init__(self, api_url: Callable[[str], str], key: str, seed: int, threads: int = 2):
        self.api_url = api_url
        self.key = key
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.acked: list[str] = []  # job ids
        self.valid: set[str] = set()
        self.invalid: set[str] = set()
        self.history: list[str] = []
        self.attempts = 0
        self.retries = 0
        self.body_no = 0
        self.threads = [threading.Thread(target=self._run, name=f"producer-{i}", daemon=True) for i in range(threads)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()

    def _run(self) -> None:
        import httpx

        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                with self.lock:
                    self.body_no += 1
                    records, valid, invalid = _events(self.rng, self.body_no, self.history)
                body = b"\n".join(json.dumps(r).encode() for r in records)
                while True:  # until acknowledged: a producer never drops a body it could not deliver
                    self.attempts += 1
                    try:
                        r = client.post(self.api_url("/api/v1/ingest?dataset=events"), content=body,
                                        headers={"X-API-Key": self.key, "Content-Type": "application/x-ndjson"})  # fmt: skip
                        if r.status_code == 202:
                            with self.lock:
                                self.acked.append(r.json()["job_id"])
                                self.valid |= valid
                                self.invalid |= invalid
                                self.history.extend(list(valid)[:20])
                            break
                    except httpx.HTTPError:
                        pass
                    self.retries += 1
                    time.sleep(0.2)
                time.sleep(0.05)


def run(args, console) -> int:
    """The chaos soak; exit code 0 when the reconciliation holds."""
    from eventlake import checkpoints, lake
    from eventlake.bench import ingest as bench
    from eventlake.state.ingestion_jobs import IngestionJobStore, JobStatus

    minutes = float(args.chaos)
    rng = random.Random(args.seed)
    out: Path = (args.out or Path(os.environ.get("EVENTLAKE_HOME", ".eventlake")) / "bench").resolve()
    started = datetime.now(UTC)
    work = out / f"chaos-work-{started.strftime('%Y%m%dT%H%M%SZ')}"
    home, logs = work / "home", work / "logs"
    bench.CHILD_SETTINGS["EVENTLAKE_CONSUMER_LEASE_SECONDS"] = str(LEASE_SECONDS)
    settings = bench.home_settings(home).model_copy(update={"consumer_lease_seconds": LEASE_SECONDS})
    console.print(f"chaos soak for {minutes:g} min in {work} (lease {LEASE_SECONDS:g} s)")

    api = bench.start_api(home, logs, "api-0")
    consumers = bench.start_consumers(2, home, logs, "c")
    components: dict[str, Any] = {"api": api, "consumer-1": consumers[0], "consumer-2": consumers[1]}
    restarts = Counter()
    producers = Producers(lambda path: components["api"].url(path), bench.API_KEY, args.seed)
    events_log: list[dict] = []
    regressions: list[str] = []
    last_positions: dict = {}

    def restart(name: str) -> None:
        restarts[name] += 1
        if name == "api":
            components[name] = bench.start_api(home, logs, f"api-{restarts[name]}")
        else:
            components[name] = bench.start_consumers(1, home, logs, f"{name}-{restarts[name]}")[0]

    def check_positions() -> None:
        try:
            tables = lake.ensure_tables(lake.load_catalog(settings))
        except Exception:  # noqa: BLE001 - the catalog may be busy mid-commit; next sample
            return
        for name, table in tables.items():
            for dataset, shards in checkpoints.read_checkpoints(table).items():
                for shard, seq in shards.items():
                    key = (name, dataset, shard)
                    if key in last_positions and int(seq) < int(last_positions[key]):
                        regressions.append(f"{name} {dataset}/{shard}: {last_positions[key]} -> {seq}")
                    last_positions[key] = seq

    producers.start()
    deadline = time.monotonic() + minutes * 60
    try:
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(1.0, 4.0))
            check_positions()
            name = rng.choice(list(components))
            child = components[name]
            action = rng.choice(["kill", "kill", "pause"]) if name != "api" else "kill"
            at = round(time.monotonic() - (deadline - minutes * 60), 1)
            if action == "kill":
                os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait()
                restart(name)
            else:
                os.killpg(child.proc.pid, signal.SIGSTOP)
                time.sleep(LEASE_SECONDS * 1.5)
                os.killpg(child.proc.pid, signal.SIGCONT)
            events_log.append({"t": at, "component": name, "action": action})
            console.print(f"  {at:7.1f} s  {action:5s} {name}   (acknowledged jobs so far: {len(producers.acked)})")
    finally:
        producers.join()

    console.print("load stopped; waiting for every acknowledged job to complete")
    store = IngestionJobStore(settings.job_db)
    wait_until = time.monotonic() + 180
    while time.monotonic() < wait_until:
        check_positions()
        jobs = [store.get(j) for j in producers.acked]
        if all(j is not None and j.status is JobStatus.COMPLETED for j in jobs):
            break
        time.sleep(1)
    bench.stop(list(components.values()))

    tables = lake.ensure_tables(lake.load_catalog(settings))
    landed = tables["events"].scan(selected_fields=("event_id",)).to_arrow().column("event_id").to_pylist()
    counts = Counter(landed)
    rejected = tables["rejected_records"].scan(selected_fields=("raw",)).to_arrow().column("raw").to_pylist()
    rejected_ids = {json.loads(r).get("event_id") for r in rejected if r.startswith("{")}
    jobs = [store.get(j) for j in producers.acked]
    not_done = [j.job_id for j in jobs if j is None or j.status is not JobStatus.COMPLETED]
    bad_counts = [j.job_id for j in jobs if j and j.accepted_count + j.rejected_count + j.duplicate_count != j.record_count]
    stuck = [j.job_id for j in store.list_jobs(limit=100_000) if j.status in (JobStatus.PENDING, JobStatus.PROCESSING)]
    checks = {
        "every acknowledged job COMPLETED": not not_done,
        "every valid event landed": producers.valid <= set(counts),
        "no event landed twice": all(n == 1 for n in counts.values()),
        "nothing landed that was not posted as valid": set(counts) <= producers.valid,
        "every invalid event in rejected_records": producers.invalid <= rejected_ids,
        "job counts add up": not bad_counts,
        "no job left PENDING or PROCESSING": not stuck,
        "stored positions never went backwards": not regressions,
    }
    result = {
        "minutes": minutes, "started": started.isoformat(), "breaks": events_log, "restarts": dict(restarts),
        "acknowledged_jobs": len(producers.acked), "post_attempts": producers.attempts, "retried_posts": producers.retries,
        "valid_events": len(producers.valid), "rows_in_raw_events": len(landed),
        "duplicated_rows": sum(n - 1 for n in counts.values() if n > 1), "missing_events": len(producers.valid - set(counts)),
        "jobs_not_completed": not_done[:20], "jobs_with_bad_counts": bad_counts[:20], "stuck_jobs": stuck[:20],
        "position_regressions": regressions[:20], "checks": checks, "work_dir": str(work),
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"chaos-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2))

    from rich.table import Table

    table = Table(title=f"chaos soak: {len(events_log)} breaks in {minutes:g} min "
                        f"({sum(1 for e in events_log if e['action'] == 'kill')} kills, "
                        f"{sum(1 for e in events_log if e['action'] == 'pause')} pauses past the lease)")  # fmt: skip
    table.add_column("")
    table.add_column("reconciliation")
    for name, ok in checks.items():
        table.add_row("PASS" if ok else "FAIL", name)
    console.print(table)
    console.print(f"{len(producers.acked):,} acknowledged jobs, {len(producers.valid):,} valid events, "
                  f"{len(landed):,} rows in raw.events, {producers.retries:,} POSTs retried; results: {path}")  # fmt: skip
    return 0 if all(checks.values()) else 1
