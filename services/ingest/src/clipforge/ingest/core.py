"""The ingest stage as plain functions: URL or file in, video + speech WAV + media facts out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clipforge.shared.models import MediaInfo, ProgressCallback

from .audio import extract_audio
from .config import IngestConfig
from .download import download, validate_source_url
from .probe import check_media, probe

__all__ = [
    "AUDIO_FILENAME",
    "IngestConfig",
    "IngestResult",
    "check_media",
    "download",
    "extract_audio",
    "ingest",
    "ingest_file",
    "probe",
    "validate_source_url",
]

AUDIO_FILENAME = "audio.wav"
_DOWNLOAD_SHARE = 0.7


@dataclass(frozen=True)
class IngestResult:
    video_path: Path
    audio_path: Path
    media: MediaInfo


def _scaled(on_progress: ProgressCallback, start: float, end: float) -> ProgressCallback:
    def report(fraction: float, message: str) -> None:
        on_progress(start + (end - start) * min(max(fraction, 0.0), 1.0), message)

    return report


async def ingest(url: str, workdir: Path, config: IngestConfig, on_progress: ProgressCallback) -> IngestResult:
    """Download ``url`` into ``workdir``, check it, and extract its speech track."""
    url = validate_source_url(url, config.source_policy)
    video = await download(url, workdir, config, _scaled(on_progress, 0.0, _DOWNLOAD_SHARE))
    return await _prepare(video, workdir, config, _scaled(on_progress, _DOWNLOAD_SHARE, 1.0))


async def ingest_file(path: Path, workdir: Path, config: IngestConfig, on_progress: ProgressCallback) -> IngestResult:
    """Check a video already on disk (an upload) and extract its speech track into ``workdir``."""
    return await _prepare(path, workdir, config, on_progress)


async def _prepare(video: Path, workdir: Path, config: IngestConfig, on_progress: ProgressCallback) -> IngestResult:
    on_progress(0.0, "Checking the video")
    media = await probe(video)
    check_media(media, config)
    audio = await extract_audio(video, workdir / AUDIO_FILENAME, media.duration_seconds, on_progress)
    return IngestResult(video_path=video, audio_path=audio, media=media)
