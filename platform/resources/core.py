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
        from eventlake.resources import iceberg

        return iceberg.load_catalog(self.settings)

    def tables(self):
        from eventlake.resources import iceberg

        return iceberg.ensure_tables(self.catalog())

    def job_store(self):
        from eventlake.jobs import JobStore

        return JobStore(self.settings.job_db)

    def consumer(self):
        from eventlake.consumer import Consumer

        return Consumer(self.settings)

    def dbt_env(self) -> dict[str, str]:
        """Environment the dbt profile reads (dbt_project/profiles.yml)."""
        s = self.settings
        s.ensure_home()
        return {
            "EVENTLAKE_DUCKDB_PATH": str(s.duckdb_file),
            "EVENTLAKE_DUCKDB_MEMORY_LIMIT": s.duckdb_memory_limit,
            "EVENTLAKE_CATALOG_URI": s.catalog_url,
            "EVENTLAKE_WAREHOUSE": s.warehouse_location,
            "EVENTLAKE_CATALOG_NAME": s.catalog_name,
        }
