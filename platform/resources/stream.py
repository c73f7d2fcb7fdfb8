"""The ingestion stream: one interface, two backends.

The API publishes each chunk of a request as one stream record; the consumer
reads records per shard in sequence order and checkpoints by sequence number.

* ``LocalStream`` (``EVENTLAKE_STREAM=local``, the default): an embedded,
  durable log in one SQLite file (WAL mode). Records are committed with
  ``synchronous=FULL`` before ``put_records`` returns, so an acknowledged record
  survives a crash. API processes and a consumer process may use the file at
  the same time: writers take SQLite's write lock, readers never block. By
  default the log's tables live in the job store's SQLite file
  (``local_stream_path``): the API then writes a group of jobs and their
  records in one transaction (``LocalStream.transaction`` + ``append``).
* ``KinesisStream`` (``EVENTLAKE_STREAM=kinesis``): AWS Kinesis Data Streams
  through boto3 (or a moto server via ``EVENTLAKE_KINESIS_ENDPOINT_URL``).

Both route a partition key to a shard the way Kinesis does (MD5 of the key as a
128-bit integer, shards own equal slices of that range), so all records with
the same key (a job's chunks) land in one shard, in order.
"""

from __future__ import annotations

import hashlib
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
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: SQLite's busy handler alone orders the writers
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from eventlake.settings import Settings

log = logging.getLogger("eventlake.stream")

MAX_RECORD_BYTES = 1024 * 1024
"""Largest record (data + partition key), the Kinesis limit; both backends enforce it."""
MAX_BATCH_RECORDS = 500
"""Kinesis PutRecords limit on records per call."""
MAX_BATCH_BYTES = 5 * 1024 * 1024
"""Kinesis PutRecords limit on bytes (data + partition keys) per call."""
MAX_PARTITION_KEY_CHARS = 256


class StreamError(Exception):
    """The stream backend failed (unreachable, throttled past all retries, misconfigured)."""


class RecordTooLargeError(ValueError):
    """A record is over ``MAX_RECORD_BYTES``; the producer must chunk below it."""


@dataclass(frozen=True)
class StreamRecord:
    shard_id: str
    sequence_number: str
    data: bytes


