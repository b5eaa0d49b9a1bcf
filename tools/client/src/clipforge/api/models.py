"""The public contract of the ClipForge API: what the gateway accepts and returns, in one place.

The gateway serves these models and the Python client parses them; the stages carry the domain
models among them (job options, media facts, transcripts) on their events. Only pydantic here:
no web framework, broker or database.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from clipforge.api.urls import MAX_URL_LENGTH, UnsafeUrl, check_url_syntax

Priority = Literal["interactive", "batch"]
PRIORITIES: tuple[Priority, ...] = ("interactive", "batch")

PROBLEM_TYPE_BASE = "https://clipforge.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"


# --- domain models the stages carry too -------------------------------------------------------


class Stage(StrEnum):
    INGEST = "ingest"
    TRANSCRIBE = "transcribe"
    ANALYZE = "analyze"
    RENDER = "render"


class JobStatus(StrEnum):
    QUEUED = "queued"
    INGESTING = "ingesting"
    TRANSCRIBING = "transcribing"
    ANALYZING = "analyzing"
    RENDERING = "rendering"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})



class StageStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    RETRYING = "retrying"  # an attempt failed for a reason that may pass; the next one is scheduled
    DONE = "done"
    FAILED = "failed"


Aspect = Literal["original", "9:16", "1:1", "16:9"]
CaptionStyle = Literal["bold", "clean", "karaoke"]


class JobOptions(BaseModel):
    """What the client asks of a job. Validated at the gateway; carried on every event."""

    # Strict: "5" for 5 or "yes" for true is refused (422 at the gateway), as the JSON schema says.
    model_config = ConfigDict(extra="forbid", strict=True)

    max_clips: int = Field(default=5, ge=1, le=20, description="Upper bound on clips produced.")
    min_clip_seconds: float = Field(default=15.0, ge=3.0, le=600.0)
    max_clip_seconds: float = Field(default=60.0, ge=3.0, le=600.0)
    aspect: Aspect = Field(
        default="original",
        description="Output frame shape: follows the main face, or a blurred-background fit when there is none.",
    )
    captions: bool = Field(default=True, description="Burn word-level captions into the clips.")
    caption_style: CaptionStyle = Field(default="bold", description="Caption preset: font, colours, highlight.")
    language: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2,3}$",
        description="Spoken language as an ISO 639 code; detected when omitted.",
    )

    @model_validator(mode="after")
    def _min_not_above_max(self) -> JobOptions:
        if self.min_clip_seconds > self.max_clip_seconds:
            raise ValueError("min_clip_seconds must not exceed max_clip_seconds")
        return self


class MediaInfo(BaseModel):
    """Facts ffprobe reports about the source."""

    duration_seconds: float
    size_bytes: int
    container: str = Field(description='ffprobe\'s format name, e.g. "mov,mp4,m4a,3gp,3g2,mj2".')
    video_codec: str | None = None
    audio_codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    has_audio: bool
    has_video: bool


class Word(BaseModel):
    start: float
    end: float
    text: str
    probability: float = 1.0


class Segment(BaseModel):
    start: float
    end: float
    text: str
    words: list[Word] = Field(default_factory=list)


class Transcript(BaseModel):
    language: str
    duration_seconds: float
    segments: list[Segment]

    @property
    def words(self) -> list[Word]:
        return [word for segment in self.segments for word in segment.words]

    @property
    def text(self) -> str:
        return " ".join(segment.text.strip() for segment in self.segments).strip()


class TranscriptSummary(BaseModel):
    language: str
    duration_seconds: float
    segment_count: int
    word_count: int
    preview: str = Field(description="The first few hundred characters of the transcript.")

    @classmethod
    def of(cls, transcript: Transcript, preview_chars: int = 280) -> TranscriptSummary:
        return cls(
            language=transcript.language,
            duration_seconds=transcript.duration_seconds,
            segment_count=len(transcript.segments),
            word_count=len(transcript.words),
            preview=transcript.text[:preview_chars],
        )




class AnalysisInfo(BaseModel):
    """How the highlights were chosen; ``degraded`` is set when a configured scorer failed."""

    scorer: str
    degraded: bool = False
    detail: str | None = None


class JobError(BaseModel):
    stage: str
    code: str
    message: str




# --- requests and responses ------------------------------------------------------------------

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
    status: str = Field(
        description="pending, running, retrying (an attempt failed; the next is scheduled), done, failed."
    )
    attempt: int = 0
    progress: float = 0.0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    error: JobError | None = None
    next_retry_at: datetime | None = Field(default=None, description="When a retrying stage tries again.")
    last_error: JobError | None = Field(default=None, description="Why the last attempt failed, while retrying.")
    heartbeat_at: datetime | None = Field(default=None, description="Last sign of life of the running attempt.")


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


class CacheUse(BaseModel):
    """Whether a job reused an earlier job's download and transcript."""

    source: Literal["hit", "miss"] | None = Field(default=None, description="Download and speech track.")
    transcript: Literal["hit", "miss"] | None = None


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
    cache: CacheUse | None = Field(default=None, description="Whether the download and transcript were reused.")
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
            cache=job.get("cache"),
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


