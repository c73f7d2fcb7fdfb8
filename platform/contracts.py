"""The data contracts: what each dataset accepts and how it lands in Iceberg.

Each raw table is declared once, in ``CONTRACTS``: one ``Field`` per column, in
table order, with its Iceberg field id, type, whether it is required, its
validation rules, and where its value comes from (the posted record, a transform
rule, or the consumer's lineage). Every other view is derived from that one
declaration:

* ``VALIDATION_SCHEMAS`` / ``validation_schema_json``: the schema *as data* that
  ``data_processor_rs`` validates and types records against (required fields,
  types, allowed values, numeric ranges, string lengths);
* ``TRANSFORM_RULES`` / ``transform_rules_json``: per-dataset rules for
  ``data_processor_rs.transform_batch`` (derived date/hour columns, defaults);
* ``ICEBERG_TABLES`` (and ``EVENTS_SCHEMA`` & co.): the Iceberg schema and
  partition spec of each raw table, built on first use so that importing this
  module does not import pyiceberg;
* ``Contract.dbt_columns``: the columns of the dbt source ``raw`` (a test checks
  ``dbt_project/models/staging/__sources.yml`` against them);
* ``contracts/<dataset>.schema.json`` and ``.rules.json`` at the repository root,
  which the Rust tests read: regenerate them with
  ``python -m eventlake.contracts --write``.

Field ids are stable forever: never renumber, only append. Adding an optional
field (with a new id) evolves the existing Iceberg tables on the next start
(``eventlake.lake.ensure_tables``); a rename or an unsafe type change stops the
start with ``eventlake.lake.SchemaMismatch`` (docs/schema_evolution.md).
"""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pyiceberg.partitioning import PartitionSpec
    from pyiceberg.schema import Schema

Dataset = Literal["events", "users", "products"]
EVENT_TYPES: tuple[str, ...] = ("view", "click", "add_to_cart", "purchase")
RAW_NAMESPACE = "raw"
REJECTED_TABLE = "rejected_records"

#: Field types. The first seven are what ``data_processor_rs`` validates
#: ("timestamp" accepts ISO-8601 with a zone or integer epoch milliseconds and
#: lands as UTC microseconds; "object" lands as compact JSON text). "int" is for
#: columns the transform derives (the hour of a timestamp).
FieldType = Literal["string", "long", "double", "boolean", "timestamp", "date", "object", "int"]
VALIDATED_TYPES: frozenset[str] = frozenset({"string", "long", "double", "boolean", "timestamp", "date", "object"})


