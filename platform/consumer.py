"""The stream consumer: stream chunks -> data_processor_rs -> Iceberg, exactly once.

Exactly-once, the way Kafka Connect's Iceberg sink does it: every Iceberg commit
stores, in its snapshot summary, the stream position (shard -> last sequence
number) that the commit includes (``eventlake.checkpoints``). Each pass plans
from the positions the tables hold, so a crash between writing files,
committing and updating job status can neither lose nor duplicate an
acknowledged record:

* a chunk whose sequence number is at or below a table's stored position is
  already in that table and is not appended again;
* valid rows go to ``raw.<dataset>`` and rejected rows to
  ``raw.rejected_records``; each table keeps its own position per dataset, so a
  crash between the two commits replays only what is missing;
* job bookkeeping (``IngestionJobStore.record_chunk``) is idempotent per chunk.

Consumers share the stream's shards through shard leases (``eventlake.leases``,
balanced over the live consumers as the Kinesis Client Library does), renewed
while they work. Every commit is fenced by each shard's lease epoch and the positions the
batch was planned from (``eventlake.committer``): a consumer that was paused
past its lease cannot commit, it plans again.

The work is split in two phases: ``Consumer.plan()`` reads and processes and
returns an ``IngestBatch``; ``committer.commit_batch()`` commits and records it.
While a group of chunks is processed, the valid rows of the group before it are
written as data files on a background thread (both are Rust calls that release
the GIL); the commit uses those files. They are in no snapshot until it lands,
and a batch that does not commit deletes them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pyarrow as pa

from eventlake import checkpoints, contracts, envelope, faults
from eventlake.batch import (
    ChunkOutcome,
    DatasetBatch,
    IngestBatch,
    Prewrite,
    constant,
    rejected_rows,
    violation_json,
)
from eventlake.committer import CommitResult, StaleBatch, commit_batch, write_files
from eventlake.dedup_index import DedupIndex, day_number
from eventlake.leases import LeaseHeld, LeaseLost, ShardLeases
from eventlake.positions import ReadPositions
from eventlake.settings import Settings

log = logging.getLogger("eventlake.consumer")

__all__ = ["CommitResult", "Consumer", "IngestBatch", "LeaseHeld", "StaleBatch"]


def _dead_letter(payload: memoryview, header: envelope.ChunkHeader, error: Exception, now: datetime) -> pa.Table:
    """A chunk the processor could not handle at all is kept whole, never dropped."""
    return rejected_rows(
        job_id=header.job_id,
        dataset=header.dataset,
        record_index=pa.array([header.first_index], pa.int64()),
        raw=pa.array([bytes(payload).decode("utf-8", "replace")], pa.string()),
        violations=pa.array([violation_json("processing_error", f"{type(error).__name__}: {error}")]),
        now=now,
    )


def _decode(data: bytes) -> tuple[envelope.ChunkHeader, memoryview]:
    """``envelope.decode`` without copying the payload: a chunk's bytes are copied once, into the joined group."""
    end = data.find(b"\n") + 1
    header, _ = envelope.decode(data[:end] if end else data)
    return header, memoryview(data)[end:]


#: stream records read at a time (up to about 29 MB of 900 KB chunks)
READ_PAGE = 32


class _Regroup(RuntimeError):
    """Joined chunks did not split back by their headers' record counts: plan again chunk by chunk."""


def _groups(items: list, max_bytes: int) -> list[list]:
    """Runs of consecutive NDJSON chunks of one dataset, up to ``max_bytes`` each; a CSV chunk alone."""
    groups: list[list] = []
    size = 0
    for item in items:
        header, payload = item[1], item[2]
        joinable = header.format == "ndjson" and max_bytes > 0
        last = groups[-1] if groups else None
        if (
            joinable and last is not None and last[-1][1].format == "ndjson"
            and last[-1][1].dataset == header.dataset and size + len(payload) <= max_bytes
        ):
            last.append(item)
            size += len(payload)
        else:
            groups.append([item])
            size = len(payload)
    return groups


