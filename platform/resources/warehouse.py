"""The warehouse the dbt models build into: DuckDB locally, Snowflake in PROD.

Asset checks and the dashboard read model tables through ``query_df``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource
from pydantic import Field

from eventlake.resources.core import settings_for
from eventlake.settings import get_settings

if TYPE_CHECKING:
    import pandas as pd  # imported where a DataFrame is built: pandas costs seconds of CPU to import


class DuckDBWarehouse(ConfigurableResource):
    """The local DuckDB file (settings.duckdb_file), opened read-only per query."""

    home: str | None = None
    busy_timeout_s: float = Field(default=60.0, description="How long to wait while dbt holds the file.")

    def _connect(self):
        """A read-only connection, waiting while a dbt run holds the file's write lock. DuckDB's
        memory_limit is the dbt runs' (settings.duckdb_memory_limit): whole-table aggregates spill
        instead of growing with the history."""
        import duckdb

        settings = settings_for(self.home)
        config = {"memory_limit": settings.duckdb_memory_limit}
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                return duckdb.connect(str(settings.duckdb_file), read_only=True, config=config)
            except duckdb.IOException:
                # another process (a dbt run) holds the write lock; wait for it
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def query_df(self, sql: str) -> pd.DataFrame:
        with self._connect() as conn:
            return conn.execute(sql).df()

    def query_chunks(self, sql: str, rows: int) -> Iterator[pd.DataFrame]:
        """The result of ``sql`` as DataFrames of about ``rows`` rows each (at least one, maybe empty)."""
        vectors = max(1, rows // 2048)  # DuckDB hands results out in vectors of 2,048 rows
        with self._connect() as conn:
            cursor = conn.execute(sql)
            chunk = cursor.fetch_df_chunk(vectors)
            yield chunk
            while len(chunk):
                chunk = cursor.fetch_df_chunk(vectors)
                if len(chunk):
                    yield chunk

    def relation(self, schema: str, name: str) -> str:
        return f'"{schema}"."{name}"'


def _lower_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Column names in lower case, as DuckDB answers: Snowflake answers unquoted identifiers in upper case,
    and the suites (gx/) and checks name columns in lower case."""
    frame.columns = [str(c).lower() for c in frame.columns]
    return frame


class SnowflakeWarehouse(ConfigurableResource):
    """Snowflake through dagster-snowflake's ``SnowflakeResource`` (the Snowflake Connector for Python underneath).

    Every connection value left unset here comes from the settings
    (``EVENTLAKE_SNOWFLAKE_*``), the same values the dbt PROD target uses. A host,
    port or protocol override (a fakesnow server) reaches the connector through the
    resource's ``additional_snowflake_connection_args``.
    """

    account: str | None = None
    user: str | None = None
    password: str | None = None
    database: str | None = None
    warehouse: str | None = None
    role: str | None = None
    host: str | None = None
    port: int | None = None
    protocol: str | None = None

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``snowflake.connector.connect``: this resource's values over the settings'."""
        s = get_settings()
        password = s.snowflake_password.get_secret_value() if s.snowflake_password else None
        from_settings = {
            "account": s.snowflake_account, "user": s.snowflake_user, "password": password,
            "database": s.snowflake_database, "warehouse": s.snowflake_warehouse, "role": s.snowflake_role,
            "schema": s.snowflake_schema,  # the session's default schema, dbt's target schema
            "host": s.snowflake_host, "port": s.snowflake_port, "protocol": s.snowflake_protocol,
        }
        mine = {k: v for k, v in self.model_dump().items() if v is not None}
        return {k: v for k, v in {**from_settings, **mine}.items() if v is not None}

    def snowflake_resource(self):
        """The dagster-snowflake ``SnowflakeResource`` for :meth:`connect_kwargs` (imported here: it loads Snowpark)."""
        from dagster_snowflake import SnowflakeResource

        kwargs = self.connect_kwargs()
        endpoint = {k: kwargs.pop(k) for k in ("host", "port", "protocol") if k in kwargs}
        return SnowflakeResource(**kwargs, additional_snowflake_connection_args=endpoint or None)

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        """A ``snowflake.connector`` connection from dagster-snowflake's resource, committed and closed on exit."""
        with self.snowflake_resource().get_connection() as conn:
            yield conn

    def query_df(self, sql: str) -> pd.DataFrame:
        with self.connection() as conn:
            cur = conn.cursor()
            cur.execute(sql)
            return _lower_columns(cur.fetch_pandas_all())

    def query_chunks(self, sql: str, rows: int) -> Iterator[pd.DataFrame]:  # noqa: ARG002 - Snowflake sizes its own batches
        """The result of ``sql`` in the result batches Snowflake returns (at least one frame, maybe empty)."""
        with self.connection() as conn:
            cur = conn.cursor()
            cur.execute(sql)
            empty = True
            for frame in cur.fetch_pandas_batches():
                empty = False
                yield _lower_columns(frame)
            if empty:
                import pandas as pd

                yield pd.DataFrame()

    def relation(self, schema: str, name: str) -> str:
        database = self.connect_kwargs().get("database")
        return f"{database}.{schema.upper()}.{name.upper()}"


