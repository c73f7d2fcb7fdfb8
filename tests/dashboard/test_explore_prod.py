"""Issue 10: in PROD the Explore view reads the marts from Snowflake through the warehouse resource
(``SnowflakeWarehouse``, configured by EVENTLAKE_SNOWFLAKE_*), run with Streamlit's AppTest against a
fakesnow server (Snowflake's HTTP API over DuckDB) holding MARTS.FACT_EVENTS and MARTS.DIM_USERS.

The home has no DuckDB file: what the view shows can only come from Snowflake.
"""

from __future__ import annotations

import os
import uuid

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from eventlake import dashboard
from tests.dashboard.charts import vega_charts
from tests.resources.fakesnow_server import snowflake_env, snowflake_server  # noqa: F401 (a fixture)

pytestmark = [
    pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning"),
    pytest.mark.filterwarnings("ignore:The 'insecure_mode' connection property is deprecated:DeprecationWarning"),
]

# (event_id, user_sk, event_type, event_timestamp (UTC), event_value, job_id)
FACTS = [
    ("e1", "sk1", "view", "2026-03-01 10:05:00", 0.0, "job-a"),
    ("e2", "sk1", "click", "2026-03-01 10:20:00", 0.0, "job-a"),
    ("e3", "sk2", "purchase", "2026-03-01 11:10:00", 19.5, "job-a"),
    ("e4", "sk2", "view", "2026-03-02 09:00:00", 0.0, "job-b"),
    ("e5", "sk3", "purchase", "2026-03-02 09:30:00", 5.25, "job-b"),
]
USERS = [("sk1", "u1", "Ann"), ("sk2", "u2", "Bo"), ("sk3", "u3", "Cy")]


@pytest.fixture
def prod_home(snowflake_server, tmp_path, monkeypatch):
    import snowflake.connector

    from eventlake.settings import get_settings

    database = f"DASH_{uuid.uuid4().hex[:8].upper()}"  # fakesnow's databases are shared per process
    with snowflake.connector.connect(**snowflake_server) as conn:
        cur = conn.cursor()
        cur.execute(f"create database {database}")
        cur.execute(f"create schema {database}.marts")
        cur.execute(f"create table {database}.marts.fact_events (event_id varchar, user_sk varchar, "
                    "event_type varchar, event_timestamp timestamp_ntz, event_value double, job_id varchar)")
        cur.execute(f"create table {database}.marts.dim_users (user_sk varchar, user_id varchar, user_name varchar)")
        cur.executemany(f"insert into {database}.marts.fact_events values (%s, %s, %s, %s, %s, %s)", FACTS)
        cur.executemany(f"insert into {database}.marts.dim_users values (%s, %s, %s)", USERS)
    for name in list(os.environ):
        if name.startswith("EVENTLAKE_"):
            monkeypatch.delenv(name)
    env = {
        "EVENTLAKE_HOME": str(tmp_path / "home"),
        "EVENTLAKE_ENV": "PROD",
        **snowflake_env(snowflake_server, database),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def _metric(at: AppTest, label: str) -> str:
    (value,) = [m.value for m in at.metric if m.label == label]
    return value


def _by_type(at: AppTest) -> dict[str, int]:
    for spec, frames in vega_charts(at):
        if spec.get("title") == "Events by type":
            (frame,) = frames
            return dict(zip(frame["event_type"], frame["events"].astype(int), strict=True))
    raise AssertionError("no Events by type chart")


def _events(at: AppTest) -> pd.DataFrame:
    (table,) = [n for n in at.get_by_key("events_table") if getattr(n, "type", None) == "dataframe"]
    return table.value


def test_prod_explore_reads_the_snowflake_marts_through_the_warehouse_resource(prod_home):
    at = AppTest.from_file(str(dashboard.APP), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("through the warehouse resource" in c.value for c in at.caption)
    assert _metric(at, "Events") == str(len(FACTS))
    assert _metric(at, "Users") == "3"
    assert _metric(at, "Event value") == f"{sum(f[4] for f in FACTS):,.2f}"
    assert _by_type(at) == {"view": 2, "purchase": 2, "click": 1}
    events = _events(at)
    assert list(events["event_id"]) == ["e5", "e4", "e3", "e2", "e1"]  # newest first
    assert dict(zip(events["event_id"], events["user_name"], strict=True))["e3"] == "Bo"  # joined to dim_users
    assert at.multiselect(key="f_event_types").options == ["click", "purchase", "view"]

    at.multiselect(key="f_event_types").set_value(["purchase"]).run()
    assert _metric(at, "Events") == "2" and _by_type(at) == {"purchase": 2}
    at.text_input(key="f_job_id").set_value("job-b").run()
    assert list(_events(at)["event_id"]) == ["e5"]
    # several filters, one rerun: user u2 on 2 March (UTC, the default zone here), any type and job
    day = pd.Timestamp("2026-03-02").date()
    at.multiselect(key="f_event_types").set_value([])
    at.text_input(key="f_job_id").set_value("")
    at.text_input(key="f_user_id").set_value("u2")
    at.date_input(key="f_dates").set_value((day, day)).run()
    assert list(_events(at)["event_id"]) == ["e4"]
    assert not (prod_home / "warehouse.duckdb").exists()  # nothing came from a DuckDB file
