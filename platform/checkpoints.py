"""The checkpoint format: what each Iceberg snapshot says about the stream it includes.

Every commit the consumer makes to a raw table stores, in its snapshot summary,

* ``eventlake.checkpoint.<dataset>``: ``{shard: last sequence number}`` of the
  stream records of ``<dataset>`` the table now includes, as Kafka Connect's
  Iceberg sink does;
* ``eventlake.fence.<dataset>``: ``{shard: lease epoch}`` of the consumer that
  committed them. A commit made under an older epoch than the one stored is
  refused (see ``eventlake.committer``), so a consumer that lost its lease
  while paused can never commit again.

The summary of each snapshot carries the positions of every dataset the table
holds (``raw.rejected_records`` holds several), so the newest snapshot with any
checkpoint is the whole truth.
"""

from __future__ import annotations

import json
from typing import Any

CHECKPOINT_PREFIX = "eventlake.checkpoint."
FENCE_PREFIX = "eventlake.fence."
Checkpoint = dict[str, str]  # shard id -> last committed sequence number
Fence = dict[str, int]  # shard id -> lease epoch of the last commit


def seq(value: str) -> int:
    """Sort key of a sequence number (decimal strings on both stream backends)."""
    return int(value)


def checkpoint_key(dataset: str) -> str:
    return CHECKPOINT_PREFIX + dataset


def fence_key(dataset: str) -> str:
    return FENCE_PREFIX + dataset


def _summary_with_checkpoints(table: Any) -> dict[str, str]:
    """Summary properties of the newest snapshot that carries any checkpoint (walks parents).

    Snapshots written without positions (a manual append through the IO
    manager, a compaction) are skipped over.
    """
    metadata = table.metadata
    snapshot = metadata.current_snapshot()
    while snapshot is not None:
        summary = snapshot.summary.additional_properties if snapshot.summary else {}
        if any(key.startswith(CHECKPOINT_PREFIX) for key in summary):
            return summary
        if snapshot.parent_snapshot_id is None:
            break
        snapshot = metadata.snapshot_by_id(snapshot.parent_snapshot_id)
    return {}


def _by_dataset(summary: dict[str, str], prefix: str) -> dict[str, dict]:
    return {key[len(prefix) :]: json.loads(value) for key, value in summary.items() if key.startswith(prefix)}


def read_checkpoints(table: Any) -> dict[str, Checkpoint]:
    """``{dataset: {shard: sequence}}`` stored in the table (as loaded; refresh first for the latest)."""
    return _by_dataset(_summary_with_checkpoints(table), CHECKPOINT_PREFIX)


def read_state(table: Any) -> tuple[dict[str, Checkpoint], dict[str, Fence]]:
    """Positions and fences stored in the table: ``({dataset: checkpoint}, {dataset: fence})``."""
    summary = _summary_with_checkpoints(table)
    return _by_dataset(summary, CHECKPOINT_PREFIX), _by_dataset(summary, FENCE_PREFIX)


def advance(checkpoint: Checkpoint, shard: str, sequence: str) -> None:
    """Move ``shard`` forward to ``sequence`` (never backwards)."""
    if shard not in checkpoint or seq(sequence) > seq(checkpoint[shard]):
        checkpoint[shard] = sequence


def includes(checkpoint: Checkpoint, shard: str, sequence: str) -> bool:
    """Whether a table at ``checkpoint`` already holds the record ``sequence`` of ``shard``."""
    return shard in checkpoint and seq(sequence) <= seq(checkpoint[shard])


def summary_properties(positions: dict[str, Checkpoint], fences: dict[str, Fence]) -> dict[str, str]:
    """Snapshot summary properties carrying ``positions`` and ``fences`` of every dataset."""
    props = {checkpoint_key(d): json.dumps(c, sort_keys=True) for d, c in positions.items()}
    props.update({fence_key(d): json.dumps(f, sort_keys=True) for d, f in fences.items()})
    return props