def _split(result, firsts: list[int], total: int) -> list:
    """Per chunk of a joined ``process()`` call: (valid, rejected, duplicates), record indexes made chunk-local."""
    import numpy as np
    import pyarrow.compute as pc

    valid = pa.table(result.valid)
    rejected = pa.table(result.rejected)
    bounds = np.asarray([*firsts, total], dtype=np.int64)
    v_at = np.searchsorted(valid.column("_index").to_numpy(), bounds) if valid.num_rows else np.zeros(len(bounds), int)
    r_index = rejected.column("record_index").cast(pa.int64())
    r_at = np.searchsorted(r_index.to_numpy(), bounds) if rejected.num_rows else np.zeros(len(bounds), int)
    is_dup = pc.match_substring(rejected.column("violations"), '"rule":"duplicate"') if rejected.num_rows else None
    out = []
    for i, first in enumerate(firsts):
        v = valid.slice(v_at[i], v_at[i + 1] - v_at[i])
        v = v.set_column(v.schema.get_field_index("_index"), "_index", pc.subtract(v.column("_index"), first))
        r = rejected.slice(r_at[i], r_at[i + 1] - r_at[i])
        r = r.set_column(r.schema.get_field_index("record_index"), "record_index",
                         pc.subtract(r.column("record_index").cast(pa.int64()), first))
        dups = pc.sum(is_dup.slice(r_at[i], r_at[i + 1] - r_at[i])).as_py() or 0 if r.num_rows else 0
        out.append((v, r, dups))
    return out


