"""Time travel and rollback on the raw Iceberg tables: history, reads as of a snapshot, rollback.

``eventlake table history|show|as-of|rollback`` and ``GET /api/v1/tables/{name}/snapshots`` are
thin layers over this module. No pyiceberg import at module import time.

Rollback and the stream positions (see docs/time_travel.md): every consumer commit stores the
stream positions the table includes in its snapshot summary (``eventlake.checkpoints``), and the
consumer decides what to append from the current snapshot's positions, but it *reads* the stream
from its read positions (``eventlake.positions``), which only move forward. Rolling a table back
with pyiceberg alone therefore makes the table forget the records committed after the target while
the consumer reads on past them: they are lost, silently. :func:`rollback` moves the read
positions back with the table, so the consumer replays exactly those records from the stream
(job counts do not change: ``record_chunks`` records a chunk once). Before it does anything,
:func:`plan_rollback` reports which positions move, how many stream records and which jobs will
be replayed, how many rows that brings back (from the chunks' recorded outcomes), and refuses
(unless forced) when the stream no longer holds every job whose rows go, when the rows would not
all come back, or while a consumer is running.
"""

from __future__ import annotations

import getpass
import json
import logging
import socket
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eventlake import checkpoints, contracts, lake

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table
    from pyiceberg.table.snapshots import Snapshot

    from eventlake.settings import Settings

log = logging.getLogger("eventlake.table")

#: The job id column every raw table has (the consumer writes it on every row).
JOB_COLUMN = "job_id"
AUDIT_FILE = "audit.log"


class TimeTravelError(Exception):
    """A request this module cannot serve; the message says why and what to do."""


class UnknownTable(TimeTravelError, LookupError):
    pass


class UnknownSnapshot(TimeTravelError, LookupError):
    pass


class RollbackRefused(TimeTravelError):
    """The rollback would lose or duplicate records, or a consumer is running (``force`` overrides)."""


# -- tables -------------------------------------------------------------------------
def table_names() -> list[str]:
    """The lake's tables, as ``raw.<name>``."""
    return [f"{contracts.RAW_NAMESPACE}.{name}" for name in contracts.CONTRACTS]


def table_name(name: str) -> str:
    """``name`` as ``raw.<name>`` (``events`` and ``raw.events`` both name raw.events)."""
    full = name if "." in name else f"{contracts.RAW_NAMESPACE}.{name}"
    if full not in table_names():
        raise UnknownTable(f"no table {name!r}; the tables are {', '.join(table_names())}")
    return full


def open_catalog(settings: Settings) -> Catalog:
    """The catalog of ``settings``, creating nothing (no SQLite file where there is none)."""
    from pathlib import Path

    from pyiceberg.catalog import load_catalog

    url = settings.catalog_url
    if settings.catalog_type == "sql" and url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise UnknownTable(f"no Iceberg catalog at {url} yet (EVENTLAKE_HOME={settings.home}): nothing was ingested")
    return load_catalog(settings.catalog_name, **settings.catalog_properties())


def load_table(catalog: Catalog, name: str) -> Table:
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    full = table_name(name)
    try:
        return catalog.load_table(full)
    except (NoSuchTableError, NoSuchNamespaceError) as exc:
        raise UnknownTable(f"table {full} does not exist yet (nothing was ingested into it)") from exc


# -- history ------------------------------------------------------------------------
@dataclass
class SnapshotInfo:
    """One snapshot as `history` shows it."""

    snapshot_id: int
    parent_id: int | None
    timestamp: str  # ISO 8601, UTC
    timestamp_ms: int
    operation: str | None
    added_records: int | None
    total_records: int | None
    #: stream positions stored in this snapshot's summary, ``{dataset: {shard: sequence}}`` (empty when it stores none)
    positions: dict[str, dict[str, str]]
    #: positions the table includes as of this snapshot (its own, or its nearest ancestor's)
    effective_positions: dict[str, dict[str, str]]
    #: distinct ``job_id`` of the rows this snapshot added (None: not read, or not an append)
    job_ids: list[str] | None
    current: bool
    #: an ancestor of (or) the current snapshot; False for snapshots undone by a rollback
    in_current_lineage: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _summary(snapshot: Snapshot) -> dict[str, str]:
    return dict(snapshot.summary.additional_properties) if snapshot.summary else {}


