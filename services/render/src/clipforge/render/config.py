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
