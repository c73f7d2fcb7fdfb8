"""Deterministic benchmark input: events as NDJSON and the same events as CSV.

From a seed, ``generate`` writes N events with

* properties objects that differ by event type (nested objects, arrays,
  explicit nulls, non-ASCII text, quotes and commas inside strings);
* mixed timestamp forms: ISO-8601 with ``Z`` (with and without milliseconds),
  with ``+hh:mm``/``-hh:mm`` offsets, and integer epoch milliseconds;
* exactly 2% of rows reusing an earlier ``event_id`` with other values;
* exactly 1% invalid rows, the kinds dealt round-robin so that even a small
  file holds every kind: missing required field (absent or null), bad
  event_type, negative or too large event_value, impossible calendar date,
  unparseable timestamp, naive timestamp without a zone, wrong type
  (event_value not a number, properties not an object), over-long string;
  every sixth invalid row carries a second violation on another field.

The CSV file holds the same records (``properties`` as a JSON text column;
absent and null are empty cells). The generator records what it injected, so
``manifest.json`` holds the expected counts (ground truth) that every
contender's result is checked against, besides checking contenders against
each other.

Files are cached under ``<out>/data/events-<N>-seed<S>-v<version>/`` and reused
when the manifest says they are complete.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from benchmarks import contract
from eventlake.contracts import EVENT_TYPES

log = logging.getLogger("benchmarks.datagen")

GENERATOR_VERSION = 2
DUPLICATE_SHARE = 0.02
INVALID_SHARE = 0.01
SECOND_VIOLATION_EVERY = 6  # every 6th invalid row carries a second violation

_START = datetime(2026, 1, 1, tzinfo=UTC)
_SPAN_MS = 90 * 24 * 3600 * 1000
_OFFSETS = ("+02:00", "-05:00", "+05:30", "+09:00", "-08:00", "+00:00", "-03:30", "+14:00")
_REFERRERS = ("google", "newsletter", "direct", "instagram", "partner-site")
_CITIES = ("Berlin", "Zürich", "São Paulo", "東京", "Kraków", "Austin")
_NOTES = ('said "hi", then left', "line one, line two", "50% off: today only", "ok")

ProgressFn = Callable[[int], None]


@dataclass(frozen=True)
class Dataset:
    directory: Path
    manifest: dict[str, Any]

    @property
    def events(self) -> int:
        return int(self.manifest["events"])

    def path(self, fmt: str) -> Path:
        return self.directory / self.manifest["files"][fmt]["name"]

    def size(self, fmt: str) -> int:
        return int(self.manifest["files"][fmt]["bytes"])


def dataset_dir(out_dir: Path, events: int, seed: int) -> Path:
    return Path(out_dir) / "data" / f"events-{events}-seed{seed}-v{GENERATOR_VERSION}"


def load_cached(out_dir: Path, events: int, seed: int) -> Dataset | None:
    directory = dataset_dir(out_dir, events, seed)
    manifest_path = directory / "manifest.json"
    if not manifest_path.exists():
        return None
    manifest = json.loads(manifest_path.read_text())
    for info in manifest["files"].values():
        path = directory / info["name"]
        if not path.exists() or path.stat().st_size != info["bytes"]:
            return None
    return Dataset(directory, manifest)


def ensure_dataset(out_dir: Path, events: int, seed: int, progress: ProgressFn | None = None) -> tuple[Dataset, bool]:
    """The cached dataset for (events, seed), generated first if missing. Returns (dataset, cached)."""
    cached = load_cached(out_dir, events, seed)
    if cached is not None:
        return cached, True
    directory = dataset_dir(out_dir, events, seed)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = generate(events, seed, directory, progress)
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return Dataset(directory, manifest), False


# -- records -----------------------------------------------------------------------
def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _iso(ms: int, offset: str | None, with_ms: bool) -> str:
    """UTC epoch ms as ISO-8601 text, shown in ``offset`` (None = ``Z``)."""
    moment = _START + timedelta(milliseconds=ms - _START_MS)
    if offset is not None and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])) * sign
        moment = moment.astimezone(timezone(delta))
        suffix = offset
    else:
        suffix = "Z"
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if with_ms:
        text += f".{moment.microsecond // 1000:03d}"
    return text + suffix


_START_MS = int(_START.timestamp() * 1000)


def _timestamp(rng: random.Random, forms: Counter) -> str | int:
    ms = _START_MS + rng.randrange(_SPAN_MS)
    r = rng.random()
    if r < 0.30:
        forms["iso_z"] += 1
        return _iso(ms, None, with_ms=False)
    if r < 0.50:
        forms["iso_z_ms"] += 1
        return _iso(ms, None, with_ms=True)
    if r < 0.80:
        forms["iso_offset"] += 1
        return _iso(ms, rng.choice(_OFFSETS), with_ms=rng.random() < 0.5)
    forms["epoch_ms"] += 1
    return ms


def _properties(rng: random.Random, event_type: str, product_id: str | None) -> dict[str, Any]:
    session = f"s_{rng.getrandbits(32):08x}"
    if event_type == "view":
        props: dict[str, Any] = {
            "page": f"/products/{product_id or rng.randrange(10_000)}",
            "referrer": rng.choice(_REFERRERS),
            "session_id": session,
            "device": {"os": rng.choice(("ios", "android", "web")), "app_version": f"3.{rng.randrange(10)}.{rng.randrange(10)}"},
        }
    elif event_type == "click":
        props = {
            "element": rng.choice(("buy-button", "banner", "nav-home", "search")),
            "position": {"x": rng.randrange(1920), "y": rng.randrange(1080)},
            "session_id": session,
        }
    elif event_type == "add_to_cart":
        props = {
            "quantity": rng.randrange(1, 6),
            "currency": rng.choice(("EUR", "USD", "GBP")),
            "tags": rng.sample(["sale", "new", "gift", "bundle"], rng.randrange(0, 3)),
            "session_id": session,
        }
    else:
        props = {
            "order_id": f"o_{rng.getrandbits(40):010x}",
            "items": [{"sku": f"sku-{rng.randrange(5000)}", "qty": rng.randrange(1, 4)} for _ in range(rng.randrange(1, 3))],
            "coupon": rng.choice((None, "SPRING10", None)),
            "shipping": {"city": rng.choice(_CITIES), "express": rng.random() < 0.3},
        }
    if rng.random() < 0.05:
        props["note"] = rng.choice(_NOTES)
    return props


def _valid_record(rng: random.Random, event_id: str, n_users: int, forms: Counter) -> dict[str, Any]:
    event_type = rng.choices(EVENT_TYPES, weights=(60, 25, 10, 5))[0]
    rec: dict[str, Any] = {
        "event_id": event_id,
        "user_id": f"user_{rng.randrange(n_users):07d}",
        "event_type": event_type,
        "event_timestamp": _timestamp(rng, forms),
    }
    product_id = f"prod_{rng.randrange(20_000):05d}" if event_type != "view" or rng.random() < 0.5 else None
    if event_type in ("add_to_cart", "purchase"):
        rec["event_value"] = round(rng.uniform(1, 2000), 2)
    elif event_type == "click":
        if rng.random() < 0.5:
            rec["event_value"] = rng.randrange(0, 10)
    elif rng.random() < 0.5:
        rec["event_value"] = None
    if product_id is not None:
        rec["product_id"] = product_id
    if rng.random() < 0.95:
        rec["properties"] = _properties(rng, event_type, product_id)
    return rec


# -- invalid kinds: each breaks one field and returns the expected (field, rule) --------
def _missing(rec: dict[str, Any], rng: random.Random, taken: set[str]) -> tuple[str, str] | None:
    choices = [f["name"] for f in contract.FIELDS if f["required"] and f["name"] not in taken]
    if not choices:
        return None
    name = rng.choice(choices)
    if rng.random() < 0.7:
        rec.pop(name, None)
    else:
        rec[name] = None
    return name, "required"


def _bad_event_type(rec, rng, taken):
    if "event_type" in taken:
        return None
    rec["event_type"] = rng.choice(("signup", "VIEW", "refund", "page_view"))
    return "event_type", "allowed"


def _value_range(rec, rng, taken):
    if "event_value" in taken:
        return None
    if rng.random() < 0.5:
        rec["event_value"] = -round(rng.uniform(0.01, 100), 2)
        return "event_value", "min"
    rec["event_value"] = round(rng.uniform(1_000_000.01, 5_000_000), 2)
    return "event_value", "max"


def _impossible_date(rec, rng, taken):
    if "event_timestamp" in taken:
        return None
    rec["event_timestamp"] = rng.choice(
        (
            "2026-02-30T10:00:00Z",
            "2026-04-31T08:15:00+02:00",
            "2025-02-29T12:00:00.500Z",
            "2026-06-31T23:59:59-05:00",
            "2026-11-31T00:00:00Z",
        )
    )
    return "event_timestamp", "timestamp"


def _unparseable_timestamp(rec, rng, taken):
    if "event_timestamp" in taken:
        return None
    rec["event_timestamp"] = rng.choice(
        ("not-a-timestamp", "2026-13-01T00:00:00Z", "2026-03-14T25:00:00Z", "14/03/2026 09:26:53", "2026-03-14T09:61:00Z")
    )
    return "event_timestamp", "timestamp"


def _naive_timestamp(rec, rng, taken):
    if "event_timestamp" in taken:
        return None
    rec["event_timestamp"] = rng.choice(("2026-03-14T09:26:53", "2026-01-20T23:05:00.250"))
    return "event_timestamp", "timestamp"


def _wrong_type(rec, rng, taken):
    options = [f for f in ("event_value", "properties") if f not in taken]
    if not options:
        return None
    name = rng.choice(options)
    if name == "event_value":
        rec["event_value"] = rng.choice(("abc", "12,5", True, {"amount": 5}))
    else:
        rec["properties"] = rng.choice(("oops", [1, 2], 42))
    return name, "type"


def _too_long(rec, rng, taken):
    if "user_id" in taken:
        return None
    rec["user_id"] = "u" * (contract.field("user_id")["max_length"] + 1 + rng.randrange(50))
    return "user_id", "max_length"


INVALID_KINDS: dict[str, Callable[..., tuple[str, str] | None]] = {
    "missing_required": _missing,
    "bad_event_type": _bad_event_type,
    "value_out_of_range": _value_range,
    "impossible_date": _impossible_date,
    "unparseable_timestamp": _unparseable_timestamp,
    "naive_timestamp": _naive_timestamp,
    "wrong_type": _wrong_type,
    "too_long": _too_long,
}


# -- writing ---------------------------------------------------------------------------
def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return contract.compact_json(value)  # numbers, booleans, objects, arrays as JSON text


# Not eventlake.generate on purpose: this one needs exact duplicate/invalid shares, every invalid kind, rich properties and CSV.
def generate(events: int, seed: int, directory: Path, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Write events.ndjson and events.csv under ``directory``; return the manifest."""
    rng = random.Random(seed)
    n_users = max(10, events // 20)
    invalid_rows = rng.sample(range(events), int(events * INVALID_SHARE))
    kind_names = list(INVALID_KINDS)
    invalid_kind = {row: (kind_names[i % len(kind_names)], i) for i, row in enumerate(invalid_rows)}
    duplicate_rows = set(rng.sample(range(1, events), int((events - 1) * DUPLICATE_SHARE))) if events > 1 else set()

    forms: Counter = Counter()
    kinds: Counter = Counter()
    rules: Counter = Counter()
    expected_violations = 0
    ids: list[str] = []
    seen_valid: set[str] = set()
    duplicates_dropped = 0
    dumps = _json_dumps()

    ndjson_path = directory / "events.ndjson"
    csv_path = directory / "events.csv"
    tmp_ndjson = ndjson_path.with_suffix(".ndjson.tmp")
    tmp_csv = csv_path.with_suffix(".csv.tmp")
    with open(tmp_ndjson, "wb") as nd, open(tmp_csv, "w", newline="", encoding="utf-8") as cf:
        writer = csv.writer(cf, lineterminator="\n")
        writer.writerow(contract.FIELD_NAMES)
        nd_buf: list[bytes] = []
        for i in range(events):
            event_id = ids[rng.randrange(len(ids))] if i in duplicate_rows else _uuid(rng)
            ids.append(event_id)
            rec = _valid_record(rng, event_id, n_users, forms)
            violations: list[tuple[str, str]] = []
            if i in invalid_kind:
                kind, ordinal = invalid_kind[i]
                kinds[kind] += 1
                first = INVALID_KINDS[kind](rec, rng, set())
                assert first is not None
                violations.append(first)
                if ordinal % SECOND_VIOLATION_EVERY == SECOND_VIOLATION_EVERY // 2:
                    taken = {first[0]}
                    for other in rng.sample(kind_names, len(kind_names)):
                        if other != kind and (second := INVALID_KINDS[other](rec, rng, taken)) is not None:
                            violations.append(second)
                            kinds["second_violation"] += 1
                            break
            for _, rule in violations:
                rules[rule] += 1
            expected_violations += len(violations)
            if not violations:
                if event_id in seen_valid:
                    duplicates_dropped += 1
                else:
                    seen_valid.add(event_id)
            nd_buf.append(dumps(rec))
            writer.writerow([_csv_cell(rec.get(name)) for name in contract.FIELD_NAMES])
            if len(nd_buf) >= 10_000:
                nd.write(b"\n".join(nd_buf) + b"\n")
                nd_buf.clear()
                if progress:
                    progress(10_000)
        if nd_buf:
            nd.write(b"\n".join(nd_buf) + b"\n")
            if progress:
                progress(len(nd_buf))
    os.replace(tmp_ndjson, ndjson_path)
    os.replace(tmp_csv, csv_path)

    invalid = len(invalid_rows)
    valid = events - invalid
    return {
        "generator_version": GENERATOR_VERSION,
        "events": events,
        "seed": seed,
        "files": {
            "ndjson": {"name": ndjson_path.name, "bytes": ndjson_path.stat().st_size},
            "csv": {"name": csv_path.name, "bytes": csv_path.stat().st_size},
        },
        "timestamp_forms": dict(forms),
        "invalid_kinds": dict(kinds),
        "expected": {
            "records": events,
            "invalid_records": invalid,
            "violations": expected_violations,
            "violations_by_rule": dict(sorted(rules.items())),
            "duplicates_dropped": duplicates_dropped,
            "rows_out": valid - duplicates_dropped,
        },
    }


def _json_dumps() -> Callable[[dict[str, Any]], bytes]:
    try:
        import orjson

        return orjson.dumps
    except ImportError:  # pragma: no cover - orjson is a project dependency
        return lambda rec: contract.compact_json(rec).encode()


def head_records(path: Path, fmt: str, count: int) -> bytes:
    """The first ``count`` records of a generated file as bytes (CSV keeps its header)."""
    out = io.BytesIO()
    with open(path, "rb") as f:
        if fmt == "csv":
            out.write(f.readline())
        for _ in range(count):
            line = f.readline()
            if not line:
                break
            out.write(line)
    return out.getvalue()
