"""In-process request counters behind ``GET /api/v1/metrics``.

Counters live in the process: behind several uvicorn workers each worker
reports its own. Job and record totals come from the job store and are global.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any


class ApiCounters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started_at = datetime.now(UTC)
        self._started = time.monotonic()
        self._requests: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.records_received = 0
        self.bytes_received = 0
        self.ingest_requests_accepted = 0
        self.client_disconnects = 0

    def count_request(self, endpoint: str, status_code: int) -> None:
        with self._lock:
            self._requests[endpoint][str(status_code)] += 1

    def count_client_disconnect(self) -> None:
        with self._lock:
            self.client_disconnects += 1

    def count_ingest(self, records: int, body_bytes: int) -> None:
        with self._lock:
            self.ingest_requests_accepted += 1
            self.records_received += records
            self.bytes_received += body_bytes

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            requests = {endpoint: dict(by_status) for endpoint, by_status in self._requests.items()}
            return {
                "started_at": self.started_at.isoformat(),
                "uptime_seconds": round(time.monotonic() - self._started, 3),
                "requests": requests,
                "requests_total": sum(sum(by_status.values()) for by_status in requests.values()),
                "ingest_requests_accepted": self.ingest_requests_accepted,
                "client_disconnects": self.client_disconnects,
                "records_received": self.records_received,
                "bytes_received": self.bytes_received,
            }
