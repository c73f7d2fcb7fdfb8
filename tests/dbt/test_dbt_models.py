"""The dbt project on the LOCAL target, built once over two raw loads.

Load 1 and load 2 are appended to the raw Iceberg tables (load 2 re-delivers
some events and a user change, as an at-least-once stream does), then one
`dbt build` runs every model and every dbt test; the tests below check the
built tables with DuckDB.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.dbt.dbt_lakehouse import Lakehouse, event, product, ts, user

L1 = ts(24 * 60)  # ingested_at of load 1
L2 = ts(48 * 60)  # ingested_at of load 2


def naive(value: datetime) -> datetime:
    """Model timestamps are UTC without a zone."""
    return value.replace(tzinfo=None)


@pytest.fixture(scope="module")
def built(lakehouse: Lakehouse) -> Lakehouse:
    lakehouse.append(
        "users",
        [
            user("u1", "Alice", "a@example.com", ts(0), job_id="j1", ingested_at=L1),
            user("u1", "Alice", "a2@example.com", ts(60), job_id="j1", ingested_at=L1),
            # identical to the previous change: not a new version
            user("u1", "Alice", "a2@example.com", ts(90), job_id="j1", ingested_at=L1),
            user("u1", "Alicia", "a2@example.com", ts(120), job_id="j1", ingested_at=L1),
            user("u2", "Bob", "b@example.com", ts(0), job_id="j1", ingested_at=L1),
        ],
    )
    lakehouse.append(
        "products",
        [
            product("p1", "Widget", "tools", 10.0, job_id="j1", ingested_at=L1),
            product("p2", "Gadget", "toys", 20.0, job_id="j1", ingested_at=L1),
        ],
    )
    lakehouse.append(
        "events",
        [
            event("e1", "u1", ts(10), job_id="j1", ingested_at=L1),
            event("e2", "u1", ts(70), event_type="click", product_id="p1", job_id="j1", ingested_at=L1),
            event("e3", "u1", ts(130), event_type="purchase", value=99.5, product_id="p1", job_id="j1", ingested_at=L1),
            event("e4", "u1", ts(-30), job_id="j1", ingested_at=L1),  # before u1's first change row
            event("e5", "u2", ts(5), event_type="add_to_cart", product_id="p2", job_id="j1", ingested_at=L1),
            event("e6", "u3", ts(15), job_id="j1", ingested_at=L1),  # u3 has no user row
            event("e7", "u2", ts(20), event_type="click", product_id="p9", job_id="j1", ingested_at=L1),  # p9 unknown
        ],
    )
    # load 2: re-deliveries of e1, e2 and of one user change, plus new rows
    lakehouse.append("users", [user("u1", "Alice", "a2@example.com", ts(60), job_id="j2", ingested_at=L2)])
    lakehouse.append("products", [product("p1", "Widget", "tools", 12.5, job_id="j2", ingested_at=L2)])
    lakehouse.append(
        "events",
        [
            event("e1", "u1", ts(10), job_id="j2", ingested_at=L2),
            event("e2", "u1", ts(70), event_type="click", product_id="p1", job_id="j2", ingested_at=L2),
            event("e8", "u2", ts(200), event_type="purchase", value=5.0, product_id="p1", job_id="j2", ingested_at=L2),
            event("e9", "u1", ts(95), job_id="j2", ingested_at=L2),
        ],
    )
    lakehouse.dbt("build")
    return lakehouse


def test_models_land_in_exact_layer_schemas(built: Lakehouse) -> None:
    rows = built.query(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('staging', 'intermediate', 'marts') order by 1, 2"
    )
    assert rows == [
        ("intermediate", "int_events_enriched"),
        ("intermediate", "int_users_with_history"),
        ("marts", "dim_products"),
        ("marts", "dim_users"),
        ("marts", "fact_events"),
        ("staging", "stg_events"),
        ("staging", "stg_products"),
        ("staging", "stg_users"),
    ]


# Property 22: Raw data transforms to staging
def test_stg_events_dedups_deliveries_across_loads_keeping_the_first(built: Lakehouse) -> None:
    (raw_rows,) = built.query("select count(*) from raw.events")[0]
    rows = built.query("select event_id, job_id, ingested_at from staging.stg_events order by event_id")
    assert raw_rows == 11
    assert [r[0] for r in rows] == [f"e{i}" for i in range(1, 10)]
    kept = {r[0]: (r[1], r[2]) for r in rows}
    assert kept["e1"] == ("j1", naive(L1))
    assert kept["e2"] == ("j1", naive(L1))
    assert kept["e8"] == ("j2", naive(L2))


# Property 22: Raw data transforms to staging
def test_stg_users_dedups_changes_and_stg_products_keeps_the_latest(built: Lakehouse) -> None:
    changes = built.query("select updated_at, job_id from staging.stg_users where user_id = 'u1' order by updated_at")
    assert changes == [(naive(ts(0)), "j1"), (naive(ts(60)), "j1"), (naive(ts(90)), "j1"), (naive(ts(120)), "j1")]
    assert built.query("select product_id, price, job_id from staging.stg_products order by product_id") == [
        ("p1", 12.5, "j2"),
        ("p2", 20.0, "j1"),
    ]


# Property 25: Dimensions include SCD Type 2 fields
def test_dim_users_scd2_versions_of_a_user_with_three_changes(built: Lakehouse) -> None:
    rows = built.query(
        "select user_name, email, valid_from, valid_to, is_current, is_inferred "
        "from marts.dim_users where user_id = 'u1' order by valid_from"
    )
    assert rows == [
        ("Alice", "a@example.com", naive(ts(0)), naive(ts(60)), False, False),
        ("Alice", "a2@example.com", naive(ts(60)), naive(ts(120)), False, False),
        ("Alicia", "a2@example.com", naive(ts(120)), None, True, False),
    ]
    # the intermediate history is the same versions, numbered
    history = built.query(
        "select version_number, valid_from, valid_to, is_current from intermediate.int_users_with_history "
        "where user_id = 'u1' order by valid_from"
    )
    assert [(h[1], h[2], h[3]) for h in history] == [(r[2], r[3], r[4]) for r in rows]
    assert [h[0] for h in history] == [1, 2, 3]


# Property 25: Dimensions include SCD Type 2 fields
def test_dim_users_intervals_chain_and_one_current_row_per_user(built: Lakehouse) -> None:
    columns = {r[0] for r in built.query("select column_name from information_schema.columns where table_name = 'dim_users'")}
    assert {"valid_from", "valid_to", "is_current"} <= columns
    broken_chain = built.query(
        """
        select user_id from (
            select user_id, valid_to,
                   lead(valid_from) over (partition by user_id order by valid_from) as next_from
            from marts.dim_users
        ) where next_from is not null and valid_to is distinct from next_from
        """
    )
    assert broken_chain == []
    current = built.query("select user_id, count(*) filter (where is_current) from marts.dim_users group by 1 order by 1")
    assert current == [("u1", 1), ("u2", 1), ("u3", 1)]


# Property 26: Fact tables include foreign keys
def test_fact_events_rows_have_foreign_keys_into_the_dimensions(built: Lakehouse) -> None:
    (facts, distinct_raw) = built.query(
        "select (select count(*) from marts.fact_events), (select count(distinct event_id) from raw.events)"
    )[0]
    assert facts == distinct_raw == 9
    orphans = built.query(
        """
        select f.event_id from marts.fact_events f
        left join marts.dim_users u on u.user_sk = f.user_sk
        left join marts.dim_products p on p.product_sk = f.product_sk
        where u.user_sk is null or (f.product_sk is not null and p.product_sk is null)
        """
    )
    assert orphans == []
    # product_sk is null exactly for the events that name no product
    no_product = built.query("select event_id from marts.fact_events where product_sk is null order by event_id")
    assert [r[0] for r in no_product] == ["e1", "e4", "e6", "e9"]


# Property 26: Fact tables include foreign keys
def test_fact_user_key_is_the_version_valid_at_event_time(built: Lakehouse) -> None:
    rows = built.query(
        """
        select f.event_id, u.user_id, u.valid_from, u.is_inferred
        from marts.fact_events f join marts.dim_users u on u.user_sk = f.user_sk
        order by f.event_id
        """
    )
    chosen = {r[0]: (r[1], r[2], r[3]) for r in rows}
    assert chosen["e1"] == ("u1", naive(ts(0)), False)
    assert chosen["e2"] == ("u1", naive(ts(60)), False)
    assert chosen["e9"] == ("u1", naive(ts(60)), False)  # 95 min: inside [60, 120)
    assert chosen["e3"] == ("u1", naive(ts(120)), False)
    assert chosen["e4"] == ("u1", naive(ts(0)), False)  # earlier than the first version: first version
    assert chosen["e5"] == ("u2", naive(ts(0)), False)
    # a user with no change row does not lose its events: an inferred member
    assert chosen["e6"][0] == "u3" and chosen["e6"][2] is True


def test_unknown_product_gets_an_inferred_member(built: Lakehouse) -> None:
    rows = built.query(
        """
        select p.product_id, p.product_name, p.is_inferred
        from marts.fact_events f join marts.dim_products p on p.product_sk = f.product_sk
        where f.event_id = 'e7'
        """
    )
    assert rows == [("p9", None, True)]


# Property 23: Staging data transforms to intermediate
def test_enriched_events_carry_user_attributes_as_of_the_event(built: Lakehouse) -> None:
    rows = built.query(
        "select e.event_id, e.user_name, e.email, e.user_resolution, p.product_name, p.price "
        "from intermediate.int_events_enriched e "
        "left join marts.dim_products p on p.product_id = e.product_id "
        "where e.event_id in ('e2', 'e4', 'e6') order by e.event_id"
    )
    assert rows == [
        ("e2", "Alice", "a2@example.com", "valid_at_event_time", "Widget", 12.5),
        ("e4", "Alice", "a@example.com", "precedes_first_version", None, None),
        ("e6", None, None, "no_user_record", None, None),
    ]


def test_fact_events_carries_lineage_and_event_columns(built: Lakehouse) -> None:
    rows = built.query(
        "select event_type, event_value, event_date, event_hour, job_id, properties "
        "from marts.fact_events where event_id = 'e3'"
    )
    assert rows == [("purchase", 99.5, ts(130).date(), ts(130).hour, "j1", '{"source":"test"}')]


def test_quality_suites_pass_on_the_built_models(built: Lakehouse) -> None:
    from eventlake import quality

    suites = quality.load_suites()
    for name, spec in suites.items():
        result = quality.run_suite(name, quality.read_relation(built.duckdb_path, spec.relation), suites=suites)
        assert result.success, (name, result.failed)
        assert result.row_count > 0