def _int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


def stored_positions(snapshot: Snapshot) -> dict[str, dict[str, str]]:
    """The ``{dataset: {shard: sequence}}`` stored in ``snapshot``'s own summary."""
    prefix = checkpoints.CHECKPOINT_PREFIX
    return {k[len(prefix):]: json.loads(v) for k, v in _summary(snapshot).items() if k.startswith(prefix)}


def effective_positions(table: Table, snapshot: Snapshot | None) -> dict[str, dict[str, str]]:
    """The positions a table at ``snapshot`` includes: those of the nearest snapshot (itself or an
    ancestor) that stores any, as the consumer reads them (``checkpoints.read_checkpoints``)."""
    while snapshot is not None:
        found = stored_positions(snapshot)
        if found:
            return found
        if snapshot.parent_snapshot_id is None:
            break
        snapshot = table.metadata.snapshot_by_id(snapshot.parent_snapshot_id)
    return {}


def lineage(table: Table) -> list[int]:
    """Ids of the current snapshot and its ancestors, newest first."""
    from pyiceberg.table.snapshots import ancestors_of

    return [s.snapshot_id for s in ancestors_of(table.metadata.current_snapshot(), table.metadata)]


def added_job_ids(table: Table, snapshot: Snapshot) -> list[str]:
    """Distinct job ids of the rows ``snapshot`` added: reads the ``job_id`` column of its added
    files only (one column chunk per file), not the table."""
    import pyarrow.parquet as pq

    jobs: set[str] = set()
    for path in lake.added_files(table, snapshot):
        with table.io.new_input(path).open() as f:
            column = pq.read_table(f, columns=[JOB_COLUMN]).column(JOB_COLUMN)
        jobs.update(j for j in column.unique().to_pylist() if j is not None)
    return sorted(jobs)


def snapshot_info(table: Table, snapshot: Snapshot, *, with_jobs: bool = True, in_lineage: set[int] | None = None) -> SnapshotInfo:
    summary = _summary(snapshot)
    operation = snapshot.summary.operation.value if snapshot.summary else None
    current = table.metadata.current_snapshot()
    in_lineage = in_lineage if in_lineage is not None else set(lineage(table))
    return SnapshotInfo(
        snapshot_id=snapshot.snapshot_id,
        parent_id=snapshot.parent_snapshot_id,
        timestamp=datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC).isoformat(timespec="milliseconds"),
        timestamp_ms=snapshot.timestamp_ms,
        operation=operation,
        added_records=_int(summary.get("added-records")),
        total_records=_int(summary.get("total-records")),
        positions=stored_positions(snapshot),
        effective_positions=effective_positions(table, snapshot),
        job_ids=added_job_ids(table, snapshot) if with_jobs and operation == "append" else None,
        current=current is not None and current.snapshot_id == snapshot.snapshot_id,
        in_current_lineage=snapshot.snapshot_id in in_lineage,
    )


def history(table: Table, *, with_jobs: bool = True, limit: int | None = None) -> list[SnapshotInfo]:
    """The table's snapshots, oldest first (the last ``limit`` when given).

    ``with_jobs`` reads the ``job_id`` column of every added data file of the snapshots shown:
    one small read per file, so a long history with many files costs that many reads.
    """
    snapshots = sorted(table.metadata.snapshots, key=lambda s: (s.timestamp_ms, s.sequence_number or 0))
    if limit is not None:
        snapshots = snapshots[-limit:] if limit > 0 else []
    in_lineage = set(lineage(table))
    return [snapshot_info(table, s, with_jobs=with_jobs, in_lineage=in_lineage) for s in snapshots]


def get_snapshot(table: Table, snapshot_id: int) -> Snapshot:
    snapshot = table.metadata.snapshot_by_id(snapshot_id)
    if snapshot is None:
        raise UnknownSnapshot(f"{'.'.join(table.name())} has no snapshot {snapshot_id} "
                              f"(see `eventlake table history {'.'.join(table.name())}`)")
    return snapshot


