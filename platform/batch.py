"""What one drain pass read and processed: planned by ``Consumer.plan``, committed by ``committer.commit_batch``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from eventlake.checkpoints import Checkpoint

if TYPE_CHECKING:
    from pyiceberg.table import Table

    from eventlake.leases import ShardLeases
    from eventlake.positions import ReadPositions


@dataclass
class ChunkOutcome:
    """One stream record (a chunk of one job) and what became of its records."""

    job_id: str
    part: int
    dataset: str
    shard_id: str
    sequence_number: str
    first_index: int
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    #: why some of its records were set aside at write time (see ``committer``)
    error: str | None = None


@dataclass
class Prewrite:
    """Data files of ``DatasetBatch.valid[start:end]``, written in the background while the plan went on.

    The future gives ``lake.write_data_files``' result: (file metadata, staging directory or None).
    The files are in the table's location but in no snapshot until the batch commits them.
    """

    table: Table
    start: int
    end: int
    future: Future
    #: the row tables written, to tell whether ``valid[start:end]`` still holds exactly them
    rows: tuple[pa.Table, ...] = ()

    def covers(self, pieces: list[tuple[ChunkOutcome, pa.Table]]) -> bool:
        held = pieces[self.start : self.end]
        return len(held) == len(self.rows) and all(r is t for (_, r), t in zip(held, self.rows, strict=True))

    def discard(self) -> None:
        """Delete the files once written (an uncommitted file is an orphan, never data)."""
        from eventlake import lake

        try:
            files, staging = self.future.result()
        except Exception:  # noqa: BLE001 - nothing was written, or the writer cleaned up
            return
        lake.delete_quietly(self.table, [f["file_path"] for f in files])
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


@dataclass
class DatasetBatch:
    dataset: str
    #: valid rows per chunk, only for chunks the table does not hold yet
    valid: list[tuple[ChunkOutcome, pa.Table]] = field(default_factory=list)
    #: rejected rows (rejected_records layout), only for chunks that table does not hold yet
    rejected: list[pa.Table] = field(default_factory=list)
    #: the tables' positions when the batch was planned (a commit lands only if they still hold)
    valid_base: Checkpoint = field(default_factory=dict)
    rejected_base: Checkpoint = field(default_factory=dict)
    #: the positions after this batch
    valid_checkpoint: Checkpoint = field(default_factory=dict)
    rejected_checkpoint: Checkpoint = field(default_factory=dict)
    chunks: list[ChunkOutcome] = field(default_factory=list)
    #: ``valid`` already written as data files, in order (``committer.write_valid`` uses them)
    prewrites: list[Prewrite] = field(default_factory=list)

    def take_prewrites(self) -> list[Prewrite]:
        taken, self.prewrites = self.prewrites, []
        return taken


@dataclass
class IngestBatch:
    """What one drain pass read and processed; committed by ``committer.commit_batch``."""

    datasets: dict[str, DatasetBatch] = field(default_factory=dict)
    stream_records: int = 0
    # last sequence number read per shard, and where to record it once committed
    read_to: Checkpoint = field(default_factory=dict)
    positions: ReadPositions | None = None
    # the shard leases the batch was planned under, and their epochs then (the commit's fence)
    leases: ShardLeases | None = None
    epochs: dict[str, int] = field(default_factory=dict)
    # per dataset: raises StaleBatch when a key the batch kept was stored by another consumer meanwhile
    key_checks: dict[str, Callable[[Any], None]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.stream_records == 0

    def discard(self) -> None:
        """Delete the data files written for a batch that will not be committed."""
        for dbatch in self.datasets.values():
            for prewrite in dbatch.take_prewrites():
                prewrite.discard()

    def job_ids(self) -> set[str]:
        return {c.job_id for d in self.datasets.values() for c in d.chunks}

    def summary(self) -> dict[str, int]:
        chunks = [c for d in self.datasets.values() for c in d.chunks]
        return {
            "stream_records": self.stream_records,
            "accepted": sum(c.accepted for c in chunks),
            "rejected": sum(c.rejected for c in chunks),
            "duplicates": sum(c.duplicates for c in chunks),
        }


def constant(value: Any, type_: pa.DataType, n: int) -> pa.Array:
    """``n`` copies of ``value`` (``pa.repeat`` builds them one by one, many times slower)."""
    import numpy as np

    if pa.types.is_timestamp(type_):
        return pa.array(np.full(n, pa.scalar(value, type_).value, dtype=np.int64)).view(type_)
    return pa.array([value], type_).take(pa.array(np.zeros(n, dtype=np.int32)))


def rejected_rows(
    *, job_id: str, dataset: str, record_index: pa.Array, raw: pa.Array, violations: pa.Array, now: datetime
) -> pa.Table:
    """Rows in the layout of ``raw.rejected_records``."""
    n = len(record_index)
    return pa.table(
        {
            "job_id": constant(job_id, pa.string(), n),
            "dataset": constant(dataset, pa.string(), n),
            "record_index": record_index.cast(pa.int64()),
            "raw": raw.cast(pa.string()),
            "violations": violations.cast(pa.string()),
            "rejected_at": constant(now, pa.timestamp("us", tz="UTC"), n),
        }
    )


def violation_json(rule: str, message: str, field_name: str | None = None) -> str:
    return json.dumps([{"field": field_name, "rule": rule, "value": None, "message": message}])


@dataclass
class DrainResult:
    """What ``Consumer.drain`` did for a raw asset: totals per pass summed, or why it did nothing."""

    totals: dict[str, int] = field(default_factory=dict)
    #: set when another consumer keeps the tables current and this drain did not run
    skipped: str | None = None
