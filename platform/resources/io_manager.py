"""A Rust-backed Iceberg IO manager.

Writes go through ``data_processor_rs.write_iceberg_parquet`` (zstd Parquet
with Iceberg field ids and the per-file metrics) and a pyiceberg fast append
that takes those metrics as they are: no file is read back. Reads plan the scan
with pyiceberg (partition pruning, snapshot selection) and decode the data
files with ``data_processor_rs.parse_parquet``.

An asset states its table in its definition metadata: ``{"iceberg_table": "raw.events"}``.
It may return a ``pyarrow.Table`` (appended) or a ``DrainResult`` from the
consumer, which already committed what it drained (exactly once, fenced): the
IO manager then records the table's snapshot and row count.
"""

from __future__ import annotations

import logging

import pyarrow as pa
from dagster import ConfigurableIOManager, InputContext, OutputContext

from eventlake.resources.core import settings_for

log = logging.getLogger("eventlake.io_manager")


def _table_identifier(context: InputContext | OutputContext) -> str:
    meta = context.definition_metadata or {}
    if "iceberg_table" in meta:
        value = meta["iceberg_table"]
        return getattr(value, "value", value)
    # raw_events -> raw.events
    name = context.asset_key.path[-1]
    namespace, _, table = name.partition("_")
    return f"{namespace}.{table}"


class IcebergIOManager(ConfigurableIOManager):
    """Stores assets as Iceberg tables in the configured catalog."""

    home: str | None = None

    def _tables(self):
        from eventlake import lake

        return lake.ensure_tables(lake.load_catalog(settings_for(self.home)))

    def handle_output(self, context: OutputContext, obj) -> None:
        from eventlake import lake
        from eventlake.batch import DrainResult

        tables = self._tables()
        identifier = _table_identifier(context)
        table = tables[identifier.split(".", 1)[1]]
        if isinstance(obj, DrainResult):
            # the consumer committed (exactly once, fenced) while draining: record the table as it stands
            summary = dict(obj.totals)
            if obj.skipped:
                context.log.info(f"{identifier}: {obj.skipped}")
        elif isinstance(obj, pa.Table):
            lake.append_arrow(table, obj)
            summary = {"rows_appended": obj.num_rows}
        elif obj is None:
            return
        else:
            raise TypeError(f"IcebergIOManager cannot store {type(obj).__name__} in {identifier}")

        table.refresh()
        snapshot = table.metadata.current_snapshot()
        totals = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
        context.add_output_metadata(
            {
                "iceberg_table": identifier,
                "snapshot_id": str(snapshot.snapshot_id) if snapshot else "",
                "total_records": int(totals.get("total-records", 0)),
                "dagster/row_count": int(totals.get("total-records", 0)),
                "total_data_files": int(totals.get("total-data-files", 0)),
                **{k: int(v) for k, v in summary.items()},
            }
        )

    def load_input(self, context: InputContext) -> pa.Table:
        import data_processor_rs as dp

        identifier = _table_identifier(context)
        table = self._tables()[identifier.split(".", 1)[1]]
        scan = table.scan()
        paths = [task.file.file_path for task in scan.plan_files()]
        if not paths:
            return table.schema().as_arrow().empty_table()
        if not all(p.startswith(("file://", "/")) for p in paths):
            return scan.to_arrow()  # object storage: let pyiceberg's FileIO fetch
        parts = [pa.table(dp.parse_parquet(p.removeprefix("file://"))) for p in paths]
        return pa.concat_tables(parts, promote_options="permissive")
