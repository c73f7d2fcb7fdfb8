"""Resources per deployment: LOCAL (embedded) and PROD, named like the dbt targets."""

from __future__ import annotations

from dagster import EnvVar
from dagster_dbt import DbtCliResource

from eventlake.assets.dbt import DBT_PROJECT_DIR
from eventlake.resources.core import EventlakeResource
from eventlake.resources.io_manager import IcebergIOManager
from eventlake.resources.warehouse import DuckDBWarehouse, SnowflakeWarehouse


def local_resources(home: str | None = None) -> dict:
    """Embedded backends; ``home`` overrides EVENTLAKE_HOME (tests)."""
    return {
        "eventlake": EventlakeResource(home=home),
        "iceberg_io_manager": IcebergIOManager(home=home),
        "warehouse": DuckDBWarehouse(home=home),
        "dbt": DbtCliResource(project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR), target="LOCAL"),
    }


def prod_resources() -> dict:
    """Kinesis / S3 + Glue or Postgres catalog / Snowflake, configured by EVENTLAKE_* variables."""
    return {
        "eventlake": EventlakeResource(),
        "iceberg_io_manager": IcebergIOManager(),
        "warehouse": SnowflakeWarehouse(
            account=EnvVar("EVENTLAKE_SNOWFLAKE_ACCOUNT"),
            user=EnvVar("EVENTLAKE_SNOWFLAKE_USER"),
            password=EnvVar("EVENTLAKE_SNOWFLAKE_PASSWORD"),
            database=EnvVar("EVENTLAKE_SNOWFLAKE_DATABASE"),
            warehouse=EnvVar("EVENTLAKE_SNOWFLAKE_WAREHOUSE"),
        ),
        "dbt": DbtCliResource(project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR), target="PROD"),
    }


RESOURCES = {"LOCAL": local_resources, "PROD": prod_resources}
