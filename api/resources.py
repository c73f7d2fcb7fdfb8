"""The long-lived backends one API process holds: the job store, the stream, the catalog,
and the group writer that ingests through the first two (``api.group_commit``).

Each is opened on first use and kept; a backend that fails to open is retried
on the next request instead of taking the whole service down, so the health
endpoint can report it and ingestion resumes once it is back.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from eventlake.settings import Settings
from eventlake.state.ingestion_jobs import IngestionJobStore
from eventlake.stream import Stream, open_stream

from api.errors import ComponentUnavailable
from api.group_commit import IngestGroupWriter

log = logging.getLogger("eventlake.api")


class AppResources:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._job_store: IngestionJobStore | None = None
        self._stream: Stream | None = None
        self._catalog: Any = None
        self._writer: IngestGroupWriter | None = None
        self._writer_lock = threading.Lock()

    def opened_job_store(self) -> IngestionJobStore | None:
        """The job store if it is open (never blocks), else None."""
        return self._job_store

    def opened_stream(self) -> Stream | None:
        """The stream if it is open (never blocks), else None."""
        return self._stream

    def opened_ingest_writer(self) -> IngestGroupWriter | None:
        """The group writer if it runs (never blocks), else None."""
        return self._writer

    def job_store(self) -> IngestionJobStore:
        if self._job_store is None:
            with self._lock:
                if self._job_store is None:
                    try:
                        self._job_store = IngestionJobStore(self.settings.job_db)
                    except Exception as exc:
                        raise ComponentUnavailable("job_store", f"cannot open the job store: {exc}") from exc
        return self._job_store

    def stream(self) -> Stream:
        if self._stream is None:
            with self._lock:
                if self._stream is None:
                    stream = None
                    try:
                        stream = open_stream(self.settings)
                        stream.ensure()
                    except Exception as exc:
                        if stream is not None:
                            stream.close()
                        raise ComponentUnavailable(
                            "stream", f"cannot open the {self.settings.stream} stream: {exc}"
                        ) from exc
                    self._stream = stream
        return self._stream

    def ingest_writer(self) -> IngestGroupWriter:
        """The process's group writer over the job store and the stream (started on first use)."""
        if self._writer is None:
            with self._writer_lock:
                if self._writer is None:
                    self._writer = IngestGroupWriter(self.job_store(), self.stream()).start()
        return self._writer

    def writer_stats(self) -> dict[str, Any] | None:
        """The group writer's counters (``IngestGroupWriter.stats``), None before it started."""
        writer = self._writer
        return writer.stats() if writer is not None else None

    def catalog(self) -> Any:
        if self._catalog is None:
            from pyiceberg.catalog import load_catalog  # heavy import: only when health asks

            with self._lock:
                if self._catalog is None:
                    self._catalog = load_catalog(self.settings.catalog_name, **self.settings.catalog_properties())
        return self._catalog

    def open_essentials(self) -> None:
        """Open the job store, the stream and the writer at startup; log (not raise) what fails."""
        for opener in (self.job_store, self.stream, self.ingest_writer):
            try:
                opener()
            except ComponentUnavailable as exc:
                log.error(
                    "component=%s not available at startup: %s", exc.component, exc.message,
                    extra={"component": exc.component},
                )

    def close(self) -> None:
        with self._writer_lock:
            if self._writer is not None:
                self._writer.stop()  # writes what is queued first
                self._writer = None
        with self._lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None
            if self._job_store is not None:
                self._job_store.close()
                self._job_store = None
            self._catalog = None
