"""Raw assets: the Iceberg tables raw.events, raw.users and raw.products.

Materializing one drains its dataset's pending chunks from the stream through
the consumer's one entry point (``Consumer.drain``: data_processor_rs, then
fenced, exactly-once Iceberg commits) and hands the totals to the Iceberg IO
manager, which records the table as it stands. When long-running consumers
(`eventlake consume`) are alive they are already doing this work, so the
materialization only records the table.
"""

import warnings

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    BetaWarning,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
    asset,
    asset_check,
    with_source_code_references,
)

from eventlake import contracts
from eventlake.batch import DrainResult
from eventlake.maintenance import LINEAGE_COLUMN, LINEAGE_DOC
from eventlake.resources.core import EventlakeResource

# stream records per drain pass of a materialization (each up to ~1 MiB)
MAX_STREAM_RECORDS = 10_000


def raw_asset_key(dataset: str) -> AssetKey:
    """The asset of the Iceberg table ``raw.<dataset>`` (the dbt source ``raw.<dataset>`` names it
    in its ``meta.dagster.asset_key``, dbt_project/models/staging/__sources.yml)."""
    return AssetKey(f"{contracts.RAW_NAMESPACE}_{dataset}")


_LINEAGE_DOCS = {"job_id": "ingestion job that carried the record", "ingested_at": "when the consumer wrote the row (UTC)"}


def _column_description(field: contracts.Field, key: str | None) -> str:
    """What a person needs to know about a raw column: its doc, and the rules the validator enforces."""
    parts = [field.doc or _LINEAGE_DOCS.get(field.name, "")]
    if field.name == key:
        parts.append(f"deduplication key: a record whose {key} was stored within the dedup window is a duplicate")
    if field.allowed is not None:
        parts.append(f"one of {', '.join(map(str, field.allowed))}")
    if field.min is not None or field.max is not None:
        parts.append(f"from {field.min if field.min is not None else '-inf'} to {field.max if field.max is not None else 'inf'}")
    if field.max_length is not None:
        parts.append(f"at most {field.max_length:,} characters")
    if field.lineage:
        parts.append("set by the consumer")
    parts.append("required" if field.required else "optional")
    return "; ".join(p for p in parts if p)


def raw_column_schema(dataset: str) -> TableSchema:
    """The columns of ``raw.<dataset>`` as the Dagster UI shows them: the contract's
    (``eventlake.contracts``), then the row lineage column every raw table has."""
    contract = contracts.CONTRACTS[dataset]
    columns = [
        TableColumn(f.name, f.type, description=_column_description(f, contract.key),
                    constraints=TableColumnConstraints(nullable=not f.required))
        for f in contract.fields
    ]
    columns.append(TableColumn(LINEAGE_COLUMN, "long", description=f"{LINEAGE_DOC}; optional"))
    return TableSchema(columns=columns)


def _raw_asset(dataset: str):
    @asset(
        key=raw_asset_key(dataset),
        group_name="raw",
        io_manager_key="iceberg_io_manager",
        metadata={
            "iceberg_table": f"{contracts.RAW_NAMESPACE}.{dataset}",
            "dagster/column_schema": raw_column_schema(dataset),
        },
        kinds={"iceberg", "rust"},
        description=(
            f"Iceberg table {contracts.RAW_NAMESPACE}.{dataset}: {dataset} POSTed to the API, "
            "validated, typed and deduplicated by data_processor_rs. Invalid records go to "
            f"{contracts.RAW_NAMESPACE}.{contracts.REJECTED_TABLE} with their violations."
        ),
    )
    def _asset(context: AssetExecutionContext, eventlake: EventlakeResource) -> DrainResult:
        consumer = eventlake.consumer()
        others = consumer.leases.others_alive()
        if others:
            note = f"the stream consumer(s) {', '.join(others)} drain continuously; raw.{dataset} is kept current by them"
            context.log.info(note)
            return DrainResult(skipped=note)
        try:
            totals = consumer.drain([dataset], max_records=MAX_STREAM_RECORDS)
        finally:
            consumer.close()
        context.log.info(f"raw.{dataset}: drained {totals or 'nothing new'}")
        return DrainResult(totals=totals)

    return _asset


raw_events = _raw_asset("events")
raw_users = _raw_asset("users")
raw_products = _raw_asset("products")


def _with_code_references(assets: list) -> list:
    """The assets with a code reference to their function (a beta API of the pinned Dagster: its warning
    would only repeat that)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        return list(with_source_code_references(assets))


# what the code location holds: the same assets, with a code reference to this file
raw_assets = _with_code_references([raw_events, raw_users, raw_products])


@asset_check(
    asset=raw_events,
    name="raw_events_contract",
    description="Reads raw.events back through the Iceberg IO manager and re-checks the event contract.",
)
def raw_events_contract(raw_events) -> AssetCheckResult:
    import pyarrow as pa
    import pyarrow.compute as pc

    n = raw_events.num_rows
    known = pc.is_in(raw_events["event_type"], value_set=pa.array(contracts.EVENT_TYPES))
    bad_type = n - (pc.sum(known).as_py() or 0)
    value = raw_events["event_value"]
    out_of_range = pc.sum(pc.or_(pc.less(value, 0), pc.greater(value, 1_000_000))).as_py() or 0
    duplicate_ids = n - pc.count_distinct(raw_events["event_id"]).as_py()
    passed = bad_type == 0 and out_of_range == 0
    return AssetCheckResult(
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "rows": n,
            "unknown_event_type": bad_type,
            "event_value_out_of_range": out_of_range,
            # across loads duplicates are possible (a client re-sending); stg_events removes them
            "duplicate_event_ids_across_loads": duplicate_ids,
        },
    )
