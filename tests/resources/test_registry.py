"""The PROD resources (eventlake.resources.registry) hand dbt and the warehouse resource every Snowflake
setting the dbt profile reads, with the same values."""

from __future__ import annotations

import re

import pytest

from eventlake.dbt.project import DBT_PROJECT_DIR

# a distinct value per setting, so a value passed under the wrong name shows
SNOWFLAKE_ENV = {
    "EVENTLAKE_SNOWFLAKE_ACCOUNT": "acct-1",
    "EVENTLAKE_SNOWFLAKE_USER": "loader",
    "EVENTLAKE_SNOWFLAKE_PASSWORD": "s3cret",
    "EVENTLAKE_SNOWFLAKE_DATABASE": "LAKE_DB",
    "EVENTLAKE_SNOWFLAKE_WAREHOUSE": "LOAD_WH",
    "EVENTLAKE_SNOWFLAKE_ROLE": "TRANSFORMER",
    "EVENTLAKE_SNOWFLAKE_SCHEMA": "ANALYTICS",
    "EVENTLAKE_SNOWFLAKE_HOST": "snowflake.internal",
    "EVENTLAKE_SNOWFLAKE_PORT": "8443",
    "EVENTLAKE_SNOWFLAKE_PROTOCOL": "https",
}


def profile_env_vars(output: str) -> set[str]:
    """The ``env_var(...)`` names the profile's ``output`` target reads."""
    text = (DBT_PROJECT_DIR / "profiles.yml").read_text()
    block = re.search(rf"^    {output}:\n((?:      .*\n|\s*\n)+)", text, re.M)
    assert block, f"no {output} output in profiles.yml"
    return set(re.findall(r"env_var\('([A-Z0-9_]+)'", block.group(1)))


@pytest.fixture
def prod_env(eventlake_home, monkeypatch):
    from eventlake.settings import get_settings

    monkeypatch.setenv("EVENTLAKE_ENV", "PROD")
    for name, value in SNOWFLAKE_ENV.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_test_knows_every_snowflake_setting_the_profile_reads():
    snowflake = {n for n in profile_env_vars("PROD") if n.startswith("EVENTLAKE_SNOWFLAKE_")}
    assert snowflake == set(SNOWFLAKE_ENV)
    assert len(snowflake) == 10


def test_prod_resources_pass_dbt_every_variable_of_the_profile(prod_env):
    from eventlake.resources.registry import prod_resources

    resources = prod_resources()
    assert resources["dbt"].target == "PROD"
    env = resources["eventlake"].dbt_env()
    missing = profile_env_vars("PROD") - set(env)
    assert not missing, f"profiles.yml PROD reads {sorted(missing)}, which the PROD resources do not pass"
    assert {k: env[k] for k in SNOWFLAKE_ENV} == SNOWFLAKE_ENV


def test_the_warehouse_resource_connects_with_the_same_values(prod_env):
    from dagster_snowflake import SnowflakeResource

    from eventlake.resources.registry import prod_resources
    from eventlake.resources.warehouse import SnowflakeWarehouse

    warehouse = prod_resources()["warehouse"]
    assert isinstance(warehouse, SnowflakeWarehouse)
    expected = {
        name.removeprefix("EVENTLAKE_SNOWFLAKE_").lower(): int(value) if name.endswith("_PORT") else value
        for name, value in SNOWFLAKE_ENV.items()
    }
    assert warehouse.connect_kwargs() == expected
    assert warehouse.relation("marts", "fact_events") == "LAKE_DB.MARTS.FACT_EVENTS"

    # the connection comes from dagster-snowflake's resource; the endpoint override reaches the connector
    resource = warehouse.snowflake_resource()
    assert isinstance(resource, SnowflakeResource)
    args = dict(resource._connection_args)  # what SnowflakeResource.get_connection passes to the connector
    assert {k: args[k] for k in expected} == expected


def test_a_value_set_on_the_resource_wins_over_the_settings(prod_env):
    from eventlake.resources.warehouse import SnowflakeWarehouse

    kwargs = SnowflakeWarehouse(database="OTHER", port=9000).connect_kwargs()
    assert (kwargs["database"], kwargs["port"], kwargs["account"]) == ("OTHER", 9000, "acct-1")
