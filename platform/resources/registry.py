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
    """Kinesis / S3 + Glue or Postgres catalog / Snowflake, configured by EVENTLAKE_* variables.

    Snowflake is configured once, by the settings' ten ``snowflake_*`` values (``EVENTLAKE_SNOWFLAKE_*``):
    the dbt PROD target (dbt_project/profiles.yml) receives all of them from ``EventlakeResource.dbt_env``,
    and the warehouse resource connects with the same values (``SnowflakeWarehouse.connect_kwargs``,
    through dagster-snowflake's ``SnowflakeResource``). tests/resources/test_registry.py holds the three
    to the same names.
    """
    return {
        "eventlake": EventlakeResource(),
        "iceberg_io_manager": IcebergIOManager(),
        "warehouse": SnowflakeWarehouse(),  # connects with the settings' EVENTLAKE_SNOWFLAKE_* values
        "dbt": DbtCliResource(project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR), target="PROD",
                              dbt_executable=DBT_EXECUTABLE),
    }


RESOURCES = {"LOCAL": local_resources, "PROD": prod_resources}