# --- errors ----------------------------------------------------------------------------------


class FieldProblem(BaseModel):
    field: str = Field(description="Dotted path of the offending field, e.g. options.max_clips.")
    message: str


class ProblemDetails(BaseModel):
    """An RFC 9457 problem: every error the API returns has this shape."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description=f"{PROBLEM_TYPE_BASE}<code>")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong this time, for a person.")
    instance: str = Field(description="The request path.")
    code: str = Field(description="A stable, machine-readable error code.")
    errors: list[FieldProblem] | None = Field(default=None, description="Validation errors, one per field.")


# --- live progress (WebSocket messages and SSE data) -----------------------------------------


class ProgressMessage(BaseModel):
    """One visible change of a job. ``status`` is the job's phase (queued, ingesting, ...)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["progress"] = "progress"
    schema_version: int = 1
    event_id: str
    job_id: str
    tenant_id: str
    attempt: int = 1
    emitted_at: datetime
    correlation_id: str
    priority: Priority = "interactive"
    seq: int = Field(description="Per-job sequence number; strictly increasing.")
    status: JobStatus
    stage: str
    percent: float = Field(ge=0.0, le=100.0, description="Overall job progress.")
    stage_percent: float = Field(ge=0.0, le=100.0)
    message: str
    eta_seconds: float | None = None
    job_eta_seconds: float | None = Field(
        default=None,
        description="Estimated seconds until the whole job ends (``eta_seconds`` is for the current stage only); "
        "0 once it has ended, null while there is no estimate yet.",
    )
    cursor: str | None = Field(
        default=None, description="Tenant streams only: pass as ?cursor= (or Last-Event-ID) to resume after this."
    )


class JobSnapshotMessage(BaseModel):
    """First message of a job stream (and the restart point when missed events are gone)."""

    type: Literal["snapshot"] = "snapshot"
    job: JobView


class ActiveJob(BaseModel):
    id: str
    status: JobStatus
    stage: str
    progress: float
    message: str
    seq: int
    updated_at: datetime

    @classmethod
    def from_document(cls, job: dict[str, Any]) -> ActiveJob:
        return cls(
            id=job["_id"],
            status=job["status"],
            stage=job.get("stage") or job["status"],
            progress=job.get("progress", 0.0),
            message=job.get("message") or "",
            seq=job.get("seq", 0),
            updated_at=job["updated_at"],
        )


class TenantSnapshotMessage(BaseModel):
    """First message of a fresh tenant stream: the tenant's unfinished jobs."""

    type: Literal["snapshot"] = "snapshot"
    jobs: list[ActiveJob]
    cursor: str


__all__ = [
    "MAX_URL_LENGTH",
    "PRIORITIES",
    "PROBLEM_CONTENT_TYPE",
    "PROBLEM_TYPE_BASE",
    "TERMINAL_STATUSES",
    "ActiveJob",
    "AnalysisInfo",
    "Aspect",
    "CaptionStyle",
    "ClipView",
    "CreateJobRequest",
    "FieldProblem",
    "HighlightView",
    "JobCreated",
    "JobError",
    "JobLinks",
    "JobList",
    "JobOptions",
    "JobSnapshotMessage",
    "JobStatus",
    "JobSummary",
    "JobView",
    "MediaInfo",
    "Priority",
    "ProblemDetails",
    "ProgressMessage",
    "QueueDepth",
    "Segment",
    "Stage",
    "StageStatus",
    "StageView",
    "Stats",
    "TenantSnapshotMessage",
    "Transcript",
    "TranscriptSummary",
    "WebhookAttemptView",
    "Word",
    "check_http_url",
]
