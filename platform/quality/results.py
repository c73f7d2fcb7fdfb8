"""The outcome of a suite run (:class:`QualityResult`, plain JSON-safe data) and its
store, the ``quality_results`` table of the job database: :func:`record_result`
writes one for the dashboard, :func:`recent_results` reads them back.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Engine

logger = logging.getLogger("eventlake.quality")

RESULTS_TABLE = "quality_results"


@dataclass
class QualityResult:
    """Outcome of one suite on one dataset: plain data, JSON-safe ``results``."""

    suite: str
    asset: str
    success: bool
    evaluated_expectations: int
    successful_expectations: int
    results: list[dict[str, Any]]
    row_count: int = 0
    run_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    data_docs: str | None = None  # URL of the run's Data Docs page (file:// or https://), when built
    data_docs_index: str | None = None  # URL of the Data Docs site's index

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.results if not r["success"]]

    @property
    def critical_failures(self) -> list[dict[str, Any]]:
        """Failed expectations of severity ``critical``: the data must not flow on."""
        return [r for r in self.failed if r.get("severity", "critical") == "critical"]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["run_at"] = self.run_at.isoformat()
        return data


def json_safe(value: Any) -> Any:
    """Plain JSON types only: numpy/pandas scalars unwrapped, NaN -> None, times -> ISO text."""
    if value is None or type(value).__name__ in ("NaTType", "NAType"):
        return None
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return json_safe(float(value))
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    item = getattr(value, "item", None)  # numpy scalar
    if callable(item):
        try:
            return json_safe(item())
        except (TypeError, ValueError):
            pass
    isoformat = getattr(value, "isoformat", None)  # pandas Timestamp
    if callable(isoformat):
        try:
            return isoformat()
        except (TypeError, ValueError):  # NaT
            return None
    return str(value)


@lru_cache(maxsize=16)
def _engine(db_url: str) -> Engine:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url, pool_pre_ping=True)


@lru_cache(maxsize=1)
def _results_table() -> Table:
    from sqlalchemy import Boolean, Column, DateTime, Index, Integer, MetaData, String, Table, Text

    metadata = MetaData()
    return Table(
        RESULTS_TABLE,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("run_at", DateTime(timezone=True), nullable=False),
        Column("suite", String(200), nullable=False),
        Column("asset", String(200), nullable=False),
        Column("success", Boolean, nullable=False),
        Column("evaluated", Integer, nullable=False),
        Column("successful", Integer, nullable=False),
        Column("details_json", Text, nullable=False),
        Column("run_id", String(200), nullable=True),
        Index("ix_quality_results_run_at", "run_at"),
    )


def _ensure_table(engine: Engine) -> Table:
    table = _results_table()
    table.metadata.create_all(engine, checkfirst=True)
    return table


def record_result(db_url: str, result: QualityResult, run_id: str | None = None) -> int:
    """Store ``result`` in ``quality_results`` (created if missing); returns the row id."""
    engine = _engine(db_url)
    table = _ensure_table(engine)
    details = {
        "row_count": result.row_count,
        "results": result.results,
        "data_docs": result.data_docs,
        "data_docs_index": result.data_docs_index,
    }
    with engine.begin() as con:
        inserted = con.execute(
            table.insert().values(
                run_at=result.run_at.astimezone(UTC),
                suite=result.suite,
                asset=result.asset,
                success=result.success,
                evaluated=result.evaluated_expectations,
                successful=result.successful_expectations,
                details_json=json.dumps(json_safe(details), allow_nan=False),
                run_id=run_id,
            )
        )
        row_id = int(inserted.inserted_primary_key[0])
    logger.info("recorded quality result %d: suite %s on %s success=%s", row_id, result.suite, result.asset, result.success)
    return row_id


def recent_results(db_url: str, limit: int = 50) -> list[dict[str, Any]]:
    """The latest ``limit`` stored results, newest first, details parsed.

    Each row: id, run_at (aware UTC datetime), suite, asset, success,
    evaluated, successful, run_id, row_count, results (the per-expectation
    list of :class:`QualityResult`, each failure with its ``failing_keys``),
    data_docs and data_docs_index (URLs of the run's Data Docs page and the
    site's index; None when none was built).
    """
    from sqlalchemy import select

    engine = _engine(db_url)
    table = _ensure_table(engine)
    query = select(table).order_by(table.c.run_at.desc(), table.c.id.desc()).limit(limit)
    with engine.connect() as con:
        rows = con.execute(query).mappings().all()
    out = []
    for row in rows:
        details = json.loads(row["details_json"])
        run_at = row["run_at"]
        if run_at.tzinfo is None:  # SQLite drops the zone; values are stored in UTC
            run_at = run_at.replace(tzinfo=UTC)
        out.append(
            {
                "id": row["id"],
                "run_at": run_at,
                "suite": row["suite"],
                "asset": row["asset"],
                "success": bool(row["success"]),
                "evaluated": row["evaluated"],
                "successful": row["successful"],
                "run_id": row["run_id"],
                "row_count": details.get("row_count"),
                "results": details.get("results", []),
                "data_docs": details.get("data_docs"),
                "data_docs_index": details.get("data_docs_index"),
            }
        )
    return out


def latest_data_docs(db_url: str, *, scan: int = 500) -> dict[str, dict[str, Any]]:
    """The newest Data Docs page of each suite, for the dashboard: ``{suite: row}``.

    ``row`` is the newest stored result of the suite that has a page (the
    :func:`recent_results` row: ``data_docs`` is the page's URL, ``data_docs_index``
    the site's index, plus run_at, success, run_id, results with their
    ``failing_keys``), among the newest ``scan`` results. Suites without a page are absent.
    """
    latest: dict[str, dict[str, Any]] = {}
    for row in recent_results(db_url, limit=scan):
        if row["data_docs"] and row["suite"] not in latest:
            latest[row["suite"]] = row
    return latest