# -- reading the past ---------------------------------------------------------------
def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 timestamp; without a zone it is UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise TimeTravelError(f"not an ISO 8601 timestamp: {text!r} (e.g. 2026-03-01T10:00:00Z)") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def snapshot_as_of(table: Table, when: datetime) -> Snapshot:
    """The snapshot that was current at ``when``, from the table's snapshot log (so a rollback
    since then does not change the answer)."""
    ms = int(when.timestamp() * 1000)
    snapshot = table.snapshot_as_of_timestamp(ms)
    if snapshot is None:
        first = table.history()[0].timestamp_ms if table.history() else None
        since = f"; its first snapshot is from {datetime.fromtimestamp(first / 1000, UTC).isoformat()}" if first else ""
        raise UnknownSnapshot(f"{'.'.join(table.name())} had no snapshot at {when.isoformat()}{since}")
    return snapshot


def read_rows(table: Table, snapshot_id: int | None, *, limit: int | None = None) -> pa.Table:
    """The table's rows as of ``snapshot_id`` (None: the current snapshot), at most ``limit``."""
    if snapshot_id is not None:
        get_snapshot(table, snapshot_id)
    return table.scan(snapshot_id=snapshot_id, limit=limit).to_arrow()


# -- rollback -----------------------------------------------------------------------
@dataclass
class PositionMove:
    dataset: str
    shard: str
    from_sequence: str | None
    to_sequence: str | None  # None: the table holds nothing of this shard then: replay from the shard's start


@dataclass
class RollbackPlan:
    """What a rollback of ``table`` from ``from_snapshot_id`` to ``to_snapshot_id`` does (see the module docstring)."""

    table: str
    from_snapshot_id: int
    to_snapshot_id: int
    undone_snapshots: list[int]
    rows_removed: int
    moves: list[PositionMove]
    #: stream records (chunks) of the table's datasets after the target's positions, up to the current ones
    replay_chunks: int = 0
    #: records those chunks hold (valid, invalid and duplicates)
    replay_records: int = 0
    #: rows the replay brings back into this table, from the chunks' recorded outcomes (None: some unrecorded)
    rows_back: int | None = 0
    replay_jobs: list[str] = field(default_factory=list)
    #: jobs with rows in the undone snapshots
    removed_jobs: list[str] = field(default_factory=list)
    #: jobs whose rows go and whose records the stream no longer holds between the positions
    missing_jobs: list[str] = field(default_factory=list)
    consumers_running: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _total_records(snapshot: Snapshot) -> int:
    return _int(_summary(snapshot).get("total-records")) or 0


def _undone(table: Table, target_id: int) -> list[Snapshot]:
    """Snapshots from the current one back to (not including) ``target_id``, newest first."""
    from pyiceberg.table.snapshots import ancestors_of

    undone = []
    for snapshot in ancestors_of(table.metadata.current_snapshot(), table.metadata):
        if snapshot.snapshot_id == target_id:
            return undone
        undone.append(snapshot)
    raise TimeTravelError(
        f"snapshot {target_id} is not an ancestor of the current snapshot of {'.'.join(table.name())}: "
        "a rollback goes back along the current history only"
    )


def _chunk_outcomes(settings: Settings, keys: set[tuple[str, int]]) -> dict[tuple[str, int], tuple[int, int, int]]:
    """``{(job_id, part): (accepted, rejected, duplicates)}`` the job store recorded for ``keys``."""
    import sqlalchemy as sa

    from eventlake.state.ingestion_jobs import IngestionJobStore, chunks_table

    if not keys:
        return {}
    store = IngestionJobStore(settings.job_db)
    try:
        c = chunks_table.c
        out = {}
        jobs = sorted({j for j, _ in keys})
        with store.engine.connect() as conn:
            for i in range(0, len(jobs), 500):
                rows = conn.execute(
                    sa.select(c.job_id, c.part, c.accepted, c.rejected, c.duplicates).where(c.job_id.in_(jobs[i:i + 500]))
                ).all()
                out.update({(r.job_id, r.part): (r.accepted, r.rejected, r.duplicates) for r in rows})
        return {k: v for k, v in out.items() if k in keys}
    finally:
        store.close()


def _running_consumers(settings: Settings) -> list[str]:
    from eventlake.leases import ShardLeases
    from eventlake.state.ingestion_jobs import IngestionJobStore

    store = IngestionJobStore(settings.job_db)
    try:
        group = ShardLeases(store.engine, f"stream:{settings.stream_name}", settings.consumer_lease_seconds)
        return group.others_alive()
    finally:
        store.close()


