"""Response bodies, as pydantic models so /docs shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from eventlake.state.ingestion_jobs import Job, JobStatus
from pydantic import BaseModel, Field


class IngestAccepted(BaseModel):
    job_id: str = Field(description="Id to poll at GET /api/v1/status/{job_id}.")
    status: Literal[JobStatus.PENDING] = JobStatus.PENDING
    record_count: int = Field(description="Records in the request, as parsed.")


class JobStatusResponse(BaseModel):
    job_id: str
    dataset: str
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    record_count: int
    accepted_count: int = Field(description="Records that passed validation and landed in the raw table.")
    rejected_count: int = Field(description="Records that failed validation (in raw.rejected_records).")
    duplicate_count: int = Field(description="Records dropped as duplicates of an earlier key.")
    snapshot_id: int | None = Field(description="Iceberg snapshot of the job's latest commit.")
    error_message: str | None

    @classmethod
    def from_job(cls, job: Job) -> JobStatusResponse:
        return cls(
            job_id=job.job_id,
            dataset=job.dataset,
            status=job.status,
            created_at=job.created_at,
            updated_at=job.updated_at,
            record_count=job.record_count,
            accepted_count=job.accepted_count,
            rejected_count=job.rejected_count,
            duplicate_count=job.duplicate_count,
            snapshot_id=job.snapshot_id,
            error_message=job.error_message,
        )


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
    jobs: dict[str, Any] = Field(description="Job store aggregates (IngestionJobStore.metrics()).")


class TriggerResponse(BaseModel):
    pipeline: str
    run_id: str
    run_url: str = Field(description="The run in the Dagster UI.")
