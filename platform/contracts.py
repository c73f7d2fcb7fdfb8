"""The data contracts: what each dataset accepts and how it lands in Iceberg.

Three views of the same datasets live here and nowhere else:

* ``VALIDATION_SCHEMAS``: the schema *as data* that ``data_processor_rs``
  validates and types records against (required fields, types, allowed values,
  numeric ranges, timestamp formats);
* ``TRANSFORM_RULES``: per-dataset rules for ``data_processor_rs.transform_batch``;
* ``ICEBERG_TABLES``: the Iceberg schema and partition spec of each raw table.

Field ids are stable forever: never renumber, only append.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Literal

from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC, PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import DayTransform
from pyiceberg.types import (
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestamptzType,
)

Dataset = Literal["events", "users", "products"]
DATASETS: tuple[Dataset, ...] = ("events", "users", "products")
EVENT_TYPES: tuple[str, ...] = ("view", "click", "add_to_cart", "purchase")
RAW_NAMESPACE = "raw"
REJECTED_TABLE = "rejected_records"

# --------------------------------------------------------------------------
# Validation schemas (consumed by data_processor_rs.validate_schema / process)
# Field types: string | long | double | boolean | timestamp | date | object.
# "timestamp" accepts ISO-8601 with a zone or integer epoch milliseconds.
# --------------------------------------------------------------------------
VALIDATION_SCHEMAS: dict[str, dict[str, Any]] = {
    "events": {
        "dataset": "events",
        "key": "event_id",
        "fields": [
            {"name": "event_id", "type": "string", "required": True, "max_length": 256},
            {"name": "user_id", "type": "string", "required": True, "max_length": 256},
            {"name": "event_type", "type": "string", "required": True, "allowed": list(EVENT_TYPES)},
            {"name": "event_timestamp", "type": "timestamp", "required": True},
            {"name": "event_value", "type": "double", "required": False, "min": 0, "max": 1_000_000},
            {"name": "product_id", "type": "string", "required": False, "max_length": 256},
            {"name": "properties", "type": "object", "required": False},
        ],
    },
    "users": {
        "dataset": "users",
        "key": None,  # a user appears once per change; SCD2 history is built downstream
        "fields": [
            {"name": "user_id", "type": "string", "required": True, "max_length": 256},
            {"name": "user_name", "type": "string", "required": False, "max_length": 1024},
            {"name": "email", "type": "string", "required": False, "max_length": 1024},
            {"name": "updated_at", "type": "timestamp", "required": True},
        ],
    },
    "products": {
        "dataset": "products",
        "key": None,
        "fields": [
            {"name": "product_id", "type": "string", "required": True, "max_length": 256},
            {"name": "product_name", "type": "string", "required": False, "max_length": 1024},
            {"name": "category", "type": "string", "required": False, "max_length": 256},
            {"name": "price", "type": "double", "required": False, "min": 0, "max": 1_000_000},
        ],
    },
}

# --------------------------------------------------------------------------
# Transform rules (consumed by data_processor_rs.transform_batch / process)
# - every "timestamp" field becomes UTC microseconds (timestamp[us, UTC]);
# - every "object" field becomes compact JSON text;
# - "derive_date_hour": adds <prefix>_date (date, UTC) and <prefix>_hour (int32)
#   from the named timestamp field, prefix = "event" for event_timestamp;
# - "defaults": value used when an optional field is missing or null.
# --------------------------------------------------------------------------
TRANSFORM_RULES: dict[str, dict[str, Any]] = {
    "events": {"derive_date_hour": {"source": "event_timestamp", "date": "event_date", "hour": "event_hour"}, "defaults": {}},
    "users": {"defaults": {}},
    "products": {"defaults": {}},
}

# --------------------------------------------------------------------------
# Iceberg tables (namespace "raw")
# --------------------------------------------------------------------------
_LINEAGE_FIELDS = ("job_id", "ingested_at")

EVENTS_SCHEMA = Schema(
    NestedField(1, "event_id", StringType(), required=True),
    NestedField(2, "user_id", StringType(), required=True),
    NestedField(3, "event_type", StringType(), required=True),
    NestedField(4, "event_timestamp", TimestamptzType(), required=True),
    NestedField(5, "event_value", DoubleType(), required=False),
    NestedField(6, "product_id", StringType(), required=False),
    NestedField(7, "properties", StringType(), required=False, doc="compact JSON object"),
    NestedField(8, "event_date", DateType(), required=True, doc="UTC date of event_timestamp"),
    NestedField(9, "event_hour", IntegerType(), required=True, doc="UTC hour of event_timestamp"),
    NestedField(10, "job_id", StringType(), required=True, doc="ingestion job that carried the record"),
    NestedField(11, "ingested_at", TimestamptzType(), required=True),
)
EVENTS_PARTITION_SPEC = PartitionSpec(
    PartitionField(source_id=4, field_id=1000, transform=DayTransform(), name="event_timestamp_day")
)

USERS_SCHEMA = Schema(
    NestedField(1, "user_id", StringType(), required=True),
    NestedField(2, "user_name", StringType(), required=False),
    NestedField(3, "email", StringType(), required=False),
    NestedField(4, "updated_at", TimestamptzType(), required=True),
    NestedField(5, "job_id", StringType(), required=True),
    NestedField(6, "ingested_at", TimestamptzType(), required=True),
)

PRODUCTS_SCHEMA = Schema(
    NestedField(1, "product_id", StringType(), required=True),
    NestedField(2, "product_name", StringType(), required=False),
    NestedField(3, "category", StringType(), required=False),
    NestedField(4, "price", DoubleType(), required=False),
    NestedField(5, "job_id", StringType(), required=True),
    NestedField(6, "ingested_at", TimestamptzType(), required=True),
)

REJECTED_SCHEMA = Schema(
    NestedField(1, "job_id", StringType(), required=True),
    NestedField(2, "dataset", StringType(), required=True),
    NestedField(3, "record_index", LongType(), required=True, doc="0-based index of the record in its request"),
    NestedField(4, "raw", StringType(), required=False, doc="the record as it arrived"),
    NestedField(5, "violations", StringType(), required=True, doc="JSON array of {field, rule, value, message}"),
    NestedField(6, "rejected_at", TimestamptzType(), required=True),
)


@dataclass(frozen=True)
class TableContract:
    name: str
    schema: Schema
    partition_spec: PartitionSpec

    @property
    def identifier(self) -> str:
        return f"{RAW_NAMESPACE}.{self.name}"

    @property
    def schema_json(self) -> str:
        return self.schema.model_dump_json()

    @property
    def partition_spec_json(self) -> str:
        return self.partition_spec.model_dump_json()


ICEBERG_TABLES: dict[str, TableContract] = {
    "events": TableContract("events", EVENTS_SCHEMA, EVENTS_PARTITION_SPEC),
    "users": TableContract("users", USERS_SCHEMA, UNPARTITIONED_PARTITION_SPEC),
    "products": TableContract("products", PRODUCTS_SCHEMA, UNPARTITIONED_PARTITION_SPEC),
    REJECTED_TABLE: TableContract(REJECTED_TABLE, REJECTED_SCHEMA, UNPARTITIONED_PARTITION_SPEC),
}


@functools.cache
def validation_schema_json(dataset: str) -> str:
    return json.dumps(VALIDATION_SCHEMAS[dataset])


@functools.cache
def transform_rules_json(dataset: str) -> str:
    return json.dumps(TRANSFORM_RULES[dataset])