class Consumer:
    """Reads the stream, processes chunks in Rust and commits them to Iceberg."""

    def __init__(self, settings: Settings, *, stream=None, catalog=None, jobs=None):
        from eventlake import lake
        from eventlake.state.ingestion_jobs import IngestionJobStore
        from eventlake.stream import open_stream

        self.settings = settings
        settings.ensure_home()
        self.stream = stream or open_stream(settings)
        self.stream.ensure()
        self.catalog = catalog or lake.load_catalog(settings)
        self.tables = lake.ensure_tables(self.catalog)
        self.jobs = jobs or IngestionJobStore(settings.job_db)
        self.leases = ShardLeases(self.jobs.engine, f"stream:{settings.stream_name}", settings.consumer_lease_seconds)
        self.positions = ReadPositions(self.jobs.engine, settings.stream_name)
        # the keys each keyed table holds within the dedup window, kept in Rust across passes
        self.dedup = {
            d: DedupIndex(contracts.VALIDATION_SCHEMAS[d]["key"], settings.dedup_window_days)
            for d in contracts.DATASETS
            if contracts.VALIDATION_SCHEMAS[d].get("key")
        }
        # writes each processed group's valid rows as data files while the next group is processed
        # (the Rust calls on both sides release the GIL); one thread keeps the files in order
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eventlake-writer")
        # reads the next page of stream records while the current one is processed
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eventlake-reader")

    # -- phase 1: read + process (+ background writes of the valid rows) ----------
    def plan(self, datasets: Sequence[str] = contracts.DATASETS, *, max_records: int | None = None) -> IngestBatch:
        """Read and process the next records of the shards this consumer holds, after the tables' positions.

        The only side effect: each processed group's valid rows are written as data files in the
        background (``IngestBatch.discard()`` deletes them if the batch is not committed).
        """
        try:
            return self._plan(datasets, max_records, self.settings.consumer_process_bytes)
        except _Regroup as exc:
            log.warning("%s; planning again chunk by chunk", exc)
            return self._plan(datasets, max_records, 0)

    def _plan(self, datasets: Sequence[str], max_records: int | None, group_bytes: int) -> IngestBatch:
        held = self.leases.held()
        if not held:
            raise LeaseLost(f"plan() needs shard leases of {self.leases.group!r}; call leases.balance() first")
        for table in self.tables.values():
            table.refresh()
        for d in datasets:
            if d in self.dedup:
                self.dedup[d].rolled_back()  # nothing of an earlier, uncommitted plan counts
                self.dedup[d].catch_up(self.tables[d])
        valid_ckpts: dict[str, checkpoints.Checkpoint] = {}
        stored_epochs: dict[str, int] = {}

        def note(fences: dict) -> None:
            for d in datasets:
                for shard, e in fences.get(d, {}).items():
                    stored_epochs[shard] = max(stored_epochs.get(shard, 0), e)

        for d in datasets:
            positions, fences = checkpoints.read_state(self.tables[d])
            valid_ckpts[d] = positions.get(d, {})
            note(fences)
        rejected_all, rejected_fences = checkpoints.read_state(self.tables[contracts.REJECTED_TABLE])
        rejected_ckpts = {d: rejected_all.get(d, {}) for d in datasets}
        note(rejected_fences)
        # above the tables' epochs (a no-op unless the state database was reset)
        epochs = {shard: self.leases.leases[shard].ensure_epoch_above(stored_epochs.get(shard, 0)) for shard in held}

        read_positions = {d: self.positions.get(d) for d in datasets}
        batch = IngestBatch(
            datasets={
                d: DatasetBatch(
                    d,
                    valid_base=dict(valid_ckpts[d]),
                    rejected_base=dict(rejected_ckpts[d]),
                    valid_checkpoint=dict(valid_ckpts[d]),
                    rejected_checkpoint=dict(rejected_ckpts[d]),
                )
                for d in datasets
            },
            positions=self.positions,
            leases=self.leases,
            epochs=epochs,
            key_checks={d: self._key_check(d) for d in datasets if d in self.dedup},
        )
        limit = max_records or self.settings.consumer_batch_records
        now = datetime.now(UTC)
        today = day_number(now)

        late: dict[str, list[pa.Table]] = {}  # see _late_duplicates
        try:
            self._plan_shards(batch, held, datasets, read_positions, valid_ckpts, rejected_ckpts, late,
                              limit, group_bytes, now, today)
        except BaseException:
            batch.discard()
            raise
        for dataset, candidates in late.items():
            missing = self._late_duplicates(pa.concat_tables(candidates))
            if missing.num_rows:
                batch.datasets[dataset].rejected.append(missing)
        return batch

    def _plan_shards(self, batch, held, datasets, read_positions, valid_ckpts, rejected_ckpts, late,
                     limit, group_bytes, now, today) -> None:
        starts = {shard: self._start(shard, datasets, read_positions, valid_ckpts, rejected_ckpts) for shard in held}
        pages = ((shard, page) for shard in sorted(held) for page in self._read_whole_jobs(shard, starts[shard], limit))
        for shard, page in self._prefetched(pages):
            items = []
            for record in page:
                batch.stream_records += 1
                batch.read_to[shard] = record.sequence_number
                header, payload = _decode(record.data)
                if header.dataset in batch.datasets:
                    items.append((record, header, payload))
            for group in _groups(items, group_bytes):
                group_dataset = batch.datasets[group[0][1].dataset]
                first_new = len(group_dataset.valid)
                for (record, header, payload), result in zip(group, self._process(group, today), strict=True):
                    dbatch = batch.datasets[header.dataset]
                    in_valid = checkpoints.includes(valid_ckpts[header.dataset], shard, record.sequence_number)
                    in_rejected = checkpoints.includes(rejected_ckpts[header.dataset], shard, record.sequence_number)
                    outcome = ChunkOutcome(
                        header.job_id, header.part, header.dataset, shard, record.sequence_number, header.first_index
                    )
                    if isinstance(result, Exception):  # the processor could not handle it: kept whole
                        outcome.rejected = header.record_count
                        if not in_rejected:
                            dbatch.rejected.append(_dead_letter(payload, header, result, now))
                    else:
                        valid, rejected, duplicates = result
                        outcome.accepted = valid.num_rows
                        # invalid records only: a duplicate is also a rejected_records row, but it is
                        # counted once, in duplicates (received = accepted + rejected + duplicates)
                        outcome.rejected = rejected.num_rows - duplicates
                        outcome.duplicates = duplicates
                        if not in_valid and valid.num_rows:
                            dbatch.valid.append((outcome, self._valid_table(valid, header.job_id, now)))
                        if rejected.num_rows and (not in_rejected or (duplicates and not in_valid)):
                            set_aside = rejected_rows(
                                job_id=header.job_id,
                                dataset=header.dataset,
                                record_index=pa.compute.add(rejected.column("record_index").cast(pa.int64()),
                                                            header.first_index),
                                raw=rejected.column("raw"),
                                violations=rejected.column("violations"),
                                now=now,
                            )
                            if not in_rejected:
                                dbatch.rejected.append(set_aside)
                            else:  # see _late_duplicates
                                late.setdefault(header.dataset, []).append(set_aside)
                    if not in_valid:
                        checkpoints.advance(dbatch.valid_checkpoint, shard, record.sequence_number)
                    if not in_rejected:
                        checkpoints.advance(dbatch.rejected_checkpoint, shard, record.sequence_number)
                    dbatch.chunks.append(outcome)
                self._prewrite(group_dataset, first_new)

    def _prewrite(self, dbatch: DatasetBatch, start: int) -> None:
        """Write ``dbatch.valid[start:]`` in the background (the commit uses the files, see ``write_valid``)."""
        pieces = dbatch.valid[start:]
        if pieces:
            table = self.tables[dbatch.dataset]
            future = self._writer.submit(write_files, table, pieces)
            dbatch.prewrites.append(Prewrite(table, start, len(dbatch.valid), future, tuple(r for _, r in pieces)))

    def _late_duplicates(self, candidates: pa.Table) -> pa.Table:
        """The duplicate rows of ``candidates`` that ``rejected_records`` does not hold yet.

        A chunk whose rejected rows landed but whose valid rows did not is planned again when the
        valid commit found a key that another shard's consumer stored after the rejected commit.
        That key is now a duplicate too, and its row was not in the rejected commit. The chunk's
        other rows are already stored (the processor decides them the same way every time), so only
        duplicates whose (job, record) ``rejected_records`` lacks are added; a replay finds them.
        """
        import pyarrow.compute as pc
        from pyiceberg.expressions import In

        candidates = candidates.filter(pc.match_substring(candidates.column("violations"), '"rule":"duplicate"'))
        if not candidates.num_rows:
            return candidates
        jobs = set(candidates.column("job_id").to_pylist())
        stored = self.tables[contracts.REJECTED_TABLE].scan(
            row_filter=In("job_id", jobs), selected_fields=("job_id", "record_index")
        ).to_arrow()
        have = set(zip(stored.column("job_id").to_pylist(), stored.column("record_index").to_pylist(), strict=True))
        keep = [(j, i) not in have for j, i in zip(candidates.column("job_id").to_pylist(),
                                                     candidates.column("record_index").to_pylist(), strict=True)]
        if not all(keep):
            log.info("%d duplicate(s) found at an earlier valid commit already in rejected_records", keep.count(False))
        return candidates.filter(pa.array(keep, pa.bool_()))

    def _process(self, group: list, today: int) -> list:
        """Process a group of chunks of one dataset in one ``process()`` call.

        Returns, per chunk, ``(valid, rejected, duplicate count)`` with
        chunk-local record indexes, or the exception that chunk raised. The
        chunks are joined; each chunk's records are found again by the record
        counts of their headers. If the processor counts the records otherwise,
        or fails, each chunk is processed on its own.
        """
        import data_processor_rs as dp

        header = group[0][1]
        dedup = self.dedup.get(header.dataset)
        kw = dict(index=dedup.index if dedup is not None else None, day=today)
        schema_json = contracts.validation_schema_json(header.dataset)
        rules_json = contracts.transform_rules_json(header.dataset)
        if len(group) > 1:
            firsts, total = [], 0
            for _, h, _ in group:
                firsts.append(total)
                total += h.record_count
            joined = b"".join(piece for _, _, p in group for piece in ((p,) if p[-1:] == b"\n" else (p, b"\n")))
            try:
                # a failed call adds no key to the index: the chunks are tried one by one below
                result = dp.process(joined, header.format, schema_json, rules_json,
                                    jobs=[(f, h.job_id) for f, (_, h, _) in zip(firsts, group, strict=True)], **kw)
            except Exception as exc:  # noqa: BLE001
                log.warning("processing %d chunks together failed (%s); one at a time", len(group), exc)
            else:
                if result.record_count == total:
                    return _split(result, firsts, total)
                raise _Regroup(f"the processor counted {result.record_count} records in {len(group)} chunks, "
                               f"their headers {total}")
        out: list = []
        for _, h, payload in group:
            try:
                result = dp.process(bytes(payload), h.format, schema_json, rules_json, job_id=h.job_id, **kw)
            except Exception as exc:  # noqa: BLE001 - any processor failure dead-letters the chunk
                log.error("processor failed on chunk job=%s part=%s (%s); keeping it whole in rejected_records",
                          h.job_id, h.part, exc, exc_info=True, extra={"job_id": h.job_id, "part": h.part})
                out.append(exc)
            else:
                out.append((pa.table(result.valid), pa.table(result.rejected), result.duplicate_count))
        return out

    def _key_check(self, dataset: str):
        index = self.dedup[dataset]

        def check(table) -> None:
            n = index.conflicts(table)
            if n:
                raise StaleBatch(f"{n} {dataset} key(s) of this batch were stored by another consumer meanwhile")

        return check

    @staticmethod
    def _start(shard, datasets, read_positions, valid_ckpts, rejected_ckpts) -> str | None:
        """Lowest position any dataset in scope still needs on this shard (None = from the start)."""
        starts = []
        for d in datasets:
            if shard in read_positions[d]:
                starts.append(read_positions[d][shard])
                continue
            table_positions = [valid_ckpts[d].get(shard), rejected_ckpts[d].get(shard)]
            if None in table_positions:
                return None
            starts.append(min(table_positions, key=checkpoints.seq))
        return min(starts, key=checkpoints.seq) if starts else None

    def _read_whole_jobs(self, shard: str, start: str | None, limit: int) -> Iterator[list]:
        """Read ``limit`` records, then on until the last job read is complete; in pages of ``READ_PAGE``.

        A job's chunks sit in one shard in order; finishing the job inside one
        batch lets the processor deduplicate across all of its chunks.
        """
        read, after, last = 0, start, None
        while True:
            if read < limit:
                want = min(READ_PAGE, limit - read)
            else:
                header, _ = _decode(last.data)
                if header.part >= header.parts - 1:
                    return
                want = min(READ_PAGE, header.parts - 1 - header.part)
            records = self.stream.read(shard, after, want)
            if not records:
                return
            yield records
            read += len(records)
            last = records[-1]
            after = last.sequence_number

    def _prefetched(self, pages: Iterator[tuple[str, list]]) -> Iterator[tuple[str, list]]:
        """``pages``, each read on the reader thread while the one before it is processed."""
        def step():
            return next(pages, None)

        ahead = self._reader.submit(step)
        while (page := ahead.result()) is not None:
            ahead = self._reader.submit(step)
            yield page

    @staticmethod
    def _valid_table(valid: pa.Table, job_id: str, now: datetime) -> pa.Table:
        # ``_index`` (the record's place in its chunk) is kept for the rows that
        # may be set aside at write time; the writer stores only the table's fields
        n = valid.num_rows
        valid = valid.append_column("job_id", constant(job_id, pa.string(), n))
        return valid.append_column("ingested_at", constant(now, pa.timestamp("us", tz="UTC"), n))

    # -- phase 2: commit -------------------------------------------------------
    def commit(self, batch: IngestBatch) -> CommitResult:
        """Commit ``batch``, retrying a failing infrastructure with backoff (Property 16).

        After ``consumer_max_attempts`` failed attempts the batch's jobs are
        marked FAILED with the reason and the error is raised; the stream still
        holds every record, and a later pass that lands them completes the jobs.
        ``StaleBatch`` is raised at once: the batch must be planned again.
        """
        attempts = self.settings.consumer_max_attempts
        delay = 0.5
        for attempt in range(1, attempts + 1):
            try:
                result = commit_batch(batch, self.tables, self.jobs)
            except StaleBatch:
                for index in self.dedup.values():
                    index.rolled_back()
                raise
            except Exception as exc:
                if attempt == attempts:
                    log.error("commit of %s failed after %d attempts: %s; jobs %s marked FAILED", batch.summary(),
                              attempts, exc, ", ".join(sorted(batch.job_ids())), exc_info=True,
                              extra={"job_ids": sorted(batch.job_ids()), "attempts": attempts})
                    for job_id in batch.job_ids():
                        self.jobs.mark_failed(job_id, f"iceberg commit failed after {attempts} attempts: {exc}")
                    raise
                log.warning("commit failed (attempt %d/%d): %s; retrying in %.1fs", attempt, attempts, exc, delay)
                time.sleep(delay)
                delay *= 2
                continue
            for dataset, index in self.dedup.items():
                index.committed(self.tables[dataset], result.snapshots.get(dataset))
            return result
        raise AssertionError("unreachable")

    # -- the loops -------------------------------------------------------------
    def run_once(self, datasets: Sequence[str] = contracts.DATASETS, *, max_records: int | None = None) -> CommitResult:
        """One pass: balance the shard leases, plan the held shards' next batch and commit it.

        The leases are kept alive meanwhile. Raises ``LeaseHeld`` when other
        consumers hold every shard, and ``StaleBatch`` when this one lost a
        lease or another committed first.
        """
        if not self.leases.balance(self.stream.shard_ids()):
            raise LeaseHeld(f"every shard of {self.leases.group!r} is held by another consumer")
        with self.leases.kept_alive():
            batch = self.plan(datasets, max_records=max_records)
            faults.point("consumer.after_plan")
            if batch.empty:
                return CommitResult({}, batch.summary())
            # PENDING -> PROCESSING meanwhile, on the idle reader thread (it never undoes a later COMPLETED)
            marking = self._reader.submit(self._mark_processing, batch)
            try:
                return self.commit(batch)
            finally:
                batch.discard()  # what a failed commit did not use (a committed batch has nothing left)
                if (error := marking.exception()) is not None:
                    log.warning("could not mark the batch's jobs PROCESSING: %s", error)

    def _others_cover_the_rest(self) -> bool:
        """Whether every shard this consumer does not hold is held by another live consumer."""
        held = self.leases.held()
        return all(s in held or self.leases.held_elsewhere(s) for s in self.stream.shard_ids())

    def drain(self, datasets: Sequence[str] = contracts.DATASETS, *, max_records: int | None = None) -> dict[str, int]:
        """Run passes until the shards have nothing new; give the leases up.

        Shards held by another live consumer are left to it. A shard whose
        holder stopped (or is paused) is taken once its lease runs out, so this
        waits up to about one lease period for it.
        """
        totals: dict[str, int] = {}
        ttl = self.leases.ttl.total_seconds()
        give_up = time.monotonic() + ttl * 2.5
        try:
            while True:
                try:
                    result = self.run_once(datasets, max_records=max_records)
                except LeaseHeld:
                    if time.monotonic() > give_up:
                        raise
                    time.sleep(min(1.0, ttl / 5))
                    continue
                except (StaleBatch, LeaseLost) as exc:
                    log.warning("%s; planning again", exc)
                    continue
                if result.summary["stream_records"]:
                    for key, value in result.summary.items():
                        totals[key] = totals.get(key, 0) + value
                    continue
                if self._others_cover_the_rest() or time.monotonic() > give_up:
                    break
                time.sleep(min(1.0, ttl / 5))  # a free shard this consumer may not take yet
        finally:
            self.leases.release_all()
        return totals

    def run_forever(self, stop=lambda: False) -> None:
        """Poll until ``stop()`` is true; failures back off and retry, nothing is skipped."""
        poll = self.settings.consumer_poll_seconds
        interval = self.settings.consumer_commit_interval_seconds
        backoff = poll
        try:
            while not stop():
                started = time.monotonic()
                try:
                    result = self.run_once()
                except LeaseHeld as exc:
                    log.info("%s; waiting", exc)
                    time.sleep(poll)  # a share may free up at the holders' next pass
                    continue
                except (StaleBatch, LeaseLost) as exc:
                    log.warning("%s; planning again", exc)
                    continue
                except Exception:  # noqa: BLE001 - keep the consumer alive; the stream keeps the data
                    log.exception("consumer pass failed; retrying in %.1fs (positions not advanced)", backoff)
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 60)
                    continue
                backoff = poll
                read = result.summary["stream_records"]
                if not read:
                    time.sleep(poll)
                elif read < self.settings.consumer_batch_records:
                    # keeping up: commit at most once per interval (a backlog is drained without pause)
                    time.sleep(max(0.0, interval - (time.monotonic() - started)))
        finally:
            self.leases.release_all()

    def _mark_processing(self, batch: IngestBatch) -> None:
        self.jobs.mark_processing_many(sorted(batch.job_ids()))

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)
        self.stream.close()
