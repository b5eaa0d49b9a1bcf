"""What the REST API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from clipforge.shared.models import JobError, JobOptions, JobStatus, MediaInfo, TranscriptSummary

MAX_URL_LENGTH = 2048


class CreateJobRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "options": {"max_clips": 3}}]
        },
    )

    url: str = Field(max_length=MAX_URL_LENGTH, description="An http(s) link to a video page or file.")
    options: JobOptions = Field(default_factory=JobOptions)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an http:// or https:// link to a video")
        return value


class JobLinks(BaseModel):
    self: str
    events: str


class JobCreated(BaseModel):
    id: str
    status: JobStatus
    links: JobLinks


class StageView(BaseModel):
    status: str
    attempt: int = 0
    progress: float = 0.0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    error: JobError | None = None


class HighlightView(BaseModel):
    start: float
    end: float
    score: float
    reason: str


class ClipView(BaseModel):
    index: int
    start: float
    end: float
    duration_seconds: float
    score: float
    reason: str
    text: str
    size_bytes: int
    width: int
    height: int
    url: str


class JobView(BaseModel):
    id: str
    tenant_id: str
    status: JobStatus
    stage: str
    progress: float
    message: str
    seq: int
    source: dict[str, Any]
    options: JobOptions
    stages: dict[str, StageView]
    media: MediaInfo | None = None
    transcript: TranscriptSummary | None = None
    clips: list[ClipView] = Field(default_factory=list)
    error: JobError | None = None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None

    @classmethod
    def from_document(cls, job: dict[str, Any], *, base_path: str = "/v1/jobs") -> JobView:
        job_path = f"{base_path}/{job['_id']}"
        clips = [
            ClipView(
                **{key: clip[key] for key in ClipView.model_fields if key != "url"},
                url=f"{job_path}/clips/{clip['index']}",
            )
            for clip in job.get("clips") or []
        ]
        return cls(
            id=job["_id"],
            tenant_id=job["tenant_id"],
            status=job["status"],
            stage=job.get("stage") or job["status"],
            progress=job.get("progress", 0.0),
            message=job.get("message") or "",
            seq=job.get("seq", 0),
            source=job["source"],
            options=JobOptions.model_validate(job["options"]),
            stages={name: StageView.model_validate(state) for name, state in (job.get("stages") or {}).items()},
            media=job.get("media"),
            transcript=job.get("transcript"),
            clips=clips,
            error=job.get("error"),
            created_at=job["created_at"],
            updated_at=job["updated_at"],
            finished_at=job.get("finished_at"),
        )
