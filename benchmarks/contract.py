"""The benchmark's job, stated once for every contender.

The rules come from ``eventlake.contracts`` (the same JSON the Rust processor
receives); this module only adds what a benchmark needs on top: the output
Arrow schema, the canonical violation table, and the Iceberg schema/spec for an
unpartitioned file without the lineage columns (the job has no job id).

Semantics every contender implements (and ``checks`` verifies):

* records are numbered from 0 in input order (NDJSON lines / CSV data rows);
* for every field of ``VALIDATION_SCHEMAS["events"]`` in order, each rule that
  fails yields one violation ``(record_index, field, rule, value)``:
  ``required`` (absent, JSON null or empty CSV cell; no other rule is checked
  then), ``type`` (a string field holding a non-string, a double holding a
  non-number, NaN or infinity, a timestamp that is neither text nor an
  integer, an object field holding a non-object), ``allowed``, ``min``,
  ``max``, ``max_length`` and ``timestamp`` (text that is not ISO-8601 with a
  zone — ``Z`` or ``+hh:mm`` — or names an impossible calendar date);
* CSV cells are text: a double cell must parse as a number, a timestamp cell of
  digits only is epoch milliseconds, the ``properties`` cell is JSON text;
* records with any violation are dropped; the rest are typed: timestamps to UTC
  microseconds (offsets honoured, epoch-ms integers multiplied by 1000),
  ``event_date`` (UTC date) and ``event_hour`` (UTC hour), ``properties`` to
  compact JSON text (no whitespace outside strings, source key order kept);
* the first valid record of each ``event_id`` wins; the rest are duplicates;
* the rows land in one zstd Parquet file with ``OUTPUT_SCHEMA``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from eventlake.contracts import (
    EVENTS_SCHEMA,
    TRANSFORM_RULES,
    VALIDATION_SCHEMAS,
    transform_rules_json,
    validation_schema_json,
)

DATASET = "events"
KEY = VALIDATION_SCHEMAS[DATASET]["key"]
FIELDS: list[dict[str, Any]] = VALIDATION_SCHEMAS[DATASET]["fields"]
FIELD_NAMES: list[str] = [f["name"] for f in FIELDS]
SCHEMA_JSON: str = validation_schema_json(DATASET)
RULES_JSON: str = transform_rules_json(DATASET)
DERIVE = TRANSFORM_RULES[DATASET]["derive_date_hour"]
TIMESTAMP_FIELD: str = DERIVE["source"]
DATE_FIELD: str = DERIVE["date"]
HOUR_FIELD: str = DERIVE["hour"]
OBJECT_FIELDS: list[str] = [f["name"] for f in FIELDS if f["type"] == "object"]

#: ISO-8601 with a zone, as the columnar contenders match it (the shape only;
#: calendar validity is checked separately where the tool's parser is lax).
ISO_WITH_ZONE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$"
#: A JSON string literal or a run of whitespace: replacing matches with group 1
#: deletes whitespace outside strings, i.e. compacts JSON text.
JSON_STRING_LITERAL = r'"(?:[^"\\]|\\.)*"'
JSON_COMPACT_PATTERN = rf"({JSON_STRING_LITERAL})|\s+"

RULES = ("required", "type", "allowed", "min", "max", "max_length", "timestamp")
ZSTD_LEVEL = 3  # the Rust writer's default; every contender writes at this level

OUTPUT_COLUMNS: list[str] = FIELD_NAMES + [DATE_FIELD, HOUR_FIELD]


def field(name: str) -> dict[str, Any]:
    return next(f for f in FIELDS if f["name"] == name)


@lru_cache
def output_schema():
    """The Arrow schema of the rows every contender writes."""
    import pyarrow as pa

    arrow_type = {
        "string": pa.string(),
        "double": pa.float64(),
        "long": pa.int64(),
        "boolean": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "date": pa.date32(),
        "object": pa.string(),
    }
    cols = [pa.field(f["name"], arrow_type[f["type"]], nullable=not f["required"]) for f in FIELDS]
    cols += [pa.field(DATE_FIELD, pa.date32(), nullable=False), pa.field(HOUR_FIELD, pa.int32(), nullable=False)]
    return pa.schema(cols)


@lru_cache
def violation_schema():
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("record_index", pa.int64(), nullable=False),
            pa.field("field", pa.string(), nullable=False),
            pa.field("rule", pa.string(), nullable=False),
            pa.field("value", pa.string()),
        ]
    )


@lru_cache
def iceberg_schema_json() -> str:
    """``EVENTS_SCHEMA`` without the lineage columns (job_id, ingested_at)."""
    from pyiceberg.schema import Schema

    keep = set(OUTPUT_COLUMNS)
    return Schema(*[f for f in EVENTS_SCHEMA.fields if f.name in keep]).model_dump_json()


@lru_cache
def unpartitioned_spec_json() -> str:
    from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC

    return UNPARTITIONED_PARTITION_SPEC.model_dump_json()


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
