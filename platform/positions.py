"""Read positions: how far the stream has been read *and fully committed*, per dataset and shard.

Written only after every table of a batch has committed, so it is a safe place
to resume reading from; the tables' own positions (``eventlake.checkpoints``)
still decide what is appended. Without it, a shard that never carries (say)
users would be re-read from the start on every pass just because raw.users
has no position for it. Positions only move forward.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from eventlake.checkpoints import Checkpoint, seq
from eventlake.state.database import create_tables

_meta = sa.MetaData()
positions_table = sa.Table(
    "consumer_positions",
    _meta,
    sa.Column("stream", sa.String(256), primary_key=True),
    sa.Column("dataset", sa.String(64), primary_key=True),
    sa.Column("shard_id", sa.String(128), primary_key=True),
    sa.Column("sequence_number", sa.String(128), nullable=False),
)


class ReadPositions:
    def __init__(self, engine: sa.Engine, stream: str):
        self.engine = engine
        self.stream = stream
        create_tables(_meta, engine)

    def get(self, dataset: str) -> Checkpoint:
        c = positions_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(c.shard_id, c.sequence_number).where(c.stream == self.stream, c.dataset == dataset)
            ).all()
        return {r.shard_id: r.sequence_number for r in rows}

    def advance(self, datasets: Iterable[str], positions: Checkpoint) -> None:
        """Move each dataset's shards forward to ``positions`` (never backwards), in one short transaction."""
        c = positions_table.c
        datasets = list(datasets)
        current = {d: self.get(d) for d in datasets}  # read outside the write transaction
        with self.engine.begin() as conn:
            for dataset in datasets:
                for shard, sequence in positions.items():
                    stored = current[dataset].get(shard)
                    if stored is None:
                        conn.execute(
                            sa.insert(positions_table).values(
                                stream=self.stream, dataset=dataset, shard_id=shard, sequence_number=sequence
                            )
                        )
                    elif seq(sequence) > seq(stored):
                        # the guard keeps a concurrent, further advance from being undone
                        conn.execute(
                            sa.update(positions_table)
                            .where(c.stream == self.stream, c.dataset == dataset, c.shard_id == shard,
                                   c.sequence_number == stored)
                            .values(sequence_number=sequence)
                        )
