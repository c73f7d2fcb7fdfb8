"""The current snapshots of the raw Iceberg tables, read in one place, and the key of such a state.

The snapshot sensor (:mod:`eventlake.sensors.snapshots`), the Airflow bridge DAG
(``airflow_bridge/dags/``) and the demo read the snapshots through :func:`current`;
the sensor's run key and the Airflow run's tag write a state with :func:`state_key`.
No pyiceberg import here: the callers hand in the tables (or :func:`existing_tables` opens them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from eventlake import contracts

if TYPE_CHECKING:
    from pyiceberg.table import Table
    from pyiceberg.table.snapshots import Snapshot

    from eventlake.settings import Settings

log = logging.getLogger("eventlake.raw_snapshots")


def current(tables: Mapping[str, Table], datasets: Iterable[str] = contracts.DATASETS) -> dict[str, Snapshot | None]:
    """The current snapshot of each raw table among ``datasets`` that ``tables`` holds, by dataset
    (None for a table without a commit yet)."""
    return {name: tables[name].metadata.current_snapshot() for name in datasets if name in tables}


def state_key(snapshot_ids: Mapping[str, Any]) -> str:
    """A state of the raw tables as text: ``name=snapshot id`` pairs, sorted by name, comma-separated."""
    return ",".join(f"{name}={snapshot_id}" for name, snapshot_id in sorted(snapshot_ids.items()))


def run_key(snapshot_ids: Mapping[str, int | None]) -> str:
    """The run key of the transform run asked for the state ``snapshot_ids`` ({dataset: current snapshot id})."""
    return "snapshots:" + state_key(snapshot_ids)


def existing_tables(settings: Settings) -> dict[str, Table]:
    """The raw tables the catalog of ``settings`` has, by dataset, creating nothing: no table,
    namespace or (SQLite) catalog file, for a reader on a worker that may be misconfigured."""
    from pathlib import Path

    from pyiceberg.catalog import load_catalog
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    catalog_url = settings.catalog_url
    if settings.catalog_type == "sql" and catalog_url.startswith("sqlite:///"):
        if not Path(catalog_url.removeprefix("sqlite:///")).exists():
            log.info("no Iceberg catalog at %s yet (EVENTLAKE_HOME=%s)", catalog_url, settings.home)
            return {}
    catalog = load_catalog(settings.catalog_name, **settings.catalog_properties())
    tables: dict[str, Table] = {}
    for dataset in contracts.DATASETS:
        try:
            tables[dataset] = catalog.load_table(f"{contracts.RAW_NAMESPACE}.{dataset}")
        except (NoSuchTableError, NoSuchNamespaceError):
            continue
    return tables