def _replayed_chunks(settings: Settings, moves: list[PositionMove]) -> tuple[dict[tuple[str, int], int], Exception | None]:
    """The stream records the consumer will read again: ``{(job_id, part): records}`` of each moved
    dataset's chunks after the target's position and up to the current one, and the error that kept
    the stream from being read (e.g. a Kinesis position past its retention), if any."""
    from eventlake import envelope
    from eventlake.stream import open_stream

    chunks: dict[tuple[str, int], int] = {}
    if not moves:
        return chunks, None
    try:
        stream = open_stream(settings)
    except Exception as exc:  # noqa: BLE001 - reported as a problem of the plan
        return chunks, exc
    try:
        for move in moves:
            end = checkpoints.seq(move.from_sequence) if move.from_sequence is not None else -1
            after = move.to_sequence
            reached = False
            while not reached and (records := stream.read(move.shard, after, 500)):
                for record in records:
                    if checkpoints.seq(record.sequence_number) > end:
                        reached = True
                        break
                    header, _ = envelope.decode(record.data)
                    if header.dataset == move.dataset:
                        chunks[(header.job_id, header.part)] = header.record_count
                after = records[-1].sequence_number
    except Exception as exc:  # noqa: BLE001 - reported as a problem of the plan
        return chunks, exc
    finally:
        stream.close()
    return chunks, None


def plan_rollback(settings: Settings, table: Table, to_snapshot_id: int) -> RollbackPlan:
    """What rolling ``table`` back to ``to_snapshot_id`` would do; changes nothing."""
    name = ".".join(table.name())
    target = get_snapshot(table, to_snapshot_id)
    current = table.metadata.current_snapshot()
    assert current is not None  # the target exists, so there is a current snapshot
    undone = _undone(table, to_snapshot_id)
    rows_removed = _total_records(current) - _total_records(target)
    before, after = effective_positions(table, current), effective_positions(table, target)
    moves = []
    for dataset, shards in sorted(before.items()):
        for shard, sequence in sorted(shards.items()):
            back = after.get(dataset, {}).get(shard)
            if back != sequence:
                moves.append(PositionMove(dataset, shard, sequence, back))

    removed_jobs: set[str] = set()
    for snapshot in undone:
        if snapshot.summary and snapshot.summary.operation.value == "append":
            removed_jobs.update(added_job_ids(table, snapshot))

    chunks, unreadable = _replayed_chunks(settings, moves)
    jobs = {job for job, _ in chunks}
    outcomes = _chunk_outcomes(settings, set(chunks))
    rows_back: int | None
    if len(outcomes) < len(chunks):
        rows_back = None
    elif name == f"{contracts.RAW_NAMESPACE}.{contracts.REJECTED_TABLE}":
        rows_back = sum(r + d for _, r, d in outcomes.values())
    else:
        rows_back = sum(a for a, _, _ in outcomes.values())

    plan = RollbackPlan(
        table=name,
        from_snapshot_id=current.snapshot_id,
        to_snapshot_id=target.snapshot_id,
        undone_snapshots=[s.snapshot_id for s in undone],
        rows_removed=rows_removed,
        moves=moves,
        replay_chunks=len(chunks),
        replay_records=sum(chunks.values()),
        rows_back=rows_back,
        replay_jobs=sorted(jobs),
        removed_jobs=sorted(removed_jobs),
        missing_jobs=sorted(removed_jobs - jobs),
        consumers_running=_running_consumers(settings),
    )
    if unreadable is not None:
        plan.problems.append(f"cannot read the stream between the positions ({type(unreadable).__name__}: "
                             f"{unreadable}): what the consumer would replay is unknown")
    if plan.missing_jobs:
        plan.problems.append(
            f"the stream no longer holds the records of {len(plan.missing_jobs)} job(s) whose rows the rollback "
            f"removes ({', '.join(plan.missing_jobs[:5])}{', ...' if len(plan.missing_jobs) > 5 else ''}): "
            "those rows would be lost for good"
        )
    if rows_back is None:
        plan.problems.append("some replayed chunks have no recorded outcome in the job store (jobs in flight): "
                             "the rows the replay brings back cannot be checked; let the consumer finish first")
    elif rows_back != rows_removed:
        plan.problems.append(f"the rollback removes {rows_removed} rows but the replay brings back {rows_back}: "
                             "rows would be lost or added (were some written by something other than the consumer?)")
    if plan.consumers_running:
        plan.problems.append(f"{len(plan.consumers_running)} consumer(s) of stream {settings.stream_name!r} are "
                             "running: stop them first (`eventlake consume` / the consumer service), then roll back")
    return plan