@runtime_checkable
class Stream(Protocol):
    def ensure(self) -> None:
        """Create the stream if it is missing (idempotent)."""

    def shard_ids(self) -> list[str]: ...

    def put_records(self, records: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
        """Publish ``(partition_key, data)`` pairs; return ``(shard_id, sequence_number)`` per record.

        Every record is durable when this returns; otherwise it raises.
        """

    def read(self, shard_id: str, after_sequence: str | None, limit: int) -> list[StreamRecord]:
        """Up to ``limit`` records of one shard after ``after_sequence`` (None = from the start), in order."""

    def close(self) -> None: ...


def sequence_key(seq: str) -> int:
    """Sort key of a sequence number: both backends use decimal strings that compare as integers."""
    return int(seq)


def local_stream_path(settings: Settings) -> Path:
    """The SQLite file that holds the local stream.

    The job store's file when ``settings.stream_shares_job_db`` and the job store is a SQLite
    file: one database, so the API commits a job row and its stream records together (a crash
    cannot leave one without the other) with one fsync. Otherwise that separate file,
    ``settings.stream_path``; also when that file holds records (a log written before the two
    were shared: they must still be read) or is not a readable log at all (the error then names
    it rather than being hidden).
    """
    from eventlake.jobs import sqlite_file

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


def open_stream(settings: Settings) -> Stream:
    """The stream backend ``settings.stream`` names (not yet ensured: call ``ensure()``)."""
    if settings.stream == "local":
        return LocalStream(local_stream_path(settings), settings.stream_shards)
    if settings.stream == "kinesis":
        return KinesisStream(
            settings.stream_name,
            shard_count=settings.stream_shards,
            endpoint_url=settings.kinesis_endpoint_url,
            region=settings.aws_region,
        )
    raise ValueError(f"unknown stream backend {settings.stream!r}")


def shard_index(partition_key: str, shard_count: int) -> int:
    """Kinesis routing: the MD5 of the key as a 128-bit integer, shards own equal slices."""
    digest = int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")
    return (digest * shard_count) >> 128


def local_shard_id(index: int) -> str:
    return f"shardId-{index:012d}"


def check_record(partition_key: str, data: bytes) -> int:
    """Validate one record against the Kinesis limits; return its billed size in bytes."""
    if not 1 <= len(partition_key) <= MAX_PARTITION_KEY_CHARS:
        raise ValueError(f"partition key must be 1..{MAX_PARTITION_KEY_CHARS} characters, got {len(partition_key)}")
    size = len(data) + len(partition_key.encode("utf-8"))
    if size > MAX_RECORD_BYTES:
        raise RecordTooLargeError(f"stream record of {size} bytes is over the {MAX_RECORD_BYTES}-byte limit")
    return size


def put_batches(
    records: list[tuple[str, bytes]],
    max_records: int = MAX_BATCH_RECORDS,
    max_bytes: int = MAX_BATCH_BYTES,
) -> list[list[int]]:
    """Split record indexes into consecutive PutRecords batches within the count and byte limits."""
    batches: list[list[int]] = []
    current: list[int] = []
    current_bytes = 0
    for i, (key, data) in enumerate(records):
        size = check_record(key, data)
        if current and (len(current) >= max_records or current_bytes + size > max_bytes):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(i)
        current_bytes += size
    if current:
        batches.append(current)
    return batches


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


# ---------------------------------------------------------------------------
# Kinesis
# ---------------------------------------------------------------------------
class KinesisStream:
    """AWS Kinesis Data Streams through boto3.

    ``put_records`` sends batches within the PutRecords limits and re-sends only
    the entries Kinesis reports as failed (throttling), with exponential
    backoff, until every record has a sequence number or ``max_attempts`` calls
    in a row got nothing through. ``put_records_each`` does the same but reports
    an outcome per record instead of raising, so a caller that packs several
    requests into shared calls (the API's group writer) fails only the requests
    whose records did not get through. ``put_calls`` counts PutRecords calls.
    Kinesis gives at-least-once delivery: when it raises after a partial
    success, some records of the call may still be in the stream.
    """

    backend = "kinesis"

    def __init__(
        self,
        stream_name: str,
        *,
        shard_count: int = 2,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        max_attempts: int = 6,
        base_backoff_seconds: float = 0.1,
        client_retries: int = 4,
        client: Any = None,
    ) -> None:
        self.stream_name = stream_name
        self.shard_count = shard_count
        self.endpoint_url = endpoint_url
        self.max_attempts = max_attempts
        self.base_backoff_seconds = base_backoff_seconds
        self.put_calls = 0
        self._client = client if client is not None else self._make_client(endpoint_url, region, client_retries)

    @staticmethod
    def _make_client(endpoint_url: str | None, region: str, retries: int) -> Any:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(region_name=region)
        credentials: dict[str, str] = {}
        if endpoint_url and session.get_credentials() is None:
            # A local endpoint (moto) accepts any credentials; AWS itself never gets here.
            credentials = {"aws_access_key_id": "eventlake", "aws_secret_access_key": "eventlake"}
        # botocore retries transport errors and throttling of whole calls; put_records
        # retries the entries a successful call reports as failed.
        config = Config(retries={"total_max_attempts": retries, "mode": "standard"}, connect_timeout=5, read_timeout=30)
        return session.client("kinesis", endpoint_url=endpoint_url, config=config, **credentials)

    def _error(self, action: str, exc: Exception) -> StreamError:
        where = self.endpoint_url or "AWS"
        return StreamError(f"kinesis stream {self.stream_name!r} at {where}: {action} failed: {exc}")

    def ensure(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client
        try:
            try:
                status = client.describe_stream_summary(StreamName=self.stream_name)["StreamDescriptionSummary"][
                    "StreamStatus"
                ]
            except client.exceptions.ResourceNotFoundException:
                try:
                    client.create_stream(StreamName=self.stream_name, ShardCount=self.shard_count)
                    log.info("stream: created kinesis stream %s with %d shards", self.stream_name, self.shard_count)
                except client.exceptions.ResourceInUseException:
                    pass  # another process created it first
                status = "CREATING"
            deadline = time.monotonic() + 120
            delay = 0.2
            while status != "ACTIVE":
                if status == "DELETING":
                    raise StreamError(f"kinesis stream {self.stream_name!r} is being deleted")
                if time.monotonic() > deadline:
                    raise StreamError(f"kinesis stream {self.stream_name!r} stayed {status} for 120 s")
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                status = client.describe_stream_summary(StreamName=self.stream_name)["StreamDescriptionSummary"][
                    "StreamStatus"
                ]
        except (BotoCoreError, ClientError) as exc:
            raise self._error("ensure", exc) from exc

    def shard_ids(self) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        ids: list[str] = []
        try:
            response = self._client.list_shards(StreamName=self.stream_name)
            while True:
                ids.extend(shard["ShardId"] for shard in response.get("Shards", []))
                token = response.get("NextToken")
                if not token:
                    break
                response = self._client.list_shards(NextToken=token)
        except (BotoCoreError, ClientError) as exc:
            raise self._error("list_shards", exc) from exc
        return sorted(ids)

    def put_records(self, records: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
        results: list[tuple[str, str] | None] = [None] * len(records)
        for batch in put_batches(records):
            self._put_batch(records, batch, results)
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def put_records_each(self, records: list[tuple[str, bytes]]) -> list[tuple[str, str] | StreamError]:
        """Publish in as few PutRecords calls as the limits allow; an outcome per record.

        Each record gets its ``(shard_id, sequence_number)``, or the ``StreamError`` of the
        call it was in when that call failed or its entries kept failing. Records of one
        failed call may still have landed (Kinesis is at least once), as with ``put_records``.
        Records over the size limit raise before anything is sent.
        """
        results: list[tuple[str, str] | StreamError | None] = [None] * len(records)
        for batch in put_batches(records):
            try:
                self._put_batch(records, batch, results)  # type: ignore[arg-type]
            except StreamError as exc:
                for i in batch:
                    if results[i] is None:
                        results[i] = exc
        return results  # type: ignore[return-value]

    def _put_batch(
        self, records: list[tuple[str, bytes]], batch: list[int], results: list[tuple[str, str] | None]
    ) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        pending = batch
        last_error = ""
        stalled = 0  # consecutive attempts in which no entry got through
        while True:
            self.put_calls += 1
            try:
                response = self._client.put_records(
                    StreamName=self.stream_name,
                    Records=[{"PartitionKey": records[i][0], "Data": records[i][1]} for i in pending],
                )
            except (BotoCoreError, ClientError) as exc:
                raise self._error("put_records", exc) from exc
            failed: list[int] = []
            for i, entry in zip(pending, response["Records"], strict=True):
                if entry.get("ErrorCode"):
                    failed.append(i)
                    last_error = f"{entry['ErrorCode']}: {entry.get('ErrorMessage', '')}"
                else:
                    results[i] = (entry["ShardId"], entry["SequenceNumber"])
            if not failed:
                return
            # A job's chunks share one partition key, hence one shard (1 MiB/s in): a big
            # request is throttled in part at every call. Keep going while entries get
            # through; give up after max_attempts calls in a row that moved nothing.
            stalled = stalled + 1 if len(failed) == len(pending) else 0
            if stalled >= self.max_attempts:
                raise StreamError(
                    f"kinesis stream {self.stream_name!r}: {len(failed)} records still failing after "
                    f"{stalled} attempts without progress ({last_error})"
                )
            log.warning(
                "stream: kinesis put_records: %d of %d entries failed (%s), retrying",
                len(failed),
                len(pending),
                last_error,
            )
            time.sleep(min(2.0, self.base_backoff_seconds * 2 ** max(0, stalled - 1)))
            pending = failed

    def read(self, shard_id: str, after_sequence: str | None, limit: int) -> list[StreamRecord]:
        from botocore.exceptions import BotoCoreError, ClientError

        if limit <= 0:
            return []
        try:
            if after_sequence is None:
                iterator = self._client.get_shard_iterator(
                    StreamName=self.stream_name, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            else:
                iterator = self._client.get_shard_iterator(
                    StreamName=self.stream_name,
                    ShardId=shard_id,
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                    StartingSequenceNumber=after_sequence,
                )["ShardIterator"]
            out: list[StreamRecord] = []
            # GetRecords may return an empty page while data lies further on (sparse
            # shards); keep following the iterator while Kinesis says we are behind.
            for _ in range(16):
                response = self._client.get_records(ShardIterator=iterator, Limit=min(10_000, limit - len(out)))
                out.extend(
                    StreamRecord(shard_id, r["SequenceNumber"], bytes(r["Data"])) for r in response["Records"]
                )
                iterator = response.get("NextShardIterator")
                if len(out) >= limit or not iterator or not response.get("MillisBehindLatest"):
                    break
        except (BotoCoreError, ClientError) as exc:
            raise self._error("read", exc) from exc
        return out

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if close is not None:
            close()

    def __repr__(self) -> str:
        return f"KinesisStream({self.stream_name!r}, endpoint_url={self.endpoint_url!r})"
