"""The local stream backend (``EVENTLAKE_STREAM=local``, the default): an embedded, durable log.

One SQLite file (WAL mode). Records are committed with ``synchronous=FULL`` before
``put_records`` returns, so an acknowledged record survives a crash. API processes and a
consumer process may use the file at the same time: writers take SQLite's write lock,
readers never block. By default the log's tables live in the ingestion job store's SQLite
file (``local_stream_path``): the API then writes a group of jobs and their records in one
transaction (``LocalStream.transaction`` + ``append``).
"""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: SQLite's busy handler alone orders the writers
    fcntl = None  # type: ignore[assignment]

from eventlake.stream.base import StreamError, StreamRecord, check_record, sequence_key, shard_index

if TYPE_CHECKING:
    from eventlake.settings import Settings

log = logging.getLogger("eventlake.stream")


def local_stream_path(settings: Settings) -> Path:
    """The SQLite file that holds the local stream.

    The job store's file when ``settings.stream_shares_job_db`` and the job store is a SQLite
    file: one database, so the API commits a job row and its stream records together (a crash
    cannot leave one without the other) with one fsync. Otherwise that separate file,
    ``settings.stream_path``; also when that file holds records (a log written before the two
    were shared: they must still be read) or is not a readable log at all (the error then names
    it rather than being hidden).
    """
    from eventlake.state.database import sqlite_file

    separate = settings.stream_path
    if not settings.stream_shares_job_db:
        return separate
    job_file = sqlite_file(settings.job_db)
    if job_file is None:
        return separate
    if separate.exists() and not _empty_log(separate):
        log.warning(
            "stream: keeping the separate stream file %s (it holds records); new records go there, not into "
            "the job database %s (delete it once consumed, or set EVENTLAKE_STREAM_SHARES_JOB_DB=false)",
            separate,
            job_file,
        )
        return separate
    return job_file


def _empty_log(path: Path) -> bool:
    """True when ``path`` is a SQLite file without stream records (e.g. created by a reader)."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "stream_records" not in tables:
                return True
            return conn.execute("SELECT 1 FROM stream_records LIMIT 1").fetchone() is None
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def local_shard_id(index: int) -> str:
    return f"shardId-{index:012d}"


# ---------------------------------------------------------------------------
# Local: an embedded durable log in SQLite
# ---------------------------------------------------------------------------
#: Rows per multi-row INSERT (SQLite allows 32766 bound values per statement).
INSERT_ROWS_PER_STATEMENT = 500


def insert_rows(conn: sqlite3.Connection, head: str, width: int, params: list[Any]) -> None:
    """``head`` + ``(?, ...), (?, ...)``: insert ``len(params) // width`` rows in few statements.

    One statement for up to ``INSERT_ROWS_PER_STATEMENT`` rows instead of ``executemany``'s
    statement step per row: each step gives up Python's GIL and takes it back, and a writer
    thread that must win the GIL back from a busy event loop hundreds of times per group is
    slow to finish the group.
    """
    rows = len(params) // width
    one = "(" + ", ".join("?" * width) + ")"
    step = INSERT_ROWS_PER_STATEMENT
    for start in range(0, rows, step):
        n = min(step, rows - start)
        conn.execute(head + ", ".join([one] * n), params[start * width : (start + n) * width])


_LOCAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS stream_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stream_records (
    shard_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    partition_key TEXT NOT NULL,
    data BLOB NOT NULL,
    written_at REAL NOT NULL,
    PRIMARY KEY (shard_id, seq)
) WITHOUT ROWID;
"""


@dataclass(eq=False)
class PreparedAppend:
    """Records made ready for ``LocalStream.append_prepared`` (see ``prepare_append``)."""

    shards: list[str]  # the shards the records go to
    offsets: list[tuple[int, int]]  # per record: index into shards, records of that shard before it
    rows: list[Any]  # the INSERT parameters, five per record; the sequence numbers are filled in


@dataclass(eq=False)
class _TurnTicket:
    fd: int
    done: threading.Event
    lock: threading.Lock
    acquired: bool = False
    abandoned: bool = False


