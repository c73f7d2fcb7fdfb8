"""The dedup index: the keys ``raw.events`` holds within the window, kept in Rust.

A record whose key (``event_id``) an earlier job already stored within the
window (``EVENTLAKE_DEDUP_WINDOW_DAYS`` of ``ingested_at``, default 7) is a
duplicate, whatever the timing: in the same pass or days later, before or after
a restart. It is kept in ``raw.rejected_records`` with rule ``duplicate`` and
counted in the job's ``duplicate_count``.

The index is derived state. On start it is loaded from the table (the key,
``job_id`` and ``ingested_at`` columns of the rows inside the window); before
each pass it catches up with the snapshots committed since (by this consumer
or any other writer) by reading only the data files they added. A history that
is not a descendant of what it loaded (a rollback) makes it load again.

``data_processor_rs.process(..., index=)`` checks each key against it and adds
the keys it keeps as *pending*; the consumer promotes them after its commit
landed (``committed()``) or drops them (``rolled_back()``).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from eventlake import lake

if TYPE_CHECKING:
    from pyiceberg.table import Table

log = logging.getLogger("eventlake.dedup_index")

JOB_COLUMN = "job_id"
STORED_AT_COLUMN = "ingested_at"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def day_number(at: datetime) -> int:
    """Days since 1970-01-01 (UTC) of ``at``."""
    return (at - _EPOCH).days


class DedupIndex:
    """The keys of one table within the window (see the module docstring)."""

    def __init__(self, key: str, window_days: int):
        import data_processor_rs as dp

        self.key = key
        self.window_days = window_days
        self.index = dp.KeyIndex()
        self.snapshot_id: int | None = None  # the table snapshot the committed layer reflects
        self._evicted_on: int | None = None

    def __len__(self) -> int:
        return len(self.index)

    def cutoff(self, now: datetime | None = None) -> int:
        """First day inside the window."""
        return day_number(now or datetime.now(UTC)) - self.window_days + 1

    # -- keeping current -----------------------------------------------------------
    def catch_up(self, table: Table) -> None:
        """Bring the committed layer to the table's current snapshot (the table must be refreshed)."""
        current = table.metadata.current_snapshot()
        current_id = current.snapshot_id if current else None
        if current_id == self.snapshot_id:
            self._evict()
            return
        added = self._snapshots_since(table, current)
        if added is None:
            self.load(table)
            return
        started = time.perf_counter()
        rows = 0
        for snapshot in added:
            rows += self._add_files(table, lake.added_files(table, snapshot))
        self.snapshot_id = current_id
        self._evict()
        if rows:
            log.debug("dedup index: %d keys from %d snapshot(s) in %.3fs", rows, len(added), time.perf_counter() - started)

    def load(self, table: Table) -> None:
        """Load the committed layer from the table's rows inside the window."""
        from pyiceberg.expressions import GreaterThanOrEqual

        started = time.perf_counter()
        self.index.clear_committed()
        current = table.metadata.current_snapshot()
        if current is not None:
            since = (_EPOCH + timedelta(days=self.cutoff())).isoformat()
            scan = table.scan(
                row_filter=GreaterThanOrEqual(STORED_AT_COLUMN, since),
                selected_fields=(self.key, JOB_COLUMN, STORED_AT_COLUMN),
                snapshot_id=current.snapshot_id,
            )
            for batch in scan.to_arrow_batch_reader():
                self.index.add_table(batch, key=self.key, job=JOB_COLUMN, stored_at=STORED_AT_COLUMN)
        self.snapshot_id = current.snapshot_id if current else None
        self._evicted_on = None
        self._evict()
        log.info(
            "dedup index for %s: %d keys of the last %d days loaded in %.2fs (%.1f MB)",
            ".".join(table.name()), len(self.index), self.window_days, time.perf_counter() - started,
            self.index.memory_bytes() / 1e6,
        )

    def _evict(self) -> None:
        cutoff = self.cutoff()
        if self._evicted_on == cutoff:
            return
        dropped = self.index.evict_before(cutoff)
        self._evicted_on = cutoff
        if dropped:
            log.info("dedup index: %d keys older than %d days dropped", dropped, self.window_days)

    def _snapshots_since(self, table: Table, current) -> list | None:
        """Snapshots after ``self.snapshot_id`` up to ``current``, oldest first; None = load again."""
        if self.snapshot_id is None or current is None:
            return None
        chain = []
        snapshot = current
        while snapshot is not None and snapshot.snapshot_id != self.snapshot_id:
            operation = snapshot.summary.operation.value if snapshot.summary else "append"
            if operation not in ("append", "replace"):
                return None  # rows were deleted or overwritten: the keys may be gone
            chain.append(snapshot)
            parent = snapshot.parent_snapshot_id
            snapshot = table.metadata.snapshot_by_id(parent) if parent is not None else None
        if snapshot is None:
            return None  # not a descendant (a rollback, or expired history)
        # a replace (compaction) rewrites rows that are already indexed
        return [s for s in reversed(chain) if not s.summary or s.summary.operation.value == "append"]

    def _add_files(self, table: Table, paths: list[str]) -> int:
        import pyarrow.parquet as pq

        rows = 0
        columns = [self.key, JOB_COLUMN, STORED_AT_COLUMN]
        for path in paths:
            with table.io.new_input(path).open() as f:
                data = pq.read_table(f, columns=columns)
            rows += self.index.add_table(data, key=self.key, job=JOB_COLUMN, stored_at=STORED_AT_COLUMN)
        return rows

    # -- the pass's pending keys ------------------------------------------------------
    def conflicts(self, table: Table) -> int:
        """Catch up with the (refreshed) table; how many pending keys another job stored meanwhile.

        Consumers on other shards commit concurrently: a key this pass kept
        may have been stored by one of them after this pass checked it.
        """
        self.catch_up(table)
        return self.index.pending_conflicts()

    def committed(self, table: Table, snapshot_id: int | None) -> None:
        """The pass's commit landed as ``snapshot_id`` (None: no rows of this table): keep its keys."""
        self.index.commit_pending()
        snapshot = table.metadata.snapshot_by_id(snapshot_id) if snapshot_id is not None else None
        if snapshot is not None and snapshot.parent_snapshot_id == self.snapshot_id:
            self.snapshot_id = snapshot_id  # nothing else landed in between: no need to read our files back

    def rolled_back(self) -> None:
        self.index.rollback_pending()
