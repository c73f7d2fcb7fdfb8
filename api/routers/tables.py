"""GET /api/v1/tables/{name}/snapshots[/{snapshot_id}]: a raw table's Iceberg history, read-only.

The same data as ``eventlake table history`` (``eventlake.time_travel``). Rollback is a CLI
command only: it moves the consumer's stream positions and needs an operator's confirmation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Path as PathParam, Query
from fastapi.concurrency import run_in_threadpool

from api.dependencies import ResourcesDep, SettingsDep
from api.errors import ApiError, ComponentUnavailable, ErrorResponse
from api.schemas import TableSnapshot, TableSnapshots, snapshot_url

# Needs the API key: api.main includes this router with the require_api_key dependency.
router = APIRouter(tags=["tables"])

#: Most snapshots one answer lists.
MAX_LIMIT = 1000

TableName = Annotated[str, PathParam(description="raw.events, raw.users, raw.products or raw.rejected_records "
                                                 "(`events` means raw.events).")]
_NOT_FOUND = {404: {"model": ErrorResponse, "description": "No such table (or it has no data yet), or no such snapshot."},
              503: {"model": ErrorResponse, "description": "The Iceberg catalog is unavailable."}}


def _open(resources, settings, name: str) -> Any:
    from eventlake import time_travel as tt

    try:
        full = tt.table_name(name)
        url = settings.catalog_url
        if settings.catalog_type == "sql" and url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            raise tt.UnknownTable(f"table {full} does not exist yet (nothing was ingested)")
        try:
            catalog = resources.catalog()
        except Exception as exc:
            raise ComponentUnavailable("catalog", f"cannot open the Iceberg catalog: {exc}") from exc
        return tt.load_table(catalog, full)
    except tt.UnknownTable as exc:
        raise ApiError(404, "table not found", [{"table": name, "message": str(exc), "tables": tt.table_names()}]) from exc


@router.get(
    "/tables/{name}/snapshots",
    summary="A table's snapshots with their stream positions, job ids and record counts",
    response_model=TableSnapshots,
    responses=_NOT_FOUND,
)
async def snapshots(
    name: TableName,
    resources: ResourcesDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Only the newest `limit` snapshots.")] = 100,
    jobs: Annotated[bool, Query(description="Read each snapshot's added data files for its job ids "
                                            "(one small read per file; false is faster).")] = True,
) -> TableSnapshots:
    """The table's Iceberg snapshots, oldest first (the newest `limit`): id, parent, time, operation,
    records added and in total, the stream positions stored in the summary and the job ids of the rows
    each added. A snapshot a rollback undid stays listed with `in_current_lineage: false`."""
    from eventlake import time_travel as tt

    def read() -> TableSnapshots:
        table = _open(resources, settings, name)
        full = ".".join(table.name())
        current = table.metadata.current_snapshot()
        return TableSnapshots(
            table=full,
            current_snapshot_id=current.snapshot_id if current else None,
            snapshots=[TableSnapshot(**i.to_dict(), url=snapshot_url(full, i.snapshot_id))
                       for i in tt.history(table, with_jobs=jobs, limit=limit)],
        )

    return await run_in_threadpool(read)


@router.get(
    "/tables/{name}/snapshots/{snapshot_id}",
    summary="One snapshot of a table (where a job's status links)",
    response_model=TableSnapshot,
    responses=_NOT_FOUND,
)
async def snapshot(name: TableName, snapshot_id: int, resources: ResourcesDep, settings: SettingsDep) -> TableSnapshot:
    """One snapshot: its stream positions, the job ids of the rows it added, its counts, and whether it is
    still in the table's current history (`in_current_lineage`)."""
    from eventlake import time_travel as tt

    def read() -> TableSnapshot:
        table = _open(resources, settings, name)
        full = ".".join(table.name())
        try:
            found = tt.get_snapshot(table, snapshot_id)
        except tt.UnknownSnapshot as exc:
            raise ApiError(404, "snapshot not found", [{"table": full, "snapshot_id": snapshot_id}]) from exc
        return TableSnapshot(**tt.snapshot_info(table, found).to_dict(), url=snapshot_url(full, snapshot_id))

    return await run_in_threadpool(read)