def _explore_queries(warehouse: DuckDBWarehouse | SnowflakeWarehouse,
                     statements: list[tuple[str, list[Any]]]) -> list[pd.DataFrame]:
    """Run ``statements`` (SQL with ``?`` placeholders, and their values) on one connection of
    ``warehouse``; the values are bound by the driver (DuckDB's ``?``, the Snowflake connector's
    ``%s``), never pasted into the SQL. Column names in lower case."""
    if isinstance(warehouse, SnowflakeWarehouse):
        with warehouse.connection() as conn:
            frames = []
            for sql, params in statements:
                cur = conn.cursor()
                cur.execute(sql.replace("?", "%s"), params or None)
                frames.append(_lower_columns(cur.fetch_pandas_all()))
            return frames
    with warehouse._connect() as conn:
        return [_lower_columns(conn.execute(sql, params).df()) for sql, params in statements]


def explore_marts(
    warehouse: DuckDBWarehouse | SnowflakeWarehouse,
    limit: int = 1000,
    *,
    event_types: tuple[str, ...] = (),
    job_id: str = "",
    user_id: str = "",
    start: Any = None,
    end: Any = None,
) -> dict[str, Any]:
    """What the dashboard's exploration view shows, read from the marts through a warehouse resource
    (Snowflake in PROD, where the dashboard's own reader, ``eventlake.dashboard.data.explore``, takes a
    DuckDB file): ``total`` events, distinct ``users``, ``value_sum``, events ``by_type``
    (``event_type``, ``events``), events ``per_hour`` (``hour``: the UTC hour, ``event_type``,
    ``events``) and the newest ``rows`` of ``marts.fact_events`` joined to the ``marts.dim_users``
    version of their user (``user_id``, ``user_name``); ``event_types``: every type in the mart,
    unfiltered, and the mart's ``first_event_at`` / ``last_event_at`` (naive UTC). Filters: ``event_types``, ``job_id``, ``user_id`` and ``event_timestamp`` in
    [``start``, ``end``) (naive UTC datetimes). Column names are lower case."""
    facts = warehouse.relation("marts", "fact_events")
    users = warehouse.relation("marts", "dim_users")
    clauses: list[str] = []
    params: list[Any] = []
    if event_types:
        clauses.append(f"f.event_type in ({', '.join('?' for _ in event_types)})")
        params += list(event_types)
    if job_id.strip():
        clauses.append("f.job_id = ?")
        params.append(job_id.strip())
    if user_id.strip():
        clauses.append("u.user_id = ?")
        params.append(user_id.strip())
    if start is not None:
        clauses.append("f.event_timestamp >= ?")
        params.append(start)
    if end is not None:
        clauses.append("f.event_timestamp < ?")
        params.append(end)
    where = f"where {' and '.join(clauses)}" if clauses else ""
    joined = f"{facts} f left join {users} u on u.user_sk = f.user_sk {where}"
    totals, by_type, per_hour, rows, types = _explore_queries(warehouse, [
        (f"select count(*) as total, count(distinct u.user_id) as users, coalesce(sum(f.event_value), 0) as value_sum "
         f"from {joined}", params),
        (f"select f.event_type, count(*) as events from {joined} group by f.event_type "
         f"order by events desc, f.event_type", params),
        (f"select date_trunc('hour', f.event_timestamp) as hour, f.event_type, count(*) as events from {joined} "
         f"group by 1, 2 order by 1, 2", params),
        (f"select f.event_id, f.event_type, f.event_timestamp, f.event_value, u.user_id, u.user_name, f.job_id "
         f"from {joined} order by f.event_timestamp desc, f.event_id limit {int(limit)}", params),
        (f"select event_type, min(event_timestamp) as first_at, max(event_timestamp) as last_at from {facts} "
         f"group by event_type order by event_type", []),
    ])
    return {
        "total": int(totals["total"].iloc[0]),
        "users": int(totals["users"].iloc[0]),
        "value_sum": float(totals["value_sum"].iloc[0]),
        "by_type": by_type,
        "per_hour": per_hour,
        "rows": rows,
        "event_types": tuple(types["event_type"]),
        "first_event_at": types["first_at"].min() if len(types) else None,
        "last_event_at": types["last_at"].max() if len(types) else None,
    }
