"""Resources per deployment: LOCAL (embedded) and PROD, named like the dbt targets."""

from __future__ import annotations

from dagster_dbt import DbtCliResource

from eventlake.dbt.project import DBT_EXECUTABLE, DBT_PROJECT_DIR
from eventlake.resources.core import EventlakeResource
from eventlake.resources.io_manager import IcebergIOManager
from eventlake.resources.warehouse import DuckDBWarehouse, SnowflakeWarehouse


def local_resources(home: str | None = None) -> dict:
    """Embedded backends; ``home`` overrides EVENTLAKE_HOME (tests)."""
    return {
        "eventlake": EventlakeResource(home=home),
        "iceberg_io_manager": IcebergIOManager(home=home),
        "warehouse": DuckDBWarehouse(home=home),
        "dbt": DbtCliResource(project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR), target="LOCAL",
                              dbt_executable=DBT_EXECUTABLE),
    }


def prod_resources() -> dict:
    """Kinesis / S3 + Glue or Postgres catalog / Snowflake, configured by EVENTLAKE_* variables."""
    return {
        "eventlake": EventlakeResource(),
        "iceberg_io_manager": IcebergIOManager(),
        "warehouse": SnowflakeWarehouse(),  # connects with the settings' EVENTLAKE_SNOWFLAKE_* values
        "dbt": DbtCliResource(project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR), target="PROD",
                              dbt_executable=DBT_EXECUTABLE),
    }


RESOURCES = {"LOCAL": local_resources, "PROD": prod_resources}
