"""Group commit for ``POST /api/v1/ingest``: one writer thread, one durable write per group of requests.

Each API process has one ``IngestGroupWriter`` with one writer thread. A
request appends the job it creates (``NewJob``) and the job's stream records to
the writer's waiting list and awaits a future. The thread takes everything
waiting (up to ``max_group_requests`` / ``max_group_bytes``) as one group,
writes it, and only then answers it: one ``call_soon_threadsafe`` per group and
event loop, not per request. Then it takes whatever arrived meanwhile as the
next group, without a round trip through the event loop; a request wakes the
thread only when it sat idle. So a 202 still means the records are durable,
concurrent requests share one transaction (one fsync) or a few PutRecords
calls, and no request takes a thread-pool hop for the database. Groups form by
themselves: an idle API writes a lone request at once (no waiting for
company), a busy one writes whatever arrived during the last write.

How a group is written depends on where the stream lives:

* **shared** (the default embedded setup: the local stream kept in the SQLite
  job database, see ``eventlake.stream.local_stream_path``): the job
  rows and the stream records go into one ``BEGIN IMMEDIATE`` ... ``COMMIT``
  on the stream's connection. One transaction, one fsync: a crash at any
  moment leaves either the job and all of its records, or neither. No PENDING
  job can exist without its records.
* **two-phase** (Kinesis, or a job store that is not the stream's SQLite file):
  there is no transaction spanning both, so the group's job rows are created
  first, with a publish intent per job, in one job-store transaction; then the
  group's records are published together (Kinesis: PutRecords calls of at most
  500 records and 5 MiB, shared by the requests); the requests whose records
  all got through are acknowledged, and the intents are cleared (or the jobs
  of failed requests marked FAILED with the reason, answered 503). If the
  process dies between the two steps nothing was acknowledged, and the
  sweeper (``sweep_unpublished_forever``, run by every API process) marks the
  jobs whose intent outlived ``EVENTLAKE_API_UNPUBLISHED_SECONDS`` FAILED with
  the reason. Job rows go first (not records first) because the consumer
  needs the job row of every chunk it reads.

SQLite allows one writer at a time, so several API worker processes each run
their own writer and their groups take turns on the file (``LocalStream``'s
writer turn lock, then SQLite's own lock).

``stats()`` counts groups, requests, records, transactions and PutRecords
calls: N concurrent requests written in fewer than N groups is what group
commit means.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

from eventlake.state.ingestion_jobs import IngestionJobStore, NewJob
from eventlake.stream import LocalStream, Stream, StreamError

from api.errors import ComponentUnavailable

log = logging.getLogger("eventlake.api")

#: Most requests written in one group.
MAX_GROUP_REQUESTS = 2000
#: Most stream-record bytes written in one group (a group always takes at least one request).
MAX_GROUP_BYTES = 16 * 1024 * 1024


@dataclass(eq=False)
class _Pending:
    job: NewJob
    records: list[tuple[str, bytes]]
    size: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]


# one counter per field: the shape of the other result dataclasses (eventlake.maintenance), not their data
@dataclass
class _Stats:
    groups: int = 0
    requests: int = 0
    records: int = 0
    failed_requests: int = 0
    transactions: int = 0
    largest_group: int = 0
    last_error: str | None = None


def _resolve(items: list[_Pending], errors: list[BaseException | None]) -> None:
    # Runs on the requests' event loop.
    for item, error in zip(items, errors, strict=True):
        if item.future.done():  # the request was cancelled meanwhile
            continue
        if error is None:
            item.future.set_result(None)
        else:
            item.future.set_exception(error)


class IngestGroupWriter:
    """Writes ingestion requests in groups (see the module docstring)."""

    def __init__(
        self,
        jobs: IngestionJobStore,
        stream: Stream,
        *,
        max_group_requests: int = MAX_GROUP_REQUESTS,
        max_group_bytes: int = MAX_GROUP_BYTES,
    ) -> None:
        self.jobs = jobs
        self.stream = stream
        self.max_group_requests = max(1, max_group_requests)
        self.max_group_bytes = max(1, max_group_bytes)
        job_file = jobs.sqlite_path
        self.shared = isinstance(stream, LocalStream) and job_file is not None and stream.path.resolve() == job_file
        self.mode = "shared" if self.shared else "two-phase"
        # Requests waiting for a group. The loop appends under the lock; the thread takes a group
        # from it under the lock. The thread is woken (one token) only when it sat idle.
        self._lock = threading.Lock()
        self._waiting: list[_Pending] = []
        self._idle = True
        self._wake: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._writing = 0  # requests in the group being written
        self._stats = _Stats()
        self._stats_lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="eventlake-ingest-writer", daemon=True)

    # -- the request side -----------------------------------------------------
    def start(self) -> IngestGroupWriter:
        self._thread.start()
        log.info("ingest group writer started (%s: %s)", self.mode, self.stream)
        return self

    async def submit(self, job: NewJob, records: list[tuple[str, bytes]]) -> None:
        """Create ``job`` and publish its records; return once both are durable.

        Raises ``ComponentUnavailable`` (503) when the group could not be written; in
        two-phase mode a job whose publishing failed exists and is FAILED (its id and status
        are in the details).
        """
        if self._closed or not self._thread.is_alive():
            raise self.stopped_error()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        size = 0
        for _, data in records:
            size += len(data)
        with self._lock:
            self._waiting.append(_Pending(job, records, size, loop, future))
            wake, self._idle = self._idle, False
        if wake:
            self._wake.put(True)
        await future

    @staticmethod
    def stopped_error() -> ComponentUnavailable:
        return ComponentUnavailable("stream", "the ingest writer is stopped (the API is shutting down)")

    def pending(self) -> int:
        """Requests waiting for the writer (not counting the group being written)."""
        return len(self._waiting)

    def stats(self) -> dict[str, Any]:
        with self._stats_lock:
            s = self._stats
            out = {
                "mode": self.mode,
                "groups": s.groups,
                "requests": s.requests,
                "records": s.records,
                "failed_requests": s.failed_requests,
                "transactions": s.transactions,
                "largest_group": s.largest_group,
                "requests_per_group": round(s.requests / s.groups, 2) if s.groups else None,
                "last_error": s.last_error,
            }
        out["put_calls"] = getattr(self.stream, "put_calls", None)
        out["waiting"] = self.pending()
        out["writing"] = self._writing
        return out

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is already waiting, then stop the thread. Later requests get 503."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            self._wake.put(False)
            self._thread.join(timeout)
        # Anything still waiting (the thread died or timed out) gets an answer, not a hang.
        with self._lock:
            leftovers, self._waiting = self._waiting, []
        self._answer(leftovers, [self.stopped_error()] * len(leftovers))

    # -- the writer thread ------------------------------------------------------
    def _run(self) -> None:
        while self._wake.get():  # False: stop (once nothing is left waiting)
            # Group after group until nothing waits: the next group is whatever arrived while the
            # last one was written, taken without a round trip through the event loop.
            while group := self._take_group():
                self._writing = len(group)
                try:
                    errors = self._write_shared(group) if self.shared else self._write_two_phase(group)
                except BaseException as exc:  # never leave a request waiting
                    log.exception("ingest group writer: unexpected error writing %d requests", len(group))
                    error = ComponentUnavailable("stream", f"cannot write the request: {type(exc).__name__}: {exc}")
                    errors = [error] * len(group)
                self._answer(group, errors)
                self._writing = 0
        while group := self._take_group():  # stopping: write what came before the stop
            self._answer(group, self._write_shared(group) if self.shared else self._write_two_phase(group))

    def _take_group(self) -> list[_Pending]:
        """The waiting requests, up to the group limits; empty (and the thread marked idle) if none."""
        with self._lock:
            waiting = self._waiting
            count = size = 0
            for item in waiting:
                if count and (count >= self.max_group_requests or size + item.size > self.max_group_bytes):
                    break
                count += 1
                size += item.size
            if count == len(waiting):
                group, self._waiting = waiting, []
            else:
                group, self._waiting = waiting[:count], waiting[count:]
            if not group:
                self._idle = True
            return group

    @staticmethod
    def _answer(group: list[_Pending], errors: list[BaseException | None]) -> None:
        """Resolve the requests' futures on their event loops: one call per loop, not per request."""
        by_loop: dict[asyncio.AbstractEventLoop, tuple[list[_Pending], list[BaseException | None]]] = {}
        for item, error in zip(group, errors, strict=True):
            items, errs = by_loop.setdefault(item.loop, ([], []))
            items.append(item)
            errs.append(error)
        for loop, (items, errs) in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, items, errs)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

    def _count(self, group: list[_Pending], errors: list[BaseException | None], transactions: int) -> None:
        failed = sum(1 for e in errors if e is not None)
        with self._stats_lock:
            s = self._stats
            s.groups += 1
            s.requests += len(group)
            s.records += sum(len(p.records) for p in group)
            s.failed_requests += failed
            s.transactions += transactions
            s.largest_group = max(s.largest_group, len(group))
            if failed:
                s.last_error = next(str(e) for e in errors if e is not None)

    # shared: job rows and records in one SQLite transaction --------------------------------
    def _write_shared(self, group: list[_Pending]) -> list[BaseException | None]:
        stream = self.stream
        assert isinstance(stream, LocalStream)
        try:
            self._shared_transaction(stream, group)
        except sqlite3.IntegrityError as exc:
            if len(group) == 1:
                errors: list[BaseException | None] = [self._shared_error(exc)]
                self._count(group, errors, 0)
                return errors
            # One request's rows conflict (a job id that exists): write the others without it.
            log.warning("ingest group of %d requests refused (%s); writing them one by one", len(group), exc)
            errors = []
            for item in group:
                errors.extend(self._write_shared([item]))
            return errors
        except Exception as exc:  # noqa: BLE001 - the requests get a 503 naming it
            errors = [self._shared_error(exc)] * len(group)
            self._count(group, errors, 0)
            return errors
        errors = [None] * len(group)
        self._count(group, errors, 1)
        return errors

    def _shared_transaction(self, stream: LocalStream, group: list[_Pending]) -> None:
        # Everything that needs no transaction first: inside it this thread holds the file's
        # write turn, which every other API worker waits for.
        job_inserts = self.jobs.sqlite_job_inserts([item.job for item in group])
        records = stream.prepare_append([record for item in group for record in item.records])
        with stream.transaction() as conn:
            for sql, params in job_inserts:
                conn.execute(sql, params)
            stream.append_prepared(conn, records)

    @staticmethod
    def _shared_error(exc: BaseException) -> ComponentUnavailable:
        log.error("ingest: cannot commit jobs and records: %s", exc, extra={"component": "stream"})
        # Rolled back: neither the job nor any record exists.
        return ComponentUnavailable("stream", f"cannot write the job and its records: {exc}")

    # two-phase: job rows (with publish intents), then the records, then settle ---------------
    def _write_two_phase(self, group: list[_Pending]) -> list[BaseException | None]:
        try:
            self.jobs.create_jobs([item.job for item in group], unpublished=True)
        except Exception as exc:  # noqa: BLE001
            log.error("ingest: cannot create %d jobs: %s", len(group), exc, extra={"component": "job_store"})
            errors: list[BaseException | None] = [
                ComponentUnavailable("job_store", f"cannot create the job: {exc}")
            ] * len(group)
            self._count(group, errors, 0)
            return errors
        transactions = 1
        outcomes = self._publish([record for item in group for record in item.records])
        failures: list[BaseException | None] = []
        at = 0
        for item in group:
            mine = outcomes[at : at + len(item.records)]
            at += len(item.records)
            failures.append(next((o for o in mine if isinstance(o, BaseException)), None))
        published = [item.job.job_id for item, error in zip(group, failures, strict=True) if error is None]
        failed = {
            item.job.job_id: f"stream publish failed: {error}"
            for item, error in zip(group, failures, strict=True)
            if error is not None
        }
        # The published requests' records are durable in the stream: answer them now. Settling
        # only clears their intents (if that is lost, the sweeper's verdict is undone by the
        # consumer: a FAILED job becomes COMPLETED when its last chunk is recorded).
        self._answer([item for item, error in zip(group, failures, strict=True) if error is None], [None] * len(published))
        marked = True
        try:
            self.jobs.settle_publish(published, failed)
            transactions += 1
        except Exception as exc:  # noqa: BLE001
            marked = False
            log.error("ingest: cannot settle %d published jobs: %s", len(group), exc, extra={"component": "job_store"})
        errors = [
            None
            if error is None
            else ComponentUnavailable(
                "stream", str(error), [{"job_id": item.job.job_id, "status": "FAILED" if marked else "PENDING"}]
            )
            for item, error in zip(group, failures, strict=True)
        ]
        self._count(group, failures, transactions)
        return errors

    def _publish(self, records: list[tuple[str, bytes]]) -> list[Any]:
        """An outcome per record: ``(shard, sequence)`` or the exception that kept it out."""
        each = getattr(self.stream, "put_records_each", None)
        try:
            if each is not None:
                return list(each(records))
            return list(self.stream.put_records(records))
        except Exception as exc:  # noqa: BLE001
            error = exc if isinstance(exc, StreamError) else StreamError(f"{type(exc).__name__}: {exc}")
            return [error] * len(records)


async def sweep_unpublished_forever(jobs_of: Any, seconds: float) -> None:
    """Every tenth of ``seconds`` (at most 30 s): mark FAILED the jobs never published after ``seconds``.

    ``jobs_of()`` returns the job store (it may raise while the store is down: the sweep
    waits for the next round). Runs as a task of the API's lifespan until cancelled.
    """
    from fastapi.concurrency import run_in_threadpool

    interval = min(30.0, seconds / 10)
    while True:
        try:
            store = jobs_of()
            started = time.monotonic()
            failed = await run_in_threadpool(store.sweep_unpublished, seconds)
            if failed:
                log.error(
                    "sweeper: marked %d never-published jobs FAILED (%.0f ms)",
                    len(failed),
                    (time.monotonic() - started) * 1000,
                    extra={"component": "job_store", "job_ids": failed[:100]},
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - try again next round
            log.warning("sweeper: cannot sweep unpublished jobs: %s", exc, extra={"component": "job_store"})
        await asyncio.sleep(interval)
