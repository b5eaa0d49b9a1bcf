"""What the REST API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from clipforge.shared.events import Priority
from clipforge.shared.models import AnalysisInfo, JobError, JobOptions, JobStatus, MediaInfo, TranscriptSummary
from clipforge.shared.urlsafety import MAX_URL_LENGTH, UnsafeUrl, check_url_syntax


def check_http_url(value: str) -> str:
    """An http(s) link with a host and no control characters, spaces or lone surrogates.

    Only the form: whether the address may be fetched is decided by the route (job sources) or
    when delivering (webhooks), which know the configuration.
    """
    try:
        return check_url_syntax(value, allow_credentials=True)
    except UnsafeUrl as error:
        raise ValueError(error.message) from None


class CreateJobRequest(BaseModel):
    # Strict: a value of the wrong JSON type ("5" for 5, "yes" for true) is a 422, as the schema says.
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
                    "options": {"max_clips": 3, "aspect": "9:16", "caption_style": "karaoke"},
                    "priority": "interactive",
                    "callback_url": "https://example.com/hooks/clipforge",
                }
            ]
        },
    )

    url: str = Field(
        max_length=MAX_URL_LENGTH,
        description="A public http(s) link to a video page or file (checked by the route: see create_job).",
    )
    options: JobOptions = Field(default_factory=JobOptions)
    priority: Priority = Field(default="interactive", description="Batch jobs wait while interactive ones run.")
    callback_url: str | None = Field(
        default=None, max_length=MAX_URL_LENGTH, description="Receives signed completion and failure notifications."
    )

    @field_validator("callback_url")
    @classmethod
    def _http_callback(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value)


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
    title: str = ""
    keywords: list[str] = Field(default_factory=list)
    sub_scores: dict[str, float] = Field(default_factory=dict)
    size_bytes: int
    width: int
    height: int
    url: str
    thumbnail_url: str | None = None
    srt_url: str | None = None
    vtt_url: str | None = None

    @classmethod
    def from_clip(cls, clip: dict[str, Any], job_path: str) -> ClipView:
        clip_path = f"{job_path}/clips/{clip['index']}"
        fields = {key: clip[key] for key in cls.model_fields if key in clip}
        return cls(
            **fields,
            url=clip_path,
            thumbnail_url=f"{clip_path}/thumbnail" if clip.get("thumbnail_key") else None,
            srt_url=f"{clip_path}/captions.srt" if clip.get("srt_key") else None,
            vtt_url=f"{clip_path}/captions.vtt" if clip.get("vtt_key") else None,
        )


class WebhookAttemptView(BaseModel):
    """One attempt to notify the job's callback_url."""

    delivery_id: str
    event: str = Field(description="job.completed or job.failed")
    attempt: int
    status_code: int | None = Field(description="The receiver's HTTP status; null when there was no answer.")
    error: str | None
    outcome: str = Field(description="delivered, retrying (see next_attempt_at) or failed (no more attempts)")
    at: datetime
    next_attempt_at: datetime | None = None


class JobView(BaseModel):
    id: str
    tenant_id: str
    status: JobStatus
    stage: str
    progress: float
    message: str
    seq: int
    priority: Priority = "interactive"
    retries: int = 0
    source: dict[str, Any]
    options: JobOptions
    stages: dict[str, StageView]
    media: MediaInfo | None = None
    transcript: TranscriptSummary | None = None
    clips: list[ClipView] = Field(default_factory=list)
    analysis: AnalysisInfo | None = None
    error: JobError | None = None
    callback_url: str | None = None
    webhooks: list[WebhookAttemptView] = Field(default_factory=list, description="Notification attempts, oldest first.")
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None

    @classmethod
    def from_document(cls, job: dict[str, Any], *, base_path: str = "/v1/jobs") -> JobView:
        job_path = f"{base_path}/{job['_id']}"
        clips = [ClipView.from_clip(clip, job_path) for clip in job.get("clips") or []]
        return cls(
            id=job["_id"],
            tenant_id=job["tenant_id"],
            status=job["status"],
            stage=job.get("stage") or job["status"],
            progress=job.get("progress", 0.0),
            message=job.get("message") or "",
            seq=job.get("seq", 0),
            priority=job.get("priority", "interactive"),
            retries=job.get("retries", 0),
            source=job["source"],
            options=JobOptions.model_validate(job["options"]),
            stages={name: StageView.model_validate(state) for name, state in (job.get("stages") or {}).items()},
            media=job.get("media"),
            transcript=job.get("transcript"),
            clips=clips,
            analysis=job.get("analysis"),
            error=job.get("error"),
            callback_url=job.get("callback_url"),
            webhooks=job.get("webhooks") or [],
            created_at=job["created_at"],
            updated_at=job["updated_at"],
            finished_at=job.get("finished_at"),
        )


class JobSummary(BaseModel):
    id: str
    status: JobStatus
    stage: str
    progress: float
    message: str
    priority: Priority
    source: dict[str, Any]
    clip_count: int
    error: JobError | None = None
    created_at: datetime
    finished_at: datetime | None = None

    @classmethod
    def from_document(cls, job: dict[str, Any]) -> JobSummary:
        return cls(
            id=job["_id"],
            status=job["status"],
            stage=job.get("stage") or job["status"],
            progress=job.get("progress", 0.0),
            message=job.get("message") or "",
            priority=job.get("priority", "interactive"),
            source=job["source"],
            clip_count=len(job.get("clips") or []),
            error=job.get("error"),
            created_at=job["created_at"],
            finished_at=job.get("finished_at"),
        )


class JobList(BaseModel):
    items: list[JobSummary]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")


class QueueDepth(BaseModel):
    ready: int
    consumers: int


class Stats(BaseModel):
    jobs_by_status: dict[str, int]
    queues: dict[str, dict[str, QueueDepth]] = Field(description="Per stage, per priority class.")
