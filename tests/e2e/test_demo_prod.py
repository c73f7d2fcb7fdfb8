"""`eventlake demo --env PROD --once` from a fresh home: the production wiring on one machine.

The demo starts moto_server (Kinesis, S3, Glue) and a fakesnow server (Snowflake) itself, runs the API,
the consumer, Dagster and the dashboard on the PROD settings, POSTs sample data, waits for the snapshot
sensor's transform_job (Snowflake RAW loads, dbt PROD, checks) and exits 0 only when every stage
succeeded and the events reconcile from the POSTs to fact_events in Snowflake. The job store and
Dagster's storage are SQLite under the home: no PostgreSQL needed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from eventlake import peers
from eventlake.generate import generate
from tests.conftest import REPO_ROOT, free_port

pytestmark = pytest.mark.timeout(900)

EVENTS, USERS, PRODUCTS = 300, 20, 10


def _tail(path: Path, lines: int = 40) -> str:
    return "".join(path.read_text(errors="replace").splitlines(keepends=True)[-lines:]) if path.exists() else ""


def test_demo_env_prod_once_reconciles_from_post_to_fact_events_in_snowflake(tmp_path):
    if peers.missing():
        pytest.skip(f"the dev dependencies moto and fakesnow are missing: {', '.join(peers.missing())}")
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("EVENTLAKE_") and k != "DAGSTER_HOME"}
    env.update(EVENTLAKE_HOME=str(home), EVENTLAKE_API_PORT=str(free_port()), EVENTLAKE_DAGSTER_PORT=str(free_port()),
               EVENTLAKE_DASHBOARD_PORT=str(free_port()), EVENTLAKE_API_WORKERS="1", COLUMNS="250",
               PYTHONUNBUFFERED="1",
               # dbt docs are built after the marts and never fail a run: seconds this test need not spend
               EVENTLAKE_DBT_DOCS="false")
    cmd = [str(Path(sys.executable).parent / "eventlake"), "demo", "--env", "PROD", "--once", "--events", str(EVENTS),
           "--users", str(USERS), "--products", str(PRODUCTS), "--timeout", "400"]
    done = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=840)
    out = done.stdout + done.stderr
    logs = "\n".join(f"--- {log.name}\n{_tail(log)}" for log in sorted((home / "logs").glob("*.log")))
    assert done.returncode == 0, f"exit {done.returncode}\n{out[-6000:]}\n{logs}"
    assert "every stage succeeded" in out

    # the same sample data the demo generated: its accepted events, invalid ones and duplicates
    data = generate(events=EVENTS, users=USERS, products=PRODUCTS)
    accepted = len(data.expected_event_ids)
    hops = " = ".join(f"{table} {accepted:,}" for table in (
        "raw.events (Iceberg on S3)", "snowflake_raw.events (Snowflake RAW.EVENTS)", "staging.stg_events (Snowflake)",
        "marts.fact_events (Snowflake)"))
    assert (f"events reconciled: POSTed {len(data.events):,} = accepted {accepted:,} + rejected (invalid) "
            f"{data.invalid_count:,} + duplicates {data.duplicate_count:,}; accepted {accepted:,} = {hops}") in out, out

    # the backend of each hop: the peers the demo started, the job store and Dagster on SQLite under the home
    assert "backends (EVENTLAKE_ENV=PROD)" in out
    for hop in ("Kinesis stream eventlake-demo-", "Glue database raw at http://127.0.0.1:",
                f"s3://{peers.DEMO_BUCKET}/warehouse at http://127.0.0.1:", "(moto_server)",
                "Snowflake database EVENTLAKE at http://127.0.0.1:", "(fakesnow server)",
                f"SQLite {home / 'jobs.db'}", f"SQLite under {home / 'dagster'}"):
        assert hop in out, hop
    # the demo stopped its peers: their logs are there, their ports closed
    assert (home / "logs" / "moto.log").exists() and (home / "logs" / "fakesnow.log").exists()
    ports = {int(p) for p in re.findall(r"at http://127\.0\.0\.1:(\d+) \((?:moto_server|fakesnow server)\)", out)}
    assert len(ports) == 2 and not any(peers.port_open("127.0.0.1", port) for port in ports), ports
