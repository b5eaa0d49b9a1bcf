"""Which cached transcript a job may reuse: same speech track, same settings that shape the words.

The key is the SHA-256 of the 16 kHz WAV (so two links to the same video share a transcript too)
with the requested language, the model, device, compute type, beam size, VAD and the part length
of parallel transcription. Clip length, aspect and captions do not change the transcript and are
not part of it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from clipforge.shared.cache import digest_of, sha256_file

from .model import WhisperConfig, resolve_compute_type, resolve_device, resolve_model_path

# Change when the transcript written for the same audio and settings changes (format, joining).
TRANSCRIPT_FORMAT_VERSION = 1
REUSED_MESSAGE = "Reused the cached transcript"


def transcript_settings(config: WhisperConfig, language: str | None, chunk_seconds: float) -> dict[str, object]:
    device = resolve_device(config.device)
    return {
        "language": language,
        "model": str(resolve_model_path(config.model)),
        "device": device,
        "compute_type": resolve_compute_type(device, config.compute_type),
        "beam_size": config.beam_size,
        "vad_filter": config.vad_filter,
        "chunk_seconds": chunk_seconds,
    }


async def transcript_entry_id(scope: str, audio_path: Path, settings: dict[str, object]) -> str:
    audio_sha256 = await asyncio.to_thread(sha256_file, audio_path)
    return digest_of("transcript", TRANSCRIPT_FORMAT_VERSION, scope, audio_sha256, settings)