def rollback(settings: Settings, table: Table, plan: RollbackPlan, *, force: bool = False,
             who: str | None = None) -> dict[str, Any]:
    """Carry out ``plan``: roll the table back, move the consumer's read positions back, write the audit line.

    Raises ``RollbackRefused`` when the plan has problems and ``force`` is False, and
    ``TimeTravelError`` when the table moved since the plan was made. Returns the audit record.
    """
    import sqlalchemy as sa
    from pyiceberg.exceptions import CommitFailedException

    from eventlake.positions import ReadPositions, positions_table
    from eventlake.state.ingestion_jobs import IngestionJobStore

    if plan.problems and not force:
        raise RollbackRefused("; ".join(plan.problems))
    table.refresh()
    current = table.metadata.current_snapshot()
    if current is None or current.snapshot_id != plan.from_snapshot_id:
        raise TimeTravelError(f"{plan.table} changed since the plan (current snapshot "
                              f"{current.snapshot_id if current else None}, planned from {plan.from_snapshot_id}); run again")
    try:
        # the commit asserts the current snapshot is still plan.from_snapshot_id
        table.manage_snapshots().rollback_to_snapshot(plan.to_snapshot_id).commit()
    except CommitFailedException as exc:
        raise TimeTravelError(f"{plan.table} changed while rolling back ({exc}); nothing was changed, run again") from exc

    # the consumer resumes reading at its read positions: move them back with the table (never forward)
    store = IngestionJobStore(settings.job_db)
    try:
        ReadPositions(store.engine, settings.stream_name)  # creates the table if this state database has none
        c = positions_table.c
        with store.engine.begin() as conn:
            for move in plan.moves:
                where = (c.stream == settings.stream_name, c.dataset == move.dataset, c.shard_id == move.shard)
                stored = conn.execute(sa.select(c.sequence_number).where(*where)).scalar_one_or_none()
                if stored is None:
                    continue
                if move.to_sequence is None:
                    conn.execute(sa.delete(positions_table).where(*where))
                elif checkpoints.seq(stored) > checkpoints.seq(move.to_sequence):
                    conn.execute(sa.update(positions_table).where(*where).values(sequence_number=move.to_sequence))
    finally:
        store.close()
    record = audit_record(settings, "rollback", plan, forced=bool(plan.problems), who=who)
    write_audit(settings, record)
    return record


def audit_record(settings: Settings, action: str, plan: RollbackPlan, *, forced: bool, who: str | None = None) -> dict[str, Any]:
    return {
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": "WARNING",
        "component": "table",
        "message": f"{action} {plan.table} from snapshot {plan.from_snapshot_id} to {plan.to_snapshot_id}",
        "action": action,
        "who": who or f"{_user()}@{socket.gethostname()}",
        "table": plan.table,
        "from_snapshot_id": plan.from_snapshot_id,
        "to_snapshot_id": plan.to_snapshot_id,
        "undone_snapshots": plan.undone_snapshots,
        "rows_removed": plan.rows_removed,
        "positions_moved": [asdict(m) for m in plan.moves],
        "replay_records": plan.replay_records,
        "replay_jobs": plan.replay_jobs,
        "forced": forced,
        "problems": plan.problems,
        "home": str(settings.home),
    }


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (a container without USER): the uid says who
        import os

        return f"uid {os.getuid()}"


def audit_path(settings: Settings):
    return settings.home / "logs" / AUDIT_FILE


def write_audit(settings: Settings, record: dict[str, Any]) -> None:
    """One JSON line in ``$EVENTLAKE_HOME/logs/audit.log`` and the same line in the log."""
    line = json.dumps(record, sort_keys=False, default=str)
    path = audit_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
    log.warning(line)
