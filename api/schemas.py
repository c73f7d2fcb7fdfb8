"""Response bodies, as pydantic models so /docs shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from eventlake.state.ingestion_jobs import Job, JobStatus
from pydantic import BaseModel, ConfigDict, Field


class IngestAccepted(BaseModel):
    job_id: str = Field(description="Id to poll at GET /api/v1/status/{job_id}.")
    status: Literal[JobStatus.PENDING] = JobStatus.PENDING
    record_count: int = Field(description="Records in the request, as parsed.")


class JobStatusResponse(BaseModel):
    """A job's status and counts. Once it is COMPLETED, every record it received is counted exactly
    once: ``record_count = accepted_count + rejected_count + duplicate_count``."""

    job_id: str
    dataset: str
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    record_count: int = Field(description="Records received: the records of the request, as parsed.")
    accepted_count: int = Field(description="Records that passed validation and landed in the raw table.")
    rejected_count: int = Field(
        description="Invalid records: they broke the contract (or could not be written) and are kept, "
        "with their violations, in raw.rejected_records. Duplicates are not counted here."
    )
    duplicate_count: int = Field(
        description="Records dropped as duplicates of a key already stored (also kept in raw.rejected_records, "
        "with rule `duplicate`). Not counted in rejected_count."
    )
    snapshot_id: int | None = Field(description="Iceberg snapshot of the job's latest commit.")
    snapshot_url: str | None = Field(
        default=None,
        description="That snapshot of raw.<dataset> in the API (GET it with the key): its stream positions, job ids "
        "and counts, and whether a rollback has undone it since (`in_current_lineage`).",
    )
    error_message: str | None

    @classmethod
    def from_job(cls, job: Job) -> JobStatusResponse:
        fields = {name: getattr(job, name) for name in cls.model_fields if hasattr(job, name)}
        url = snapshot_url(f"raw.{job.dataset}", job.snapshot_id) if job.snapshot_id is not None else None
        return cls(**fields, snapshot_url=url)


def snapshot_url(table: str, snapshot_id: int) -> str:
    """The API path of one snapshot of a table (``GET /api/v1/tables/{name}/snapshots/{snapshot_id}``)."""
    return f"/api/v1/tables/{table}/snapshots/{snapshot_id}"


class TableSnapshot(BaseModel):
    """One Iceberg snapshot of a raw table."""

    snapshot_id: int
    parent_id: int | None = Field(description="The snapshot it was made on; null for the first.")
    timestamp: datetime = Field(description="When it was committed (UTC).")
    timestamp_ms: int
    operation: str | None = Field(description="append (a consumer commit), replace (compaction), overwrite, delete.")
    added_records: int | None = Field(description="Rows this snapshot added.")
    total_records: int | None = Field(description="Rows of the table as of this snapshot.")
    positions: dict[str, dict[str, str]] = Field(
        description="Stream positions stored in the snapshot summary, {dataset: {shard: last sequence number}}: "
        "the stream records the table includes. Empty when the snapshot stores none (e.g. a compaction)."
    )
    effective_positions: dict[str, dict[str, str]] = Field(
        description="The positions the table includes as of this snapshot: its own, or its nearest ancestor's."
    )
    job_ids: list[str] | None = Field(
        description="Distinct job_id of the rows this snapshot added (from its added data files); null when not read "
        "(`jobs=false`, or not an append)."
    )
    current: bool = Field(description="The table's current snapshot.")
    in_current_lineage: bool = Field(
        description="The current snapshot or one of its ancestors; false for a snapshot a rollback has undone."
    )
    url: str = Field(description="This snapshot in the API.")


class TableSnapshots(BaseModel):
    """A table's snapshots, oldest first."""

    table: str
    current_snapshot_id: int | None
    snapshots: list[TableSnapshot]


class Violation(BaseModel):
    """One way a record broke the contract, as the validator wrote it into raw.rejected_records."""

    model_config = ConfigDict(extra="allow")

    field: str | None = Field(default=None, description="The field at fault; null for the whole record.")
    rule: str = Field(
        description="The rule broken: e.g. `required`, `type`, `allowed`, `min`, `max`, `timestamp`, `duplicate` "
        "(the key was already stored), `write_error` (the record could not be written)."
    )
    value: Any = Field(default=None, description="The offending value, when there is one.")
    message: str | None = Field(default=None, description="What is wrong, in words.")


class RejectedRecord(BaseModel):
    record_index: int = Field(
        description="0-based position of the record in its request (the numbering of error details too)."
    )
    raw: str | None = Field(description="The record as it arrived: the JSON object's text, or the CSV row.")
    violations: list[Violation] = Field(description="Every rule the record broke.")
    rejected_at: datetime


class RejectedRecordsPage(BaseModel):
    """One page of a job's rejected records, in ``record_index`` order."""

    job_id: str
    dataset: str
    rule: str | None = Field(description="The `rule` filter applied, if any.")
    total: int = Field(description="Rejected records of the job (matching `rule`), on every page.")
    limit: int
    offset: int
    next_offset: int | None = Field(description="The `offset` of the next page; null on the last page.")
    items: list[RejectedRecord]


ComponentState = Literal["up", "down", "degraded"]


class ComponentHealth(BaseModel):
    status: ComponentState
    essential: bool
    latency_ms: float | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded", "down"] = Field(
        description="ok: everything up; degraded: essentials up, something else not; down: an essential is down (503)."
    )
    components: dict[str, ComponentHealth]


class MetricsResponse(BaseModel):
    api: dict[str, Any] = Field(description="This process's counters: requests by endpoint and status, records and bytes received.")
    jobs: dict[str, Any] = Field(
        description="Job store aggregates over all jobs (IngestionJobStore.metrics()): jobs_by_status, jobs_total, "
        "records_received = records_accepted + records_rejected (invalid) + records_duplicates + records_in_flight "
        "(not counted yet), last_completed_at, avg_seconds_to_complete."
    )


class TriggerResponse(BaseModel):
    pipeline: str
    run_id: str
    run_url: str = Field(description="The run in the Dagster UI.")
