"""Extracting the speech track the transcriber reads: 16 kHz mono 16-bit WAV."""

from __future__ import annotations

import logging
from pathlib import Path

import ffmpeg

from clipforge.shared.errors import StageError
from clipforge.shared.models import ProgressCallback
from clipforge.shared.process import run_ffmpeg

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000


def extract_audio_command(video: Path, audio_path: Path) -> list[str]:
    return (
        ffmpeg.input(str(video))["a:0"]
        .output(str(audio_path), format="wav", acodec="pcm_s16le", ac=1, ar=SAMPLE_RATE)
        .global_args("-loglevel", "error")
        .overwrite_output()
        .compile()
    )


async def extract_audio(
    video: Path,
    audio_path: Path,
    duration: float,
    on_progress: ProgressCallback,
) -> Path:
    """Write the first audio track of ``video`` to ``audio_path``; progress comes from ffmpeg."""
    audio_path.parent.mkdir(parents=True, exist_ok=True)
    on_progress(0.0, "Extracting the sound track")
    result = await run_ffmpeg(
        extract_audio_command(video, audio_path),
        total_seconds=duration,
        on_fraction=lambda fraction: on_progress(fraction, "Extracting the sound track"),
    )
    if result.returncode != 0 or not _has_samples(audio_path):
        log.warning("audio extraction from %s failed (exit %s): %s", video, result.returncode, result.stderr_tail)
        raise StageError(
            "audio_extraction_failed",
            "We could not read the sound track of the video; the file may be damaged. "
            "Try a different copy of the video.",
        )
    on_progress(1.0, "Sound track ready")
    return audio_path


def _has_samples(wav_path: Path) -> bool:
    # A WAV header alone is 44 bytes; anything not longer holds no sound.
    return wav_path.is_file() and wav_path.stat().st_size > 44
