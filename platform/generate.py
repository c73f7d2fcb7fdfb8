"""Sample data for the demo and the tests: products, users with history, events.

Deterministic for a seed. Events reference the generated users and products,
use every timestamp form the contract accepts (ISO-8601 with Z, with an
offset, epoch milliseconds), and carry a chosen share of invalid records
(each breaking one rule) and of duplicates (an event re-sent unchanged).

The processor benchmark has its own generator (benchmarks/datagen.py): exact shares, every invalid kind, CSV files.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import orjson

from eventlake.contracts import EVENT_TYPES

CATEGORIES = ("books", "games", "garden", "kitchen", "music", "outdoor", "toys")
FIRST_NAMES = ("ada", "alan", "barbara", "edsger", "grace", "ken", "linus", "margaret", "niklaus", "radia")

# one way to break each rule of the events contract
INVALID_MUTATIONS = (
    ("missing_event_id", lambda e: e.pop("event_id")),
    ("missing_user_id", lambda e: e.pop("user_id")),
    ("bad_event_type", lambda e: e.__setitem__("event_type", "teleport")),
    ("negative_value", lambda e: e.__setitem__("event_value", -5.0)),
    ("value_too_large", lambda e: e.__setitem__("event_value", 5_000_000.0)),
    ("impossible_date", lambda e: e.__setitem__("event_timestamp", "2026-02-30T10:00:00Z")),
    ("naive_timestamp", lambda e: e.__setitem__("event_timestamp", "2026-11-20T10:00:00")),
    ("value_not_a_number", lambda e: e.__setitem__("event_value", "lots")),
)


@dataclass
class SampleData:
    users: list[dict] = field(default_factory=list)
    products: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    # event_ids of the valid, first occurrences: what must land in fact_events
    expected_event_ids: set[str] = field(default_factory=set)
    invalid_count: int = 0
    duplicate_count: int = 0


def _timestamp(rng: random.Random, ts: datetime) -> str | int:
    form = rng.random()
    if form < 0.5:
        return ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if form < 0.8:
        offset = timezone(timedelta(hours=rng.choice((-8, -5, 1, 2, 5, 9))))
        return ts.astimezone(offset).isoformat(timespec="milliseconds")
    return int(ts.timestamp() * 1000)


def generate(
    *,
    events: int = 5_000,
    users: int = 200,
    products: int = 50,
    invalid_rate: float = 0.02,
    duplicate_rate: float = 0.02,
    seed: int = 7,
    now: datetime | None = None,
) -> SampleData:
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    data = SampleData()

    for i in range(products):
        data.products.append(
            {
                "product_id": f"p-{i:05d}",
                "product_name": f"{rng.choice(CATEGORIES)} item {i}",
                "category": rng.choice(CATEGORIES),
                "price": round(rng.uniform(1, 500), 2),
            }
        )

    history_start = now - timedelta(days=30)
    user_versions: dict[str, list[datetime]] = {}
    for i in range(users):
        user_id = f"u-{i:05d}"
        name = rng.choice(FIRST_NAMES)
        changes = sorted(history_start + timedelta(minutes=rng.randrange(0, 60 * 24 * 26)) for _ in range(rng.choice((1, 1, 2, 3))))
        changes[0] = history_start  # every user exists before any event
        for v, at in enumerate(changes):
            data.users.append(
                {
                    "user_id": user_id,
                    "user_name": f"{name} {i}" if v == 0 else f"{name} {i} v{v + 1}",
                    "email": f"{name}.{i}{'' if v == 0 else f'+v{v + 1}'}@example.com",
                    "updated_at": at.isoformat().replace("+00:00", "Z"),
                }
            )
        user_versions[user_id] = changes

    user_ids = list(user_versions)
    product_ids = [p["product_id"] for p in data.products]
    window = 3 * 24 * 3600
    for i in range(events):
        ts = now - timedelta(seconds=rng.randrange(0, window), milliseconds=rng.randrange(0, 1000))
        kind = rng.choices(EVENT_TYPES, weights=(60, 25, 10, 5))[0]
        event = {
            "event_id": f"e-{seed}-{i:08d}",
            "user_id": rng.choice(user_ids),
            "event_type": kind,
            "event_timestamp": _timestamp(rng, ts),
        }
        if kind in ("add_to_cart", "purchase") or rng.random() < 0.3:
            event["product_id"] = rng.choice(product_ids)
        if kind == "purchase":
            event["event_value"] = round(rng.uniform(1, 2_000), 2)
        if rng.random() < 0.5:
            event["properties"] = {"page": f"/p/{rng.randrange(100)}", "device": rng.choice(("ios", "android", "web"))}

        if rng.random() < invalid_rate:
            _, mutate = rng.choice(INVALID_MUTATIONS)
            mutate(event)
            data.invalid_count += 1
        else:
            data.expected_event_ids.add(event["event_id"])
        data.events.append(event)

        if rng.random() < duplicate_rate and "event_id" in event and event["event_id"] in data.expected_event_ids:
            data.events.append(dict(event))
            data.duplicate_count += 1
    return data


def to_ndjson(records: list[dict]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def to_csv(records: list[dict], columns: list[str]) -> bytes:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    for r in records:
        row = []
        for c in columns:
            v = r.get(c)
            row.append("" if v is None else orjson.dumps(v).decode() if isinstance(v, dict) else v)
        writer.writerow(row)
    return buf.getvalue().encode()
