"""Dagster resources that hand out eventlake's Settings and its backends.

Every resource takes an optional ``home`` so a test (or a second deployment on
one machine) can point the whole code location at another EVENTLAKE_HOME
without touching the process environment. Otherwise the process's settings
(``EVENTLAKE_*`` variables) apply.
"""

from __future__ import annotations

from dagster import ConfigurableResource

from eventlake.settings import Settings, get_settings


def settings_for(home: str | None) -> Settings:
    return Settings(home=home) if home else get_settings()


class EventlakeResource(ConfigurableResource):
    """Settings, the Iceberg catalog, the stream and the job store, opened lazily."""

    home: str | None = None

    @property
    def settings(self) -> Settings:
        return settings_for(self.home)

    def catalog(self):
        from eventlake import lake

        return lake.load_catalog(self.settings)

    def tables(self):
        from eventlake import lake

        return lake.ensure_tables(self.catalog())

    def job_store(self):
        from eventlake.state.ingestion_jobs import IngestionJobStore

        return IngestionJobStore(self.settings.job_db)

    def consumer(self):
        from eventlake.consumer import Consumer

        return Consumer(self.settings)

    def dbt_env(self) -> dict[str, str]:
        """Environment the dbt profile reads (dbt_project/profiles.yml)."""
        s = self.settings
        s.ensure_home()
        return dbt_env(s)


def dbt_env(s: Settings) -> dict[str, str]:
    """The variables dbt_project/profiles.yml reads, from the settings (which alone read ``EVENTLAKE_*``).

    Handed to each dbt invocation explicitly. Unset optional values are left
    out, so the profile's own defaults (the same as the settings') apply.
    """
    env = {
        "EVENTLAKE_DUCKDB_PATH": str(s.duckdb_file),
        "EVENTLAKE_DUCKDB_MEMORY_LIMIT": s.duckdb_memory_limit,
        "EVENTLAKE_CATALOG_URI": s.catalog_url,
        "EVENTLAKE_WAREHOUSE": s.warehouse_location,
        "EVENTLAKE_CATALOG_NAME": s.catalog_name,
        "EVENTLAKE_DBT_THREADS": str(s.dbt_threads),
        "EVENTLAKE_SNOWFLAKE_DATABASE": s.snowflake_database,
        "EVENTLAKE_SNOWFLAKE_WAREHOUSE": s.snowflake_warehouse,
        "EVENTLAKE_SNOWFLAKE_SCHEMA": s.snowflake_schema,
    }
    optional = {
        "EVENTLAKE_SNOWFLAKE_ACCOUNT": s.snowflake_account,
        "EVENTLAKE_SNOWFLAKE_USER": s.snowflake_user,
        "EVENTLAKE_SNOWFLAKE_PASSWORD": s.snowflake_password.get_secret_value() if s.snowflake_password else None,
        "EVENTLAKE_SNOWFLAKE_ROLE": s.snowflake_role,
        "EVENTLAKE_SNOWFLAKE_HOST": s.snowflake_host,
        "EVENTLAKE_SNOWFLAKE_PORT": None if s.snowflake_port is None else str(s.snowflake_port),
        "EVENTLAKE_SNOWFLAKE_PROTOCOL": s.snowflake_protocol,
    }
    env.update({k: v for k, v in optional.items() if v is not None})
    return env
