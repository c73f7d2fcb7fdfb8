"""Each raw table is declared once in ``eventlake.contracts.CONTRACTS``; every view derives from it.

The views: the validation JSON and transform rules (``data_processor_rs``), the Iceberg schema and
partition spec, the dbt source ``raw`` (``__sources.yml``) and the generated ``contracts/*.json``
files the Rust tests read.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from eventlake import contracts
from eventlake.contracts import CONTRACTS, Contract, Field, Partition

ROOT = Path(__file__).resolve().parents[1]
SOURCES_YML = ROOT / "dbt_project" / "models" / "staging" / "__sources.yml"

#: Iceberg type (``str(NestedField.field_type)``) of each declared type.
ICEBERG_TYPE = {
    "string": "string",
    "object": "string",
    "long": "long",
    "int": "int",
    "double": "double",
    "boolean": "boolean",
    "timestamp": "timestamptz",
    "date": "date",
}


# -- generated contract files ------------------------------------------------------------------


def test_committed_contract_files_match_the_generator():
    expected = contracts.contract_files()
    assert set(expected) == {f"{d}.{kind}.json" for d in contracts.DATASETS for kind in ("schema", "rules")}
    for name, text in expected.items():
        path = contracts.CONTRACT_DIR / name
        assert path.exists(), f"{path} is missing: run `{contracts.REGENERATE}` and commit contracts/"
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} differs from platform/contracts.py: run `{contracts.REGENERATE}` and commit contracts/"
        )
    generated = {p.name for p in contracts.CONTRACT_DIR.glob("*.schema.json")} | {
        p.name for p in contracts.CONTRACT_DIR.glob("*.rules.json")
    }
    assert generated <= set(expected), (
        f"contracts/ holds files of no declared dataset: {sorted(generated - set(expected))}; "
        f"delete them and run `{contracts.REGENERATE}`"
    )


def test_contract_files_are_the_processor_inputs_plus_a_newline():
    assert contracts.CONTRACT_DIR == ROOT / "contracts"
    for d in contracts.DATASETS:
        files = contracts.contract_files()
        assert files[f"{d}.schema.json"] == contracts.validation_schema_json(d) + "\n"
        assert files[f"{d}.rules.json"] == contracts.transform_rules_json(d) + "\n"


def test_generator_writes_and_checks(tmp_path):
    assert contracts.main(["--check", str(tmp_path)]) == 1  # missing
    written = contracts.write_contract_files(tmp_path)
    assert sorted(p.name for p in written) == sorted(contracts.contract_files())
    assert contracts.write_contract_files(tmp_path) == []  # idempotent
    assert contracts.main(["--check", str(tmp_path)]) == 0
    (tmp_path / "events.rules.json").write_text("{}\n")
    assert contracts.stale_contract_files(tmp_path) == ["events.rules.json"]


# -- the dbt source ------------------------------------------------------------------------------


def _raw_source_tables() -> dict[str, list[dict]]:
    doc = yaml.safe_load(SOURCES_YML.read_text(encoding="utf-8"))
    (raw,) = [s for s in doc["sources"] if s["name"] == contracts.RAW_NAMESPACE]
    return {t["name"]: t.get("columns", []) for t in raw["tables"]}


def test_dbt_sources_declare_every_contract_table():
    assert set(_raw_source_tables()) == set(CONTRACTS), (
        f"{SOURCES_YML.relative_to(ROOT)}: the tables of source 'raw' must be the tables of platform/contracts.py"
    )


@pytest.mark.parametrize("table", list(CONTRACTS))
def test_dbt_source_columns_match_the_contract(table):
    declared = _raw_source_tables()[table]
    contract = CONTRACTS[table]
    assert [c["name"] for c in declared] == contract.dbt_columns(), (
        f"{SOURCES_YML.relative_to(ROOT)}: columns of raw.{table} drifted from platform/contracts.py "
        "(record fields, derived columns, then the lineage columns job_id and ingested_at)"
    )
    fields = {f.name: f for f in contract.fields}
    for column in declared:
        data_type = column.get("data_type") or column.get("config", {}).get("data_type")
        if data_type is not None:
            assert data_type.lower() == ICEBERG_TYPE[fields[column["name"]].type], (table, column)


def test_dbt_columns_are_the_record_fields_then_derived_then_lineage():
    events = CONTRACTS["events"]
    names = events.dbt_columns()
    assert names[: len(events.record_fields)] == [f["name"] for f in contracts.VALIDATION_SCHEMAS["events"]["fields"]]
    assert names[-2:] == ["job_id", "ingested_at"]
    for d in contracts.DATASETS:
        assert CONTRACTS[d].dbt_columns()[-2:] == ["job_id", "ingested_at"]


# -- every view comes from the one declaration --------------------------------------------------


def test_module_views_are_the_declarations_views():
    for d in contracts.DATASETS:
        c = CONTRACTS[d]
        assert contracts.VALIDATION_SCHEMAS[d] == c.validation_schema()
        assert contracts.TRANSFORM_RULES[d] == c.transform_rules()
        assert json.loads(contracts.validation_schema_json(d)) == c.validation_schema()
        assert json.loads(contracts.transform_rules_json(d)) == c.transform_rules()
    for name, table in contracts.ICEBERG_TABLES.items():
        c = CONTRACTS[name]
        assert table.identifier == f"{contracts.RAW_NAMESPACE}.{name}"
        assert [(f.field_id, f.name, str(f.field_type), f.required, f.doc) for f in table.schema.fields] == [
            (f.id, f.name, ICEBERG_TYPE[f.type], f.required, f.doc) for f in c.fields
        ]
        assert [(p.source_id, p.name, str(p.transform)) for p in table.partition_spec.fields] == [
            (next(f.id for f in c.fields if f.name == p.source), p.name, p.transform) for p in c.partition_by
        ]
    assert contracts.EVENTS_SCHEMA is contracts.ICEBERG_TABLES["events"].schema
    assert contracts.EVENTS_PARTITION_SPEC is contracts.ICEBERG_TABLES["events"].partition_spec
    assert contracts.REJECTED_SCHEMA is contracts.ICEBERG_TABLES[contracts.REJECTED_TABLE].schema
    assert contracts.DATASETS == ("events", "users", "products")
    assert contracts.REJECTED_TABLE not in contracts.VALIDATION_SCHEMAS


def _with_fields(base: Contract, *extra: Field) -> Contract:
    """``base`` with ``extra`` fields inserted before its lineage columns."""
    record = tuple(f for f in base.fields if not f.lineage)
    lineage = tuple(f for f in base.fields if f.lineage)
    return dataclasses.replace(base, fields=(*record, *extra, *lineage))


def test_a_field_added_to_the_declaration_shows_up_in_every_view(tmp_path):
    events = CONTRACTS["events"]
    c = _with_fields(
        events,
        Field(12, "campaign", "string", max_length=64, default="none"),
        Field(13, "shipped_at", "timestamp"),
        Field(14, "shipped_date", "date", required=True, derived_from="shipped_at"),
        Field(15, "shipped_hour", "int", required=True, derived_from="shipped_at"),
    )

    fields = c.validation_schema()["fields"]
    assert fields[-2:] == [
        {"name": "campaign", "type": "string", "required": False, "max_length": 64},
        {"name": "shipped_at", "type": "timestamp", "required": False},
    ]
    assert "shipped_date" not in {f["name"] for f in fields}  # derived, not posted
    assert c.transform_rules() == {
        "derive_date_hour": [
            {"source": "event_timestamp", "date": "event_date", "hour": "event_hour"},
            {"source": "shipped_at", "date": "shipped_date", "hour": "shipped_hour"},
        ],
        "defaults": {"campaign": "none"},
    }
    schema = c.iceberg_schema()
    assert [(f.field_id, f.name, str(f.field_type), f.required) for f in schema.fields[-6:]] == [
        (12, "campaign", "string", False),
        (13, "shipped_at", "timestamptz", False),
        (14, "shipped_date", "date", True),
        (15, "shipped_hour", "int", True),
        (10, "job_id", "string", True),
        (11, "ingested_at", "timestamptz", True),
    ]
    assert c.iceberg_partition_spec() == events.iceberg_partition_spec()
    assert c.dbt_columns()[-6:] == ["campaign", "shipped_at", "shipped_date", "shipped_hour", "job_id", "ingested_at"]

    # the views agree with each other: the processor accepts the derived JSON, and its output
    # (plus the consumer's lineage) writes under the derived Iceberg schema
    dp = pytest.importorskip("data_processor_rs")
    pa = pytest.importorskip("pyarrow")
    record = {"event_id": "e1", "user_id": "u1", "event_type": "view", "event_timestamp": "2026-11-24T10:00:00Z",
              "shipped_at": "2026-11-25T23:30:00+00:00"}
    result = dp.process(json.dumps(record).encode(), "ndjson", json.dumps(c.validation_schema()),
                        json.dumps(c.transform_rules()))
    valid = pa.table(result.valid)
    assert valid.num_rows == 1
    row = valid.to_pylist()[0]
    assert row["campaign"] == "none" and row["shipped_hour"] == 23 and str(row["shipped_date"]) == "2026-11-25"
    valid = valid.append_column("job_id", pa.array(["j"])).append_column(
        "ingested_at", pa.array([datetime(2026, 11, 26, tzinfo=UTC)], pa.timestamp("us", tz="UTC"))
    )
    assert {f.name for f in schema.fields} <= set(valid.column_names)
    (written,) = dp.write_iceberg_parquet(
        valid, str(tmp_path), schema.model_dump_json(), c.iceberg_partition_spec().model_dump_json()
    )
    assert written["record_count"] == 1
    back = pa.table(dp.parse_parquet(written["file_path"]))
    assert back.column_names == [f.name for f in schema.fields]
    assert back.to_pylist()[0]["campaign"] == "none"


def test_a_partition_and_a_new_table_come_from_the_declaration():
    c = Contract(
        "orders",
        key="order_id",
        fields=(
            Field(1, "order_id", "string", required=True),
            Field(2, "amount", "long", min=1),
            Field(3, "placed_at", "timestamp", required=True),
            *contracts.lineage(4),
        ),
        partition_by=(Partition("placed_at", "hour"),),
    )
    assert c.validation_schema() == {
        "dataset": "orders",
        "key": "order_id",
        "fields": [
            {"name": "order_id", "type": "string", "required": True},
            {"name": "amount", "type": "long", "required": False, "min": 1},
            {"name": "placed_at", "type": "timestamp", "required": True},
        ],
    }
    assert c.transform_rules() == {"defaults": {}}
    (p,) = c.iceberg_partition_spec().fields
    assert (p.source_id, p.field_id, str(p.transform), p.name) == (3, 1000, "hour", "placed_at_hour")
    assert c.dbt_columns() == ["order_id", "amount", "placed_at", "job_id", "ingested_at"]


@pytest.mark.parametrize(
    "fields, message",
    [
        ((Field(1, "a", "string"), Field(1, "b", "string")), "duplicate field ids"),
        ((Field(1, "a", "string"), Field(2, "a", "long")), "duplicate field names"),
        ((Field(1, "a", "int"),), "cannot be validated"),
        ((Field(1, "a", "string"), Field(2, "d", "date", derived_from="a")), "not a timestamp field"),
        ((Field(1, "t", "timestamp"), Field(2, "d", "date", derived_from="t")), "one date and one int"),
    ],
)
def test_a_malformed_declaration_is_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        Contract("bad", fields=fields)


# -- importing the contracts is cheap ------------------------------------------------------------


def test_importing_contracts_does_not_import_pyiceberg():
    code = (
        "import sys, eventlake.contracts as c\n"
        "assert 'pyiceberg' not in sys.modules, 'importing eventlake.contracts imported pyiceberg'\n"
        "c.validation_schema_json('events'); c.transform_rules_json('events'); c.DATASETS\n"
        "assert 'pyiceberg' not in sys.modules\n"
        "c.EVENTS_SCHEMA\n"
        "assert 'pyiceberg' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError):
        contracts.NO_SUCH_SCHEMA  # noqa: B018
    assert "ICEBERG_TABLES" in dir(contracts)
