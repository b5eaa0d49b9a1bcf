"""Domain models that cross service boundaries: job options, media facts, transcripts, clips.

Stage cores take and return these; events and the job document embed them.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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


class StageStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
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


class AnalysisInfo(BaseModel):
    """How the highlights were chosen; ``degraded`` is set when a configured scorer failed."""

    scorer: str
    degraded: bool = False
    detail: str | None = None


class JobError(BaseModel):
    stage: str
    code: str
    message: str


class SourceRef(BaseModel):
    """Where a job's video comes from: a link, or a file uploaded into the media store."""

    kind: Literal["url", "upload"] = "url"
    url: str | None = None
    media_key: str | None = None
    filename: str | None = Field(default=None, description="The uploaded file's name, for display only.")

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
