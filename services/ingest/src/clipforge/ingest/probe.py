"""What ffprobe says about a media file, and whether ClipForge can work with it."""

from __future__ import annotations

import asyncio
import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import ffmpeg

from clipforge.shared.errors import StageError
from clipforge.shared.models import MediaInfo

from .config import IngestConfig
from .text import format_duration

log = logging.getLogger(__name__)

_PROBE_TIMEOUT_SECONDS = 120


def _not_media(detail: str) -> StageError:
    return StageError(
        "not_media",
        f"The file is not a video we can read ({detail}). Check that the link or upload "
        "is a video file such as MP4, MOV, MKV or WebM.",
    )


async def probe(path: Path) -> MediaInfo:
    """Run ffprobe on ``path`` (in a worker thread) and describe the file."""
    try:
        data, size = await asyncio.to_thread(_run_ffprobe, path)
    except ffmpeg.Error as error:
        log.info("ffprobe rejected %s: %s", path, error.stderr.decode("utf-8", "replace")[-500:])
        raise _not_media("it could not be decoded") from None
    return media_info_from_probe(data, fallback_size=size)


def _run_ffprobe(path: Path) -> tuple[dict[str, Any], int]:
    return ffmpeg.probe(str(path), timeout=_PROBE_TIMEOUT_SECONDS), path.stat().st_size


def media_info_from_probe(data: dict[str, Any], *, fallback_size: int = 0) -> MediaInfo:
    streams: list[dict[str, Any]] = data.get("streams") or []
    fmt: dict[str, Any] = data.get("format") or {}
    # Cover art in audio files shows up as a one-frame "video" stream; it is not a picture to clip.
    video = next(
        (s for s in streams if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")),
        None,
    )
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None and audio is None:
        raise _not_media("it has no picture or sound")
    duration = _positive_float(fmt.get("duration")) or max(
        (_positive_float(s.get("duration")) or 0.0 for s in streams), default=0.0
    )
    return MediaInfo(
        duration_seconds=duration,
        size_bytes=int(_positive_float(fmt.get("size")) or fallback_size),
        container=str(fmt.get("format_name") or "unknown"),
        video_codec=video.get("codec_name") if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        width=_positive_int(video.get("width")) if video else None,
        height=_positive_int(video.get("height")) if video else None,
        fps=(_rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))) if video else None,
        has_audio=audio is not None,
        has_video=video is not None,
    )


def check_media(info: MediaInfo, config: IngestConfig) -> None:
    """Refuse media the later stages cannot use."""
    if not info.has_audio:
        raise StageError(
            "no_audio_stream",
            "The video has no sound. ClipForge finds highlights in what is said, "
            "so it needs a video with speech in it.",
        )
    if not info.has_video:
        raise StageError(
            "no_video_stream",
            "The file has sound but no picture. Use a video file rather than an audio-only file.",
        )
    if info.duration_seconds > config.max_duration_seconds:
        raise StageError(
            "media_too_long",
            f"The video is {format_duration(info.duration_seconds)} long, but the limit is "
            f"{format_duration(config.max_duration_seconds)}. Trim it or use a shorter video.",
        )


def _positive_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _positive_int(value: Any) -> int | None:
    number = _positive_float(value)
    return int(number) if number else None


def _rate(value: Any) -> float | None:
    """``"30000/1001"`` → 29.97; ffprobe writes ``"0/0"`` when it does not know."""
    try:
        rate = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return None
    return round(float(rate), 3) if rate > 0 else None
