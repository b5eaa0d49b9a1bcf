"""Domain models that cross service boundaries: job options, media facts, transcripts, clips.

Stage cores take and return these; events and the job document embed them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field, model_validator

# The models the public API shows live with it, in the light clipforge-client package (the
# gateway serves them, clients parse them); they are re-exported here under their old names.
from clipforge.api.models import (
    TERMINAL_STATUSES,
    AnalysisInfo,
    Aspect,
    CacheUse,
    CaptionStyle,
    JobError,
    JobOptions,
    JobStatus,
    MediaInfo,
    Segment,
    Stage,
    StageStatus,
    Transcript,
    TranscriptSummary,
    Word,
)

__all__ = [
    "RUNNING_STATUS",
    "STAGE_PROGRESS_SPAN",
    "TERMINAL_STATUSES",
    "AnalysisInfo",
    "Aspect",
    "CacheUse",
    "CaptionStyle",
    "Clip",
    "Highlight",
    "JobError",
    "JobOptions",
    "JobStatus",
    "MediaInfo",
    "ProgressCallback",
    "Segment",
    "SourceRef",
    "Stage",
    "StageStatus",
    "Transcript",
    "TranscriptSummary",
    "Word",
    "ignore_progress",
]


RUNNING_STATUS: dict[Stage, JobStatus] = {
    Stage.INGEST: JobStatus.INGESTING,
    Stage.TRANSCRIBE: JobStatus.TRANSCRIBING,
    Stage.ANALYZE: JobStatus.ANALYZING,
    Stage.RENDER: JobStatus.RENDERING,
}

# Share of the overall progress bar each stage owns, as (start, end) percent.
STAGE_PROGRESS_SPAN: dict[Stage, tuple[float, float]] = {
    Stage.INGEST: (0.0, 20.0),
    Stage.TRANSCRIBE: (20.0, 60.0),
    Stage.ANALYZE: (60.0, 65.0),
    Stage.RENDER: (65.0, 100.0),
}


class Highlight(BaseModel):
    """A candidate moment chosen by analysis."""

    start: float
    end: float
    score: float = Field(ge=0.0, le=100.0)
    reason: str
    text: str
    title: str = ""
    keywords: list[str] = Field(default_factory=list)
    sub_scores: dict[str, float] = Field(default_factory=dict, description="Named components, each 0-100.")

    @property
    def duration(self) -> float:
        return self.end - self.start


class Clip(BaseModel):
    """A rendered clip as recorded on the job."""

    index: int = Field(ge=1)
    start: float
    end: float
    duration_seconds: float
    score: float
    reason: str
    text: str
    title: str = ""
    keywords: list[str] = Field(default_factory=list)
    sub_scores: dict[str, float] = Field(default_factory=dict)
    media_key: str = Field(description="Location of the mp4 inside the media store.")
    thumbnail_key: str | None = None
    srt_key: str | None = None
    vtt_key: str | None = None
    size_bytes: int
    width: int
    height: int


class SourceRef(BaseModel):
    """Where a job's video comes from: a link, or a file uploaded into the media store."""

    kind: Literal["url", "upload"] = "url"
    url: str | None = None
    media_key: str | None = None
    filename: str | None = Field(default=None, description="The uploaded file's name, for display only.")
    sha256: str | None = Field(default=None, description="SHA-256 of an uploaded file's bytes (the cache's key).")

    @model_validator(mode="after")
    def _one_location(self) -> SourceRef:
        if (self.kind == "url") != (self.url is not None) or (self.kind == "upload") != (self.media_key is not None):
            raise ValueError("a url source needs url; an upload source needs media_key")
        return self


# Stage work reports progress as (fraction of the stage done 0..1, message for people).
# Implementations must be cheap and thread-safe: transcription calls it from a worker thread.
ProgressCallback = Callable[[float, str], None]


def ignore_progress(fraction: float, message: str) -> None:
    """A progress callback for callers that do not watch progress."""
