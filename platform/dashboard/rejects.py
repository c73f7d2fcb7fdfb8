"""What the dashboard reads of ``raw.rejected_records``: every record the consumer kept out of the
raw tables, with the job that brought it, the record as it arrived and each violation.

Read through pyiceberg from the catalog the settings name (``eventlake.lake``). The table holds
invalid records (rules such as ``required``, ``type``, ``timestamp``, ``min``/``max``,
``allowed``, ``write_error``) and duplicates (rule ``duplicate``). Plain functions, no Streamlit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from eventlake.dashboard.data import SourceUnavailable, _missing_sqlite_file, _to_zone

DUPLICATE_RULE = "duplicate"
#: One row per violation (a record breaking two rules has two rows).
VIOLATION_COLUMNS = [
    "rejected_at", "job_id", "dataset", "record_index", "kind", "rule", "field", "value", "message", "raw",
]
REASON_COLUMNS = ["kind", "rule", "field", "records"]


@dataclass(frozen=True)
class RejectFilters:
    job_ids: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()


def _rejected_table(settings: Any):
    from eventlake import contracts
    from eventlake.lake import load_catalog

    catalog_uri = settings.catalog_properties().get("uri", "")
    missing = _missing_sqlite_file(catalog_uri) if catalog_uri.startswith("sqlite") else None
    if missing is not None:
        raise SourceUnavailable(
            f"No Iceberg catalog yet at {missing}: the consumer creates it with the raw tables "
            "(`eventlake consume`, started by `eventlake demo`)."
        )
    try:
        catalog = load_catalog(settings)
        return catalog.load_table(f"{contracts.RAW_NAMESPACE}.{contracts.REJECTED_TABLE}")
    except Exception as exc:
        if type(exc).__name__ == "NoSuchTableError":
            raise SourceUnavailable(
                "The lake has no raw.rejected_records table yet: the consumer creates it on its first pass."
            ) from exc
        raise SourceUnavailable(f"Cannot read raw.rejected_records: {exc}") from exc


def read_rejected(settings: Any, tz: str = "UTC", job_id: str | None = None, limit: int = 100_000) -> pd.DataFrame:
    """The rejected records (of one job, or all; at most ``limit`` records), one row per violation,
    newest first, ``rejected_at`` in ``tz``. ``kind`` is ``duplicate`` or ``invalid``."""
    table = _rejected_table(settings)
    from pyiceberg.expressions import AlwaysTrue, EqualTo

    columns = ("job_id", "dataset", "record_index", "raw", "violations", "rejected_at")
    try:
        arrow = table.scan(
            row_filter=EqualTo("job_id", job_id) if job_id else AlwaysTrue(), selected_fields=columns, limit=limit
        ).to_arrow()
    except Exception as exc:
        raise SourceUnavailable(f"Cannot read raw.rejected_records: {exc}") from exc
    return violations_frame(arrow.to_pylist(), tz)


def violations_frame(records: Iterable[dict[str, Any]], tz: str = "UTC") -> pd.DataFrame:
    """Rows of raw.rejected_records as one row per violation (``violations`` is a JSON array)."""
    rows = []
    for record in records:
        try:
            violations = json.loads(record.get("violations") or "[]")
        except ValueError:
            violations = [{"rule": "unknown", "message": record.get("violations")}]
        if not violations:
            violations = [{"rule": "unknown"}]
        kind = "duplicate" if all(v.get("rule") == DUPLICATE_RULE for v in violations) else "invalid"
        for violation in violations:
            value = violation.get("value")
            rows.append({
                "rejected_at": record.get("rejected_at"),
                "job_id": record.get("job_id"),
                "dataset": record.get("dataset"),
                "record_index": record.get("record_index"),
                "kind": kind,
                "rule": violation.get("rule"),
                "field": violation.get("field"),
                "value": value if value is None or isinstance(value, str) else json.dumps(value),
                "message": violation.get("message"),
                "raw": record.get("raw"),
            })
    frame = pd.DataFrame(rows, columns=VIOLATION_COLUMNS)
    frame["rejected_at"] = _to_zone(pd.to_datetime(frame["rejected_at"], utc=True), tz)
    frame["record_index"] = frame["record_index"].astype("Int64")
    return frame.sort_values(["rejected_at", "job_id", "record_index"], ascending=[False, True, True]).reset_index(
        drop=True
    )


def filter_rejects(frame: pd.DataFrame, filters: RejectFilters) -> pd.DataFrame:
    """The violations of the chosen jobs, datasets and rules (an empty choice keeps all)."""
    keep = pd.Series(True, index=frame.index)
    if filters.job_ids:
        keep &= frame["job_id"].isin(filters.job_ids)
    if filters.datasets:
        keep &= frame["dataset"].isin(filters.datasets)
    if filters.rules:
        keep &= frame["rule"].isin(filters.rules)
    return frame[keep].reset_index(drop=True)


def by_reason(frame: pd.DataFrame) -> pd.DataFrame:
    """Records per reason (kind, rule, field), most first."""
    if frame.empty:
        return pd.DataFrame(columns=REASON_COLUMNS)
    return (
        frame.groupby(["kind", "rule", "field"], dropna=False)
        .apply(lambda g: g[["job_id", "record_index"]].drop_duplicates().shape[0], include_groups=False)
        .rename("records")
        .reset_index()
        .sort_values(["records", "rule", "field"], ascending=[False, True, True])
        .reset_index(drop=True)
    )


def record_count(frame: pd.DataFrame) -> int:
    """Rejected records in ``frame`` (a record may have several violation rows)."""
    return int(frame[["job_id", "record_index"]].drop_duplicates().shape[0]) if len(frame) else 0


def to_csv(frame: pd.DataFrame) -> bytes:
    """The violations as CSV (UTF-8, a header, times in ISO-8601 with their offset)."""
    out = frame.copy()
    out["rejected_at"] = out["rejected_at"].map(lambda t: t.isoformat() if pd.notna(t) else "")
    return out.to_csv(index=False).encode("utf-8")
