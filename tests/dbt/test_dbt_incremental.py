"""fact_events is incremental: a second load adds its new rows and re-keys only
the events whose user changed; rows it has no reason to touch are not rewritten.

Two `dbt build`s share one raw catalog. Between them the test marks an old
fact row by hand: if the second run re-processed that row, the mark would be
gone.
"""

from __future__ import annotations

import duckdb
import pytest

from tests.dbt.dbt_lakehouse import Lakehouse, event, ts, user

L1 = ts(24 * 60)
L2 = ts(48 * 60)
MARK = '{"marked_by_test":true}'


def _fact(lakehouse: Lakehouse) -> dict[str, tuple]:
    rows = lakehouse.query(
        """
        select f.event_id, f.properties, f.loaded_through, u.user_id, u.valid_from, u.is_inferred
        from marts.fact_events f left join marts.dim_users u on u.user_sk = f.user_sk
        """
    )
    return {r[0]: r[1:] for r in rows}


def _load(lakehouse: Lakehouse, users: list, events: list) -> dict[str, tuple]:
    """Land ``users`` and ``events`` in the raw tables, run ``dbt build`` and return fact_events."""
    lakehouse.append("users", users)
    lakehouse.append("events", events)
    lakehouse.dbt("build")
    return _fact(lakehouse)


@pytest.fixture(scope="module")
def two_runs(lakehouse: Lakehouse) -> dict[str, dict[str, tuple]]:
    first = _load(
        lakehouse,
        users=[
            user("u1", "Alice", "a@example.com", ts(0), job_id="j1", ingested_at=L1),
            user("u2", "Bob", "b@example.com", ts(0), job_id="j1", ingested_at=L1),
        ],
        events=[
            event("e1", "u2", ts(10), job_id="j1", ingested_at=L1),
            event("e2", "u1", ts(70), job_id="j1", ingested_at=L1),
            event("e3", "u3", ts(15), job_id="j1", ingested_at=L1),  # u3 unknown yet
        ],
    )

    with duckdb.connect(str(lakehouse.duckdb_path)) as con:
        con.execute("update marts.fact_events set properties = ? where event_id = 'e1'", [MARK])

    # the same shape as the first load on purpose: each load's rows are the test's data, spelled out
    second = _load(
        lakehouse,
        users=[
            # a late change of u1 that took effect before e2 happened
            user("u1", "Alice B", "a@example.com", ts(65), job_id="j2", ingested_at=L2),
            # u3's first change row finally arrives
            user("u3", "Carol", "c@example.com", ts(0), job_id="j2", ingested_at=L2),
        ],
        events=[
            event("e1", "u2", ts(10), job_id="j2", ingested_at=L2),  # re-delivery
            event("e4", "u2", ts(100), job_id="j2", ingested_at=L2),
        ],
    )
    return {"first": first, "second": second}


# Property 37: Incremental models process only changes
def test_second_load_adds_only_its_new_events(two_runs: dict[str, dict[str, tuple]]) -> None:
    first, second = two_runs["first"], two_runs["second"]
    assert sorted(first) == ["e1", "e2", "e3"]
    assert sorted(second) == ["e1", "e2", "e3", "e4"]  # the re-delivered e1 is not added twice


# Property 37: Incremental models process only changes
def test_unchanged_rows_are_not_rewritten(two_runs: dict[str, dict[str, tuple]]) -> None:
    first, second = two_runs["first"], two_runs["second"]
    properties, loaded_through, *_ = second["e1"]
    assert properties == MARK  # the second run did not rebuild e1
    assert loaded_through == first["e1"][1]
    assert second["e4"][1] > first["e1"][1]  # new rows carry the new watermark


# Property 37: Incremental models process only changes
def test_events_of_users_that_changed_are_rekeyed(two_runs: dict[str, dict[str, tuple]]) -> None:
    first, second = two_runs["first"], two_runs["second"]
    # e2 (at 70 min) moves from u1's first version to the late change valid from 65 min
    assert first["e2"][2:] == ("u1", ts(0).replace(tzinfo=None), False)
    assert second["e2"][2:] == ("u1", ts(65).replace(tzinfo=None), False)
    # e3 leaves u3's inferred member for u3's real first version
    assert first["e3"][2] == "u3" and first["e3"][4] is True
    assert second["e3"][2:] == ("u3", ts(0).replace(tzinfo=None), False)


# Property 26: Fact tables include foreign keys
def test_foreign_keys_hold_after_the_incremental_run(lakehouse: Lakehouse, two_runs: dict) -> None:
    assert all(row[2] is not None for row in two_runs["second"].values())
    assert lakehouse.query("select count(*) from marts.dim_users where is_inferred") == [(0,)]
