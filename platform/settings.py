"""One settings object for every eventlake process.

Every value comes from an ``EVENTLAKE_*`` environment variable (or a ``.env``
file in the working directory). The defaults are embedded: nothing needs a
running server. All local state lives under ``EVENTLAKE_HOME`` so deleting that
directory resets everything.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Env = Literal["LOCAL", "PROD"]


class Settings(BaseSettings):
    """Process-wide configuration, read from ``EVENTLAKE_*`` variables."""

    model_config = SettingsConfigDict(
        env_prefix="EVENTLAKE_", env_file=".env", extra="ignore", validate_default=True
    )
    # One Field(default, bounds, description) per setting: alike in shape on purpose, each its own documented variable.

    # -- where local state lives ------------------------------------------------
    home: Path = Field(
        default=Path(".eventlake"),
        description="Directory holding all local state: catalog, warehouse, stream log, job DB, Dagster home, DuckDB file.",
    )
    env: Env = Field(
        default="LOCAL",
        description="LOCAL = embedded backends (SQLite, files, DuckDB); PROD = Kinesis, S3/Glue or Postgres catalog, Snowflake. Same names as the dbt targets.",
    )
    log_format: Literal["json", "text"] = Field(
        default="json",
        description="Log lines of every component: json (one object a line: timestamp, level, component, message, ids, error) or text (the same fields on one readable line, for a terminal).",
    )

    # -- API --------------------------------------------------------------------
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated API keys accepted in the X-API-Key header.",
    )
    api_host: str = Field(default="127.0.0.1", description="Address the API binds to.")
    api_port: int = Field(default=8000, description="Port the API listens on.")
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024, description="Largest accepted request body; larger bodies get 413."
    )
    chunk_bytes: int = Field(
        default=900 * 1024,
        description="Largest stream record the API publishes (Kinesis allows 1 MiB per record).",
    )
    api_workers: int = Field(
        default=0,
        ge=0,
        description="uvicorn worker processes `python -m api.main` serves the API with (0 = one per CPU core, "
        "at most 4). Each has its own group writer; their commits take turns on the SQLite file.",
    )
    api_unpublished_seconds: float = Field(
        default=300.0,
        gt=0,
        description="A job still PENDING this long after the API created it, whose records never reached the "
        "stream (the API stopped between creating it and publishing), is marked FAILED with the reason. Every "
        "API process checks every tenth of this (at most every 30 s). Only jobs of a stream outside the job "
        "database (Kinesis, or a PostgreSQL job store) can be in that state.",
    )

    # -- job store --------------------------------------------------------------
    job_db_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the job store. Default: SQLite file under home. PROD: postgresql+psycopg://...",
    )

    # -- stream -----------------------------------------------------------------
    stream: Literal["local", "kinesis"] = Field(
        default="local", description="local = embedded durable log (SQLite); kinesis = AWS Kinesis via boto3."
    )
    stream_name: str = Field(default="eventlake-ingest", description="Stream (Kinesis stream) name.")
    stream_shards: int = Field(default=2, description="Shards of the stream.")
    stream_shares_job_db: bool = Field(
        default=True,
        description="local stream with a SQLite job store: keep the stream's tables in the job database file, "
        "so the API commits a job and its records in one transaction. false, or when home/stream.db "
        "already holds records: the stream is home/stream.db.",
    )
    kinesis_endpoint_url: str | None = Field(
        default=None, description="Kinesis endpoint override, e.g. a moto server; unset = AWS."
    )
    aws_region: str = Field(default="us-east-1", description="AWS region for Kinesis, S3 and Glue.")

    # -- consumer ---------------------------------------------------------------
    consumer_batch_records: int = Field(
        default=100, description="Stream records (chunks) the consumer reads per batch."
    )
    consumer_poll_seconds: float = Field(default=1.0, description="Sleep between empty polls.")
    consumer_process_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=0,
        description="Consecutive NDJSON chunks of one dataset are processed together, in one "
        "data_processor_rs.process() call, up to this many bytes (0 = one call per chunk). Each group's "
        "valid rows are written as data files while the next group is processed, so the commit waits only "
        "for the last group's write: smaller groups shorten that wait (16 MiB: about 100,000 events).",
    )
    consumer_commit_interval_seconds: float = Field(
        default=1.0,
        ge=0,
        description="Shortest time between two commits of a running consumer while it keeps up (a pass that "
        "reads a full batch commits at once): fewer, larger snapshots, at the cost of up to this much freshness.",
    )
    consumer_max_attempts: int = Field(
        default=3, description="Attempts for a failing batch before its jobs are marked FAILED."
    )
    dedup_window_days: int = Field(
        default=7,
        ge=1,
        description="A record whose key an earlier job stored within this many days (of ingested_at) is a "
        "duplicate, whatever the timing; the consumer keeps these keys in memory (about 37 bytes a key).",
    )
    consumer_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Lease period of a consumer on the stream: renewed every third of it while it works; "
        "another consumer takes over this long after one stops (at once if its process is gone).",
    )

    # -- Iceberg ----------------------------------------------------------------
    catalog_name: str = Field(default="eventlake", description="Iceberg catalog name.")
    catalog_type: Literal["sql", "glue"] = Field(default="sql", description="sql (SQLite/Postgres) or glue.")
    catalog_uri: str | None = Field(
        default=None, description="SQL catalog URL. Default: SQLite file under home."
    )
    warehouse: str | None = Field(
        default=None, description="Warehouse location (file:// or s3://). Default: home/warehouse."
    )
    s3_endpoint_url: str | None = Field(default=None, description="S3 endpoint override (moto).")
    data_docs_url: str | None = Field(
        default=None,
        description="Where Great Expectations keeps its results and builds Data Docs: a local directory or "
        "s3://bucket/prefix. Default: s3://<warehouse bucket>/gx when the warehouse is on S3, else home/gx.",
    )
    glue_endpoint_url: str | None = Field(default=None, description="Glue endpoint override (moto).")
    target_file_bytes: int = Field(
        default=128 * 1024 * 1024, description="Target size of the Parquet data files written."
    )

    # -- table maintenance of the raw tables (eventlake.maintenance) -------------
    compaction_schedule: str = Field(
        default="20 * * * *",
        description="Cron (UTC) of maintenance_compaction_job: compaction of the small data files of the raw tables.",
    )
    compaction_target_file_bytes: int = Field(
        default=128 * 1024 * 1024,
        gt=0,
        description="Compaction packs a partition's small files into groups of about this many bytes and "
        "rewrites each group as one file (a group is what a compaction holds in memory at once).",
    )
    compaction_small_file_bytes: int = Field(
        default=96 * 1024 * 1024,
        gt=0,
        description="Data files smaller than this are compaction candidates (Iceberg's default: 75% of the target).",
    )
    compaction_min_input_files: int = Field(
        default=5,
        ge=2,
        description="A partition is compacted only when it has at least this many candidate files.",
    )
    compaction_commit_attempts: int = Field(
        default=5,
        ge=1,
        description="Attempts of one compaction when consumers commit meanwhile: each commit lands only if the "
        "table did not move since it was planned (otherwise it is re-validated against the new snapshot, or "
        "re-planned).",
    )
    snapshot_expiry_schedule: str = Field(
        default="40 3 * * *",
        description="Cron (UTC) of maintenance_expire_snapshots_job.",
    )
    snapshot_retention_days: float = Field(
        default=7.0,
        gt=0,
        description="Snapshots older than this many days are expired (time travel reaches this far back); "
        "the files only they referenced are deleted. The current snapshot is never expired.",
    )
    snapshot_retain_last: int = Field(
        default=10,
        ge=1,
        description="The last this many snapshots of the current history are kept whatever their age.",
    )
    orphan_files_schedule: str = Field(
        default="10 4 * * 0",
        description="Cron (UTC) of maintenance_remove_orphan_files_job.",
    )
    orphan_file_min_age_days: float = Field(
        default=3.0,
        gt=0,
        description="Files under a table's location that no snapshot or metadata file references are deleted "
        "once they are this many days old (a younger one may belong to a write in flight).",
    )

    # -- warehouse (dbt) ----------------------------------------------------------
    faults: str = Field(
        default="",
        description=(
            "Fault points to fire, for crash tests and `eventlake bench ingest --chaos` only: "
            "`point=kill|stop[@hit]`, comma-separated (platform/faults.py). Empty in production."
        ),
    )

    dbt_in_process: bool = Field(
        default=True,
        description=(
            "Run dbt inside the Dagster run's process (dbtRunner), importing dbt once per run; "
            "false = one dbt process per layer (dagster-dbt's DbtCliResource)."
        ),
    )
    duckdb_path: Path | None = Field(
        default=None, description="DuckDB file the dbt models build into. Default: home/warehouse.duckdb."
    )
    duckdb_memory_limit: str = Field(
        default="1GB",
        description=(
            "DuckDB's memory_limit for dbt runs: its buffer pool, caches and operators stay under it and spill "
            "to <warehouse>.duckdb.tmp beyond it, so a transform's memory does not grow with the history."
        ),
    )

    dbt_target_dir: Path | None = Field(
        default=None,
        description=(
            "dbt's target directory: the manifest the code location and the dashboard read, dbt's parse cache "
            "and each step's artifacts. Default: home/dbt/target."
        ),
    )
    dbt_threads: int = Field(default=4, description="dbt threads on the PROD (Snowflake) target.")
    dbt_docs: bool = Field(
        default=True,
        description="Build dbt docs (`dbt docs generate`, into home/dbt/docs) at the end of each transform's "
        "marts step; a failure there is logged, never fails the step.",
    )

    # -- Snowflake (ENV=PROD: the warehouse resource and the dbt PROD target) -------
    snowflake_account: str | None = Field(default=None, description="Snowflake account (fakesnow: fakesnow).")
    snowflake_user: str | None = Field(default=None, description="Snowflake user.")
    snowflake_password: SecretStr | None = Field(default=None, description="Snowflake password.")
    snowflake_database: str = Field(default="EVENTLAKE", description="Snowflake database; raw tables live in <database>.RAW.")
    snowflake_warehouse: str = Field(default="COMPUTE_WH", description="Snowflake virtual warehouse.")
    snowflake_role: str | None = Field(default=None, description="Snowflake role; unset = the user's default role.")
    snowflake_schema: str = Field(default="PUBLIC", description="Default schema of the dbt PROD target.")
    snowflake_host: str | None = Field(default=None, description="Snowflake host override (a fakesnow server); unset = Snowflake.")
    snowflake_port: int | None = Field(default=None, description="Snowflake port override; unset = the connector's default.")
    snowflake_protocol: str | None = Field(default=None, description="Snowflake protocol override (http for fakesnow).")

    # -- Dagster ----------------------------------------------------------------
    dagster_url: str = Field(
        default="http://127.0.0.1:3000", description="Dagster webserver, used by the API trigger and Airflow."
    )
    dagster_port: int = Field(default=3000, description="Port of the Dagster webserver the demo starts.")
    dashboard_port: int = Field(default=8501, description="Port of the Streamlit dashboard the demo starts.")

    # -- alerts (eventlake.alerts, docs/alerts.md) ------------------------------------
    alert_webhook_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated webhook URLs (Slack-compatible incoming webhooks) that alerts are POSTed to; "
        "empty = no alerts are sent.",
    )
    alert_repeat_minutes: float = Field(
        default=60.0,
        ge=0,
        description="The same failure (same kind, subject and reason) is alerted at most once in this many minutes.",
    )
    alert_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Timeout of one webhook POST; a failing webhook is logged, never raised."
    )
    consumer_lag_alert_records: int = Field(
        default=10_000,
        ge=1,
        description="Alert when a stream shard holds more than this many records not yet committed by the consumer.",
    )
    fact_events_freshness_minutes: float = Field(
        default=60.0,
        gt=0,
        description="The freshness check of marts.fact_events (and the other marts) fails when they were last "
        "updated longer ago than this.",
    )
    dashboard_url: str | None = Field(
        default=None,
        description="The dashboard's address in alert links; unset = http://127.0.0.1:<dashboard_port>.",
    )

    @field_validator("alert_webhook_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return [u.strip() for u in value.split(",") if u.strip()]
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator(
        "snowflake_account", "snowflake_user", "snowflake_password", "snowflake_role",
        "snowflake_host", "snowflake_port", "snowflake_protocol", mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # the dbt profile reads an empty variable as unset; so do these
        return None if value == "" else value

    @field_validator("home", mode="after")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    # -- derived locations --------------------------------------------------------
    @property
    def job_db(self) -> str:
        return self.job_db_url or f"sqlite:///{self.home / 'jobs.db'}"

    @property
    def stream_path(self) -> Path:
        return self.home / "stream.db"

    @property
    def catalog_url(self) -> str:
        return self.catalog_uri or f"sqlite:///{self.home / 'catalog.db'}"

    @property
    def warehouse_location(self) -> str:
        return self.warehouse or (self.home / "warehouse").as_uri()

    @property
    def duckdb_file(self) -> Path:
        return (self.duckdb_path or self.home / "warehouse.duckdb").expanduser().resolve()

    @property
    def dbt_target_path(self) -> Path:
        """dbt's target directory (``--target-path``): under home, so each home has its own manifest and runs."""
        return (self.dbt_target_dir or self.home / "dbt" / "target").expanduser().resolve()

    @property
    def dbt_manifest_path(self) -> Path:
        return self.dbt_target_path / "manifest.json"

    @property
    def gx_root(self) -> str:
        """Root of the Great Expectations stores and Data Docs site (``data_docs/``): a local path or s3:// URL."""
        if self.data_docs_url:
            return self.data_docs_url.rstrip("/")
        if self.warehouse_location.startswith("s3://"):
            return f"s3://{self.warehouse_location[len('s3://'):].split('/', 1)[0]}/gx"
        return str((self.home / "gx").expanduser().resolve())

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    def catalog_properties(self) -> dict[str, str]:
        """Properties for ``pyiceberg.catalog.load_catalog``."""
        props: dict[str, str] = {"warehouse": self.warehouse_location}
        if self.catalog_type == "sql":
            props.update(type="sql", uri=self.catalog_url)
        else:
            props.update(type="glue", **{"glue.region": self.aws_region})
            if self.glue_endpoint_url:
                props["glue.endpoint"] = self.glue_endpoint_url
        if self.s3_endpoint_url:
            props["s3.endpoint"] = self.s3_endpoint_url
        if self.warehouse_location.startswith("s3://"):
            props["s3.region"] = self.aws_region
        return props

    def ensure_home(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        return self.home


def get_settings() -> Settings:
    """The process's settings: the only reader of ``EVENTLAKE_*`` variables.

    Cached per value of the ``EVENTLAKE_*`` variables: every call in a process
    whose environment does not change returns the same object, and a process
    that changes them (a test, the dashboard's script reruns) gets settings
    that follow. ``get_settings.cache_clear()`` drops the cache (a changed
    ``.env`` file). Tests build ``Settings(...)`` directly.
    """
    return _settings_for(_eventlake_environment())


def _eventlake_environment() -> tuple[tuple[str, str], ...]:
    # pydantic-settings matches the prefix case-insensitively
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith("EVENTLAKE_")))


@lru_cache(maxsize=8)
def _settings_for(environment: tuple[tuple[str, str], ...]) -> Settings:  # noqa: ARG001 - the cache key
    return Settings()


get_settings.cache_clear = _settings_for.cache_clear  # type: ignore[attr-defined]
