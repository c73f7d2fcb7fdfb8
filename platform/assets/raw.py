"""Raw assets: the Iceberg tables raw.events, raw.users and raw.products.

Materializing one drains its dataset's pending chunks from the stream through
data_processor_rs and hands the batch to the Rust-backed Iceberg IO manager,
which appends it exactly once. When the long-running consumer
(`eventlake consume`) holds the stream lease it is already doing this work, so
the materialization records the table as it stands.
"""

from dagster import AssetCheckResult, AssetCheckSeverity, AssetExecutionContext, asset, asset_check

from eventlake import contracts
from eventlake.batch import IngestBatch
from eventlake.resources.core import EventlakeResource

# stream records per drain pass of a materialization (each up to ~1 MiB)
MAX_STREAM_RECORDS = 10_000


def _raw_asset(dataset: str):
    @asset(
        name=f"raw_{dataset}",
        group_name="raw",
        io_manager_key="iceberg_io_manager",
        metadata={"iceberg_table": f"{contracts.RAW_NAMESPACE}.{dataset}"},
        kinds={"iceberg", "rust"},
        description=(
            f"Iceberg table {contracts.RAW_NAMESPACE}.{dataset}: {dataset} POSTed to the API, "
            "validated, typed and deduplicated by data_processor_rs. Invalid records go to "
            f"{contracts.RAW_NAMESPACE}.{contracts.REJECTED_TABLE} with their violations."
        ),
    )
    def _asset(context: AssetExecutionContext, eventlake: EventlakeResource) -> IngestBatch:
        consumer = eventlake.consumer()
        if not consumer.leases.balance(consumer.stream.shard_ids()):
            context.log.info(
                f"the stream consumers ({consumer.leases.group}) hold every shard and drain continuously; "
                f"raw.{dataset} is kept current by them"
            )
            return IngestBatch()
        batch = consumer.plan([dataset], max_records=MAX_STREAM_RECORDS)
        if not batch.empty:
            consumer._mark_processing(batch)
        context.log.info(f"planned {batch.summary()} for raw.{dataset}")
        return batch

    return _asset


raw_events = _raw_asset("events")
raw_users = _raw_asset("users")
raw_products = _raw_asset("products")
raw_assets = [raw_events, raw_users, raw_products]


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