class _TurnWaiter:
    """Blocking ``flock`` waits for ``LocalStream``'s writer turn, in a helper thread.

    A blocking ``flock`` cannot be given up from the waiting thread, so the writer hands the
    wait to this thread and waits for it with a timeout. Each wait locks a fresh descriptor
    of the lock file (its own lock owner): a wait given up and granted later is released at
    once by the helper and cannot be mistaken for the writer's next turn.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._tickets: queue.SimpleQueue[_TurnTicket | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="eventlake-stream-turn", daemon=True)
        self._thread.start()

    def wait(self, timeout: float) -> int | None:
        """A descriptor holding the turn (the caller unlocks and closes it), or None after ``timeout``."""
        ticket = _TurnTicket(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644), threading.Event(), threading.Lock())
        self._tickets.put(ticket)
        if ticket.done.wait(timeout):
            return ticket.fd
        with ticket.lock:
            if ticket.acquired:  # granted just now
                return ticket.fd
            ticket.abandoned = True
        return None

    def _run(self) -> None:
        while (ticket := self._tickets.get()) is not None:
            fcntl.flock(ticket.fd, fcntl.LOCK_EX)
            with ticket.lock:
                if ticket.abandoned:
                    fcntl.flock(ticket.fd, fcntl.LOCK_UN)
                    os.close(ticket.fd)
                    continue
                ticket.acquired = True
            ticket.done.set()

    def close(self) -> None:
        self._tickets.put(None)


class LocalStream:
    """A durable, sharded append-only log in one SQLite file.

    Sequence numbers are per-shard integers starting at 1, assigned inside the
    write transaction, so they increase strictly even with several writer
    processes. The shard count is fixed when the file is created; reopening
    with another ``shards`` value keeps the stored count (re-sharding would
    move keys between shards and break per-key order).
    """

    backend = "local"

    def __init__(self, path: Path | str, shards: int = 2, *, busy_timeout_ms: int = 30_000) -> None:
        if shards < 1:
            raise ValueError("a stream needs at least one shard")
        self.path = Path(path)
        self._requested_shards = shards
        self._busy_timeout_ms = busy_timeout_ms
        self._lock = threading.Lock()  # one connection, shared by the API's worker threads
        self._conn: sqlite3.Connection | None = None
        self._shard_count: int | None = None
        self._turn_path = f"{self.path}.writer-lock"
        self._turn_fd: int | None = None  # the writer turn's lock file (see _take_turn)
        self._held_fd: int | None = None
        self._turn_waiter: _TurnWaiter | None = None

    # -- connection ------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,
                # multi-row INSERTs have one statement text per row count: keep them prepared
                cached_statements=512,
            )
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: the WAL is fsynced at every commit, so "put returned" means "on disk".
            conn.execute("PRAGMA synchronous=FULL")
            self._conn = conn
        return self._conn

    def ensure(self) -> None:
        with self._lock:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                # executescript() would COMMIT implicitly: run the statements one by one.
                for statement in filter(None, (s.strip() for s in _LOCAL_SCHEMA.split(";"))):
                    conn.execute(statement)
                row = conn.execute("SELECT value FROM stream_meta WHERE key = 'shards'").fetchone()
                if row is None:
                    conn.execute(
                        "INSERT INTO stream_meta (key, value) VALUES ('shards', ?)", (str(self._requested_shards),)
                    )
                    count = self._requested_shards
                else:
                    count = int(row[0])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        if count != self._requested_shards:
            log.warning(
                "stream: %s keeps its %d shards (settings ask for %d; the local log does not re-shard)",
                self.path,
                count,
                self._requested_shards,
            )
        self._shard_count = count

    def _shards(self) -> int:
        if self._shard_count is None:
            self.ensure()
        assert self._shard_count is not None
        return self._shard_count

    def shard_ids(self) -> list[str]:
        self._shards()  # creates the log on first use
        # Read the count back from the file (cheap): a health probe then sees a broken file.
        with self._lock:
            row = self._connect().execute("SELECT value FROM stream_meta WHERE key = 'shards'").fetchone()
        if row is None:
            raise StreamError(f"stream {self.path}: the shard count is missing (file replaced?)")
        return [local_shard_id(i) for i in range(int(row[0]))]

    # -- write -----------------------------------------------------------------
    def put_records(self, records: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
        if not records:
            return []
        with self.transaction() as conn:
            return self.append(conn, records)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on the log's file: ``BEGIN IMMEDIATE`` ... ``COMMIT`` (fsynced).

        Yields the connection, for ``append`` and for anything else that must commit with the
        records in the same file (the API's job rows when the log lives in the job database).
        Rolls back if the block raises. The connection is held (its lock too) until the end.
        """
        self._shards()  # creates the log on first use (takes the lock itself)
        with self._lock:
            conn = self._connect()
            self._take_turn()
            try:
                # IMMEDIATE takes the write lock up front: no lock upgrade, so no deadlock
                # between two writer processes; busy_timeout makes the second one wait.
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            finally:
                self._end_turn()

    def _take_turn(self) -> None:
        """Wait for this file's writer turn: an ``flock`` on ``<file>.writer-lock``.

        Several API worker processes append to one file. Left to SQLite, a writer that finds
        the write lock taken sleeps 1, 2, 5, 10, 15, 20, 25 ... ms between retries, far longer
        than a group commit holds the lock (about a millisecond), which showed as tens to
        hundreds of milliseconds of latency with two workers. Polling ``flock`` every
        millisecond was no better: a busy writer releases the turn and takes it back for its
        next group before the poller looks again (waits of up to 800 ms measured). A contended
        writer therefore waits in the kernel's queue for the lock (a blocking ``flock``, woken
        when the turn is released), from a helper thread (``_TurnWaiter``) so that it can give
        up after the busy timeout, as SQLite would. SQLite's own lock still guards the data and
        orders the other writers of the file (the consumer's job bookkeeping). A holder that is
        gone releases the turn at once.
        """
        if fcntl is None:
            return
        if self._turn_fd is None:
            self._turn_fd = os.open(self._turn_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._turn_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._held_fd = self._turn_fd
            return
        except BlockingIOError:
            pass
        if self._turn_waiter is None:
            self._turn_waiter = _TurnWaiter(self._turn_path)
        fd = self._turn_waiter.wait(self._busy_timeout_ms / 1000)
        if fd is None:
            raise StreamError(f"stream {self.path}: another writer held the write turn for {self._busy_timeout_ms} ms")
        self._held_fd = fd

    def _end_turn(self) -> None:
        fd, self._held_fd = self._held_fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            if fd != self._turn_fd:
                os.close(fd)

    def append(self, conn: sqlite3.Connection, records: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
        """Append records inside an open ``transaction()``; ``(shard_id, sequence_number)`` per record.

        Sequence numbers are assigned from the shards' current ends, read inside the
        transaction (which holds the write lock), so they stay strictly increasing across
        writer processes. Nothing is durable before the transaction commits.
        """
        return self.append_prepared(conn, self.prepare_append(records))

    def prepare_append(self, records: list[tuple[str, bytes]]) -> PreparedAppend:
        """The work of ``append`` that needs no transaction: checks, shard routing, the rows.

        A writer holding the write turn should spend it on SQLite calls only: every line of
        Python it runs there may first have to win the GIL from a busy event loop.
        """
        for key, data in records:
            check_record(key, data)
        count = self._shards()
        shards = [local_shard_id(shard_index(key, count)) for key, _ in records]
        used = sorted(set(shards))
        column = {shard: i for i, shard in enumerate(used)}
        seen = [0] * len(used)
        offsets = []  # (which shard, how many of its records came before)
        for shard in shards:
            i = column[shard]
            offsets.append((i, seen[i]))
            seen[i] += 1
        now = time.time()
        rows: list[Any] = []
        for shard, (key, data) in zip(shards, records, strict=True):
            rows += (shard, 0, key, data, now)
        return PreparedAppend(used, offsets, rows)

    def append_prepared(self, conn: sqlite3.Connection, prepared: PreparedAppend) -> list[tuple[str, str]]:
        """``append`` for rows from ``prepare_append``: one query for the shards' ends, then the inserts."""
        if not prepared.offsets:
            return []
        used = prepared.shards
        ends = conn.execute(
            "SELECT "
            + ", ".join(["(SELECT COALESCE(MAX(seq), 0) FROM stream_records WHERE shard_id = ?)"] * len(used)),
            used,
        ).fetchone()
        rows = prepared.rows
        result: list[tuple[str, str]] = []
        for n, (i, before) in enumerate(prepared.offsets):
            seq = ends[i] + 1 + before
            rows[n * 5 + 1] = seq
            result.append((used[i], str(seq)))
        insert_rows(conn, "INSERT INTO stream_records (shard_id, seq, partition_key, data, written_at) VALUES ", 5, rows)
        return result

    # -- read ------------------------------------------------------------------
    def read(self, shard_id: str, after_sequence: str | None, limit: int) -> list[StreamRecord]:
        if shard_id not in self.shard_ids():
            raise StreamError(f"stream {self.path}: no shard {shard_id!r}")
        after = sequence_key(after_sequence) if after_sequence is not None else 0
        with self._lock:
            rows = (
                self._connect()
                .execute(
                    "SELECT seq, data FROM stream_records WHERE shard_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                    (shard_id, after, max(0, int(limit))),
                )
                .fetchall()
            )
        return [StreamRecord(shard_id, str(seq), bytes(data)) for seq, data in rows]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._turn_fd is not None:
                os.close(self._turn_fd)
                self._turn_fd = None
            if self._turn_waiter is not None:
                self._turn_waiter.close()
                self._turn_waiter = None

    def __repr__(self) -> str:
        return f"LocalStream({str(self.path)!r})"
