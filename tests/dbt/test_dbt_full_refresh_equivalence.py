"""The incremental path builds the same tables as a full refresh.

Each case draws a random history (seeded): users with several changes,
products, events, re-deliveries of events and user changes in later loads
(some ingested earlier than the copy already stored, as a late commit would),
and user changes whose updated_at is older than changes already loaded. The
loads are appended to the raw Iceberg tables in random order, with an
incremental `dbt build` after each one and a compaction of the raw tables
part way. Then every model is compared, row for row, with what
`dbt build --full-refresh` makes of the same raw tables.

Only the bookkeeping columns differ by design: dbt_loaded_at (when a row was
written) and fact_events.loaded_through.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest

from eventlake import lake, maintenance
from tests.dbt.dbt_lakehouse import Lakehouse, event, make_lakehouse, product, ts, user

MODELS = {
    "staging.stg_events": "event_id",
    "staging.stg_users": "user_id, updated_at",
    "staging.stg_products": "product_id",
    "intermediate.int_users_with_history": "user_id, valid_from",
    "intermediate.int_events_enriched": "event_id",
    "marts.dim_users": "user_sk",
    "marts.dim_products": "product_sk",
    "marts.fact_events": "event_sk",
}
BOOKKEEPING = {"dbt_loaded_at", "loaded_through"}


def _history(seed: int) -> list[dict[str, list]]:
    """Random loads: each {'users': [...], 'products': [...], 'events': [...]}."""
    rng = random.Random(seed)
    users = [f"u{i}" for i in range(12)]
    products = [f"p{i}" for i in range(5)]
    loads: list[dict[str, list]] = [{"users": [], "products": [], "events": []} for _ in range(5)]
    ingest = [ts(24 * 60 * (i + 1)) for i in range(len(loads))]

    def job(load: int) -> str:
        return f"j{load}-{rng.randrange(3)}"

    for uid in users[:10]:  # u10, u11 only ever appear in events
        for change in range(rng.randrange(1, 5)):
            load = rng.randrange(len(loads))
            name = rng.choice(["Ann", "Bob", "Cy"])  # repeats collapse into one version
            updated = ts(rng.randrange(0, 600))  # out of order across loads
            row = user(uid, name, f"{uid}@{name.lower()}.example", updated, job_id=job(load), ingested_at=ingest[load])
            loads[load]["users"].append(row)
            if rng.random() < 0.3:  # re-delivered in another load
                again = rng.randrange(len(loads))
                loads[again]["users"].append({**row, "job_id": job(again), "ingested_at": ingest[again] - timedelta(minutes=rng.randrange(0, 3000))})
    for pid in products[:4]:  # p4 only appears in events
        for _ in range(rng.randrange(1, 3)):
            load = rng.randrange(len(loads))
            loads[load]["products"].append(
                product(pid, f"name-{pid}-{load}", rng.choice(["a", "b"]), float(rng.randrange(1, 100)), job_id=job(load), ingested_at=ingest[load])
            )
    for n in range(150):
        load = rng.randrange(len(loads))
        row = event(
            f"e{n}", rng.choice(users), ts(rng.randrange(-60, 700)),
            event_type=rng.choice(["view", "click", "add_to_cart", "purchase"]),
            value=rng.choice([None, float(n)]), product_id=rng.choice([None, *products]),
            job_id=job(load), ingested_at=ingest[load],
        )
        loads[load]["events"].append(row)
        if rng.random() < 0.2:
            again = rng.randrange(len(loads))
            # a re-delivery, sometimes ingested before the stored copy (a late commit)
            loads[again]["events"].append({**row, "job_id": job(again), "ingested_at": ingest[again] - timedelta(minutes=rng.randrange(0, 3000))})
    rng.shuffle(loads)
    return loads


def _tables(lakehouse: Lakehouse) -> dict[str, list[tuple]]:
    out = {}
    for relation, order in MODELS.items():
        schema, name = relation.split(".")
        columns = [
            r[0]
            for r in lakehouse.query(
                "select column_name from information_schema.columns where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, name],
            )
            if r[0] not in BOOKKEEPING
        ]
        out[relation] = lakehouse.query(f"select {', '.join(columns)} from {relation} order by {order}")
    return out


@pytest.mark.parametrize("seed", [7, 2024])
def test_incremental_runs_equal_a_full_refresh(tmp_path: Path, seed: int) -> None:
    lakehouse = make_lakehouse(tmp_path / "lakehouse")
    loads = _history(seed)
    for number, load in enumerate(loads):
        for table in ("users", "products", "events"):
            if load[table]:
                lakehouse.append(table, load[table])
        if number == 2:
            # compaction rewrites the small files the loads left behind
            for table in lake.ensure_tables(lakehouse.catalog).values():
                maintenance.compact(table, target_file_bytes=64 << 20, small_file_bytes=16 << 20, min_input_files=2)
        lakehouse.dbt("build")
    incremental = _tables(lakehouse)
    assert len(incremental["staging.stg_events"]) == 150
    lakehouse.dbt("build", "--full-refresh")
    full = _tables(lakehouse)
    for relation in MODELS:
        assert incremental[relation] == full[relation], relation
