"""Events that travel over RabbitMQ between the stages.

Every event carries the envelope fields of the architecture (schema version, ids, attempt,
time, correlation id). Unknown fields are kept, so an older service passes on what a newer
one added.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

# Priority classes are part of the public API (clipforge.api); re-exported here.
from clipforge.api.models import PRIORITIES as PRIORITIES
from clipforge.api.models import Priority as Priority
from clipforge.shared.models import (
    Clip,
    Highlight,
    JobError,
    JobOptions,
    JobStatus,
    MediaInfo,
    SourceRef,
)

E = TypeVar("E", bound="Event")


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_event_id() -> str:
    return uuid.uuid4().hex


class Event(BaseModel):
    model_config = ConfigDict(extra="allow")

    routing_key: ClassVar[str]

    schema_version: int = 1
    event_id: str = Field(default_factory=new_event_id)
    job_id: str
    tenant_id: str
    attempt: int = 1
    emitted_at: datetime = Field(default_factory=utc_now)
    correlation_id: str
    priority: Priority = "interactive"

    @property
    def topic(self) -> str:
        """The routing key it is published with: the priority class, then the event type."""
        return f"{self.priority}.{self.routing_key}"

    def follow_up(self, event_type: type[E], **fields: object) -> E:
        """Build the next event of the pipeline, keeping job, tenant, correlation and priority."""
        return event_type(
            job_id=self.job_id,
            tenant_id=self.tenant_id,
            correlation_id=self.correlation_id,
            priority=self.priority,
            attempt=self.attempt,
            **fields,
        )


class JobRequested(Event):
    routing_key: ClassVar[str] = "job.requested"

    source: SourceRef
    options: JobOptions


class MediaReady(Event):
    routing_key: ClassVar[str] = "media.ready"

    options: JobOptions
    media: MediaInfo
    video_key: str
    audio_key: str


class TranscriptReady(Event):
    routing_key: ClassVar[str] = "transcript.ready"

    options: JobOptions
    media: MediaInfo
    video_key: str
    transcript_key: str


class HighlightsReady(Event):
    routing_key: ClassVar[str] = "highlights.ready"

    options: JobOptions
    media: MediaInfo
    video_key: str
    transcript_key: str
    highlights: list[Highlight]


class TranscriptionChunk(Event):
    """One part of a long sound track for any transcribe process to transcribe (parallel transcription).

    Published by the transcribe stage that holds the job's ``media.ready`` (the coordinator) to
    ``<prefix>.transcribe.chunks``. The result is written to ``result_key`` in the media store, with
    times relative to ``start_seconds``, and recorded on the job document under ``plan_id``.
    """

    routing_key: ClassVar[str] = "transcribe.chunk"

    plan_id: str = Field(description="Identifies the split; a result for another plan is ignored.")
    index: int = Field(ge=0)
    count: int = Field(ge=1)
    audio_key: str = Field(description="The job's 16 kHz mono WAV in the media store.")
    start_seconds: float = Field(ge=0.0)
    end_seconds: float = Field(ge=0.0)
    language: str | None = Field(default=None, description="Forced or detected once for the whole audio.")
    result_key: str


class ClipsReady(Event):
    routing_key: ClassVar[str] = "clips.ready"

    clips: list[Clip]


class JobFailed(Event):
    routing_key: ClassVar[str] = "job.failed"

    error: JobError


class ControlCommand(BaseModel):
    """Broadcast to every worker: stop work on a job (today the only command)."""

    command: Literal["cancel"] = "cancel"
    job_id: str


class JobProgress(Event):
    """Transient live progress, fanned out to every gateway replica."""

    routing_key: ClassVar[str] = "job.progress"

    seq: int = Field(description="Per-job sequence number; strictly increasing.")
    status: JobStatus
    stage: str
    percent: float = Field(ge=0.0, le=100.0, description="Overall job progress.")
    stage_percent: float = Field(ge=0.0, le=100.0)
    message: str
    eta_seconds: float | None = None
