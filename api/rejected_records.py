"""Read one job's rows of ``raw.rejected_records`` (layout: ``eventlake.contracts``), a page at a time.

Both reads are Iceberg scans filtered on ``job_id``: pyiceberg skips the data files whose
``job_id`` bounds exclude the job and filters the rows of the others, so the rows of other
jobs never reach Python. The first scan reads only ``record_index`` (and ``violations``
when filtering by rule) to count the job's rows and choose the page; the second reads the
page's rows in full, so the raw records of other pages are never loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eventlake import contracts

#: ``raw.rejected_records`` as a catalog identifier.
TABLE = (contracts.RAW_NAMESPACE, contracts.REJECTED_TABLE)


@dataclass(frozen=True)
class RejectedPage:
    total: int
    rows: list[dict[str, Any]]  # record_index, raw, violations (parsed), rejected_at


def parse_violations(text: str | None) -> list[dict[str, Any]]:
    """The ``violations`` column (a JSON array of ``{field, rule, value, message}``) as a list."""
    if not text:
        return []
    value = json.loads(text)
    return value if isinstance(value, list) else [value]


def _has_rule(text: str | None, rule: str) -> bool:
    return any(isinstance(v, dict) and v.get("rule") == rule for v in parse_violations(text))


def read_page(catalog: Any, job_id: str, *, limit: int, offset: int, rule: str | None = None) -> RejectedPage:
    """The job's rejected records ordered by ``record_index``: ``limit`` of them from ``offset``.

    ``rule``: only records with a violation of that rule. A catalog without the table (no
    consumer has committed yet) holds no rejects.
    """
    from pyiceberg.exceptions import NoSuchTableError
    from pyiceberg.expressions import And, EqualTo, In

    try:
        table = catalog.load_table(TABLE)
    except NoSuchTableError:
        return RejectedPage(0, [])
    of_job = EqualTo("job_id", job_id)
    fields = ("record_index", "violations") if rule is not None else ("record_index",)
    index = table.scan(row_filter=of_job, selected_fields=fields).to_arrow()
    positions = index.column("record_index").to_pylist()
    if rule is not None:
        violations = index.column("violations").to_pylist()
        positions = [p for p, v in zip(positions, violations, strict=True) if _has_rule(v, rule)]
    positions.sort()
    page = positions[offset : offset + limit]
    if not page:
        return RejectedPage(len(positions), [])
    wanted = set(page)
    rows = table.scan(
        row_filter=And(of_job, In("record_index", wanted)),
        selected_fields=("record_index", "raw", "violations", "rejected_at"),
    ).to_arrow().to_pylist()
    if rule is not None:
        rows = [r for r in rows if _has_rule(r["violations"], rule)]
    rows.sort(key=lambda r: (r["record_index"], r["rejected_at"]))
    return RejectedPage(
        len(positions), [{**r, "violations": parse_violations(r["violations"])} for r in rows]
    )