@dataclass(frozen=True)
class Field:
    """One column of a raw table."""

    id: int  # Iceberg field id
    name: str
    type: FieldType
    required: bool = False
    doc: str | None = None  # Iceberg column doc
    # validation rules (columns of the posted record only)
    allowed: tuple[Any, ...] | None = None
    min: int | float | None = None
    max: int | float | None = None
    min_length: int | None = None
    max_length: int | None = None
    default: Any = None  # transform rule: the value of an optional column that is missing or null
    # where the value comes from when it is not the posted record
    derived_from: str | None = None  # a timestamp column: "date" columns take its UTC date, "int" its UTC hour
    lineage: bool = False  # set by the consumer on every row

    @property
    def from_record(self) -> bool:
        return self.derived_from is None and not self.lineage

    def validation_json(self) -> dict[str, Any]:
        """The field as ``data_processor_rs`` reads it (key order is part of the contract files)."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "required": self.required}
        if self.allowed is not None:
            out["allowed"] = list(self.allowed)
        for rule in ("min", "max", "min_length", "max_length"):
            if getattr(self, rule) is not None:
                out[rule] = getattr(self, rule)
        return out


def lineage(first_id: int, *, job_id_doc: str | None = None) -> tuple[Field, Field]:
    """The lineage columns the consumer adds to every row: the ingestion job and when it landed."""
    return (
        Field(first_id, "job_id", "string", required=True, doc=job_id_doc, lineage=True),
        Field(first_id + 1, "ingested_at", "timestamp", required=True, lineage=True),
    )


@dataclass(frozen=True)
class Partition:
    """A partition field: ``transform`` (day, hour, month, year or identity) of column ``source``."""

    source: str
    transform: Literal["day", "hour", "month", "year", "identity"]

    @property
    def name(self) -> str:
        return f"{self.source}_{self.transform}"


@dataclass(frozen=True)
class Contract:
    """The declaration of one raw table, from which every view of it is derived."""

    name: str
    fields: tuple[Field, ...]
    key: str | None = None  # deduplication key (a record field), or None to keep every record
    partition_by: tuple[Partition, ...] = ()
    #: False for tables the platform writes itself (rejected_records): no records
    #: are posted to them, so they have no validation schema nor transform rules.
    validated: bool = True

    def __post_init__(self) -> None:
        def bad(msg: str) -> ValueError:
            return ValueError(f"contract {self.name!r}: {msg}")

        by_name = {f.name: f for f in self.fields}
        if len(by_name) != len(self.fields):
            raise bad("duplicate field names")
        if len({f.id for f in self.fields}) != len(self.fields):
            raise bad("duplicate field ids")
        if self.key is not None and (self.key not in by_name or not by_name[self.key].from_record):
            raise bad(f"key {self.key!r} is not a record field")
        for p in self.partition_by:
            if p.source not in by_name:
                raise bad(f"partition source {p.source!r} is not a field")
        for f in self.fields:
            if f.derived_from is not None:
                src = by_name.get(f.derived_from)
                if src is None or src.type != "timestamp":
                    raise bad(f"{f.name}: derived_from {f.derived_from!r} is not a timestamp field")
                if f.type not in ("date", "int"):
                    raise bad(f"{f.name}: a derived column is a date or an int (hour)")
            elif f.from_record and self.validated and f.type not in VALIDATED_TYPES:
                raise bad(f"{f.name}: type {f.type!r} cannot be validated")
        self.transform_rules()  # one date and one hour column per derived source

    @property
    def record_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.from_record)

    def validation_schema(self) -> dict[str, Any]:
        return {"dataset": self.name, "key": self.key, "fields": [f.validation_json() for f in self.record_fields]}

    def transform_rules(self) -> dict[str, Any]:
        derive: list[dict[str, str]] = []
        sources = list(dict.fromkeys(f.derived_from for f in self.fields if f.derived_from is not None))
        for source in sources:
            cols = {f.type: f.name for f in self.fields if f.derived_from == source}
            n = sum(1 for f in self.fields if f.derived_from == source)
            if n != 2 or set(cols) != {"date", "int"}:
                raise ValueError(f"contract {self.name!r}: {source} needs one date and one int (hour) column")
            derive.append({"source": source, "date": cols["date"], "hour": cols["int"]})
        rules: dict[str, Any] = {}
        if derive:
            rules["derive_date_hour"] = derive[0] if len(derive) == 1 else derive
        rules["defaults"] = {f.name: f.default for f in self.record_fields if f.default is not None}
        return rules

    def iceberg_schema(self) -> Schema:
        from pyiceberg.schema import Schema
        from pyiceberg.types import NestedField

        return Schema(
            *(NestedField(f.id, f.name, _iceberg_type(f.type), required=f.required, doc=f.doc) for f in self.fields)
        )

    def iceberg_partition_spec(self) -> PartitionSpec:
        from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC, PartitionField, PartitionSpec
        from pyiceberg.transforms import (
            DayTransform,
            HourTransform,
            IdentityTransform,
            MonthTransform,
            YearTransform,
        )

        if not self.partition_by:
            return UNPARTITIONED_PARTITION_SPEC
        transforms = {"day": DayTransform, "hour": HourTransform, "month": MonthTransform, "year": YearTransform,
                      "identity": IdentityTransform}
        ids = {f.name: f.id for f in self.fields}
        return PartitionSpec(
            *(
                # partition field ids start at 1000, as Iceberg assigns them
                PartitionField(source_id=ids[p.source], field_id=1000 + i, transform=transforms[p.transform](),
                               name=p.name)
                for i, p in enumerate(self.partition_by)
            )
        )

    def dbt_columns(self) -> list[str]:
        """The columns of this table as the dbt source ``raw`` declares them."""
        return [f.name for f in self.fields]


def _iceberg_type(t: str):
    from pyiceberg import types

    return {
        "string": types.StringType,
        "object": types.StringType,  # compact JSON text
        "long": types.LongType,
        "int": types.IntegerType,
        "double": types.DoubleType,
        "boolean": types.BooleanType,
        "timestamp": types.TimestamptzType,  # UTC microseconds
        "date": types.DateType,
    }[t]()


# --------------------------------------------------------------------------
# The declarations (Iceberg namespace "raw")
# --------------------------------------------------------------------------
CONTRACTS: dict[str, Contract] = {
    c.name: c
    for c in (
        Contract(
            "events",
            key="event_id",
            fields=(
                Field(1, "event_id", "string", required=True, max_length=256),
                Field(2, "user_id", "string", required=True, max_length=256),
                Field(3, "event_type", "string", required=True, allowed=EVENT_TYPES),
                Field(4, "event_timestamp", "timestamp", required=True),
                Field(5, "event_value", "double", min=0, max=1_000_000),
                Field(6, "product_id", "string", max_length=256),
                Field(7, "properties", "object", doc="compact JSON object"),
                Field(8, "event_date", "date", required=True, doc="UTC date of event_timestamp",
                      derived_from="event_timestamp"),
                Field(9, "event_hour", "int", required=True, doc="UTC hour of event_timestamp",
                      derived_from="event_timestamp"),
                *lineage(10, job_id_doc="ingestion job that carried the record"),
            ),
            partition_by=(Partition("event_timestamp", "day"),),
        ),
        Contract(
            "users",  # a user appears once per change; SCD2 history is built downstream
            fields=(
                Field(1, "user_id", "string", required=True, max_length=256),
                Field(2, "user_name", "string", max_length=1024),
                Field(3, "email", "string", max_length=1024),
                Field(4, "updated_at", "timestamp", required=True),
                *lineage(5),
            ),
        ),
        Contract(
            "products",
            fields=(
                Field(1, "product_id", "string", required=True, max_length=256),
                Field(2, "product_name", "string", max_length=1024),
                Field(3, "category", "string", max_length=256),
                Field(4, "price", "double", min=0, max=1_000_000),
                *lineage(5),
            ),
        ),
        Contract(
            REJECTED_TABLE,
            validated=False,
            fields=(
                Field(1, "job_id", "string", required=True),
                Field(2, "dataset", "string", required=True),
                Field(3, "record_index", "long", required=True, doc="0-based index of the record in its request"),
                Field(4, "raw", "string", doc="the record as it arrived"),
                Field(5, "violations", "string", required=True, doc="JSON array of {field, rule, value, message}"),
                Field(6, "rejected_at", "timestamp", required=True),
            ),
        ),
    )
}

DATASETS: tuple[Dataset, ...] = tuple(name for name, c in CONTRACTS.items() if c.validated)  # type: ignore[misc]

# Consumed by data_processor_rs.validate_schema / transform_batch / process.
VALIDATION_SCHEMAS: dict[str, dict[str, Any]] = {d: CONTRACTS[d].validation_schema() for d in DATASETS}
TRANSFORM_RULES: dict[str, dict[str, Any]] = {d: CONTRACTS[d].transform_rules() for d in DATASETS}


@functools.cache
def validation_schema_json(dataset: str) -> str:
    return json.dumps(VALIDATION_SCHEMAS[dataset])


@functools.cache
def transform_rules_json(dataset: str) -> str:
    return json.dumps(TRANSFORM_RULES[dataset])


def refresh_views() -> None:
    """Derive every view again from ``CONTRACTS`` after a declaration in it was replaced.

    The views are derived once per process (at import, or on first use for
    the Iceberg tables); a process that swaps a ``Contract`` in ``CONTRACTS``
    (a test extending a contract) calls this so the validator, the transform
    rules and ``ensure_tables`` see the new declaration. The datasets
    themselves (``DATASETS``) stay as imported.
    """
    VALIDATION_SCHEMAS.clear()
    VALIDATION_SCHEMAS.update({d: CONTRACTS[d].validation_schema() for d in DATASETS})
    TRANSFORM_RULES.clear()
    TRANSFORM_RULES.update({d: CONTRACTS[d].transform_rules() for d in DATASETS})
    validation_schema_json.cache_clear()
    transform_rules_json.cache_clear()
    iceberg_tables.cache_clear()


# --------------------------------------------------------------------------
# Iceberg tables, built on first use (pyiceberg is imported then, not here)
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class TableContract:
    name: str
    schema: Schema
    partition_spec: PartitionSpec

    @property
    def identifier(self) -> str:
        return f"{RAW_NAMESPACE}.{self.name}"


@functools.cache
def iceberg_tables() -> dict[str, TableContract]:
    """``{table name: TableContract}`` for every raw table."""
    return {name: TableContract(name, c.iceberg_schema(), c.iceberg_partition_spec()) for name, c in CONTRACTS.items()}


_LAZY: dict[str, Any] = {
    "ICEBERG_TABLES": lambda: iceberg_tables(),
    "EVENTS_SCHEMA": lambda: iceberg_tables()["events"].schema,
    "EVENTS_PARTITION_SPEC": lambda: iceberg_tables()["events"].partition_spec,
    "USERS_SCHEMA": lambda: iceberg_tables()["users"].schema,
    "PRODUCTS_SCHEMA": lambda: iceberg_tables()["products"].schema,
    "REJECTED_SCHEMA": lambda: iceberg_tables()[REJECTED_TABLE].schema,
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return _LAZY[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


# --------------------------------------------------------------------------
# Generated contract files (read by the Rust tests)
# --------------------------------------------------------------------------
CONTRACT_DIR = Path(__file__).resolve().parent.parent / "contracts"
REGENERATE = "python -m eventlake.contracts --write"


def contract_files() -> dict[str, str]:
    """``{file name: text}`` of the generated contract files."""
    files: dict[str, str] = {}
    for d in DATASETS:
        files[f"{d}.schema.json"] = validation_schema_json(d) + "\n"
        files[f"{d}.rules.json"] = transform_rules_json(d) + "\n"
    return files


def write_contract_files(directory: Path | str = CONTRACT_DIR) -> list[Path]:
    """Write ``contract_files()`` into ``directory``; return the files that changed."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in contract_files().items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8", newline="\n")
            changed.append(path)
    return changed


def stale_contract_files(directory: Path | str = CONTRACT_DIR) -> list[str]:
    """Names of the generated contract files that are missing from ``directory`` or differ."""
    directory = Path(directory)
    return [
        name
        for name, text in contract_files().items()
        if not (directory / name).exists() or (directory / name).read_text(encoding="utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m eventlake.contracts", description="Generate the contract files.")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="write contracts/<dataset>.{schema,rules}.json")
    mode.add_argument("--check", action="store_true", help="exit 1 if a contract file is missing or stale")
    p.add_argument("directory", nargs="?", default=str(CONTRACT_DIR))
    args = p.parse_args(argv)
    if args.write:
        for path in write_contract_files(args.directory):
            print(f"wrote {path}")
        return 0
    stale = stale_contract_files(args.directory)
    for name in stale:
        print(f"stale: {Path(args.directory) / name} (run `{REGENERATE}`)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
