"""Settings of the render stage that do not come from the job."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RenderConfig(BaseModel):
    video_preset: str = "veryfast"
    crf: int = Field(default=23, ge=0, le=51)
    audio_bitrate: str = "128k"
    caption_font: str = "DejaVu Sans"
    max_words_per_caption: int = Field(default=4, ge=1)
    # Keeps a caption line short enough to read at a glance on a narrow portrait frame.
    max_chars_per_caption: int = Field(default=28, ge=1)
    concurrency: int = Field(default=2, ge=1, description="Clips of one job rendered at the same time.")
    # Face sampling: a few small grey frames a second are plenty to follow a speaker.
    face_sample_fps: float = Field(default=3.0, gt=0.0, le=30.0)
    face_detect_width: int = Field(default=256, ge=64)
    face_min_presence: float = Field(
        default=0.3, ge=0.0, le=1.0, description="Share of samples the main face must be in to be followed."
    )
    thumbnail_window_seconds: float = Field(default=3.0, gt=0.0, description="The hook: where the thumbnail is chosen.")
    thumbnail_quality: int = Field(default=3, ge=2, le=31, description="ffmpeg JPEG quality scale, 2 is best.")
    stream_copy: bool = Field(default=True, description="Copy without re-encoding when nothing needs changing.")
