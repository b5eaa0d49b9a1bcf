"""The transcribe stage as plain functions: a speech WAV in, a word-timed transcript out."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np
from faster_whisper import WhisperModel, decode_audio
from faster_whisper.transcribe import Segment as WhisperSegment

from clipforge.shared.errors import StageCancelled, StageError
from clipforge.shared.models import ProgressCallback, Segment, Transcript, Word

from .model import WhisperConfig, load_model, resolve_compute_type, resolve_device, resolve_model_path
from .wav import read_wav_seconds

__all__ = [
    "WhisperConfig",
    "check_language",
    "format_clock",
    "in_order",
    "load_model",
    "resolve_compute_type",
    "resolve_device",
    "resolve_model_path",
    "transcribe",
    "transcribe_blocking",
]

log = logging.getLogger(__name__)


def check_language(model: WhisperModel, language: str | None) -> str | None:
    """The language to force on the model (None: let it detect), or ``language_unsupported``."""
    if language is None:
        return None
    language = language.strip().lower()
    if language in model.supported_languages:
        return language
    if not model.model.is_multilingual:
        raise StageError(
            "language_unsupported",
            f"The speech recognition on this server understands English only, but the job asked for "
            f"language {language!r}. Submit the job again with language 'en', or without a language.",
        )
    raise StageError(
        "language_unsupported",
        f"{language!r} is not a language we can transcribe. Use a two-letter code such as "
        "'en', 'de' or 'fr', or leave the language out to have it detected.",
    )


def format_clock(seconds: float) -> str:
    """``42`` → ``"0:42"``; ``3725`` → ``"1:02:05"``."""
    total = max(int(seconds), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _read_audio(audio_path: Path, sampling_rate: int) -> np.ndarray:
    try:
        return decode_audio(str(audio_path), sampling_rate=sampling_rate)
    # PyAV's errors subclass FFmpegError (and OSError or ValueError); IndexError: no audio stream.
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as error:
        log.warning("cannot decode audio %s: %s", audio_path, error)
        raise StageError(
            "audio_unreadable",
            "The sound track extracted from the video could not be read, so nothing could be "
            "transcribed. Try submitting the video again.",
        ) from None


def _check_stop(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise StageCancelled("transcription stopped")


def _read_span(audio_path: Path, span: tuple[float, float], sampling_rate: int) -> np.ndarray:
    try:
        return read_wav_seconds(audio_path, *span, sample_rate=sampling_rate)
    except (OSError, ValueError) as error:  # WavFormatError is a ValueError
        log.warning("cannot read %s from %s: %s", span, audio_path, error)
        raise StageError(
            "audio_unreadable",
            "The sound track extracted from the video could not be read, so nothing could be "
            "transcribed. Try submitting the video again.",
        ) from None


def transcribe_blocking(
    model: WhisperModel,
    audio_path: Path,
    *,
    language: str | None = None,
    on_progress: ProgressCallback,
    stop: threading.Event | None = None,
    beam_size: int = 5,
    vad_filter: bool = True,
    span: tuple[float, float] | None = None,
) -> Transcript:
    """Transcribe ``audio_path`` on this thread, checking ``stop`` between segments.

    With ``span`` (start, end seconds; the file must be 16 kHz mono 16-bit WAV) only that part is
    read and transcribed; the transcript's times are then relative to ``start``.
    """
    _check_stop(stop)
    forced_language = check_language(model, language)
    on_progress(0.0, "Listening to the audio")
    sampling_rate = model.feature_extractor.sampling_rate
    audio = _read_audio(audio_path, sampling_rate) if span is None else _read_span(audio_path, span, sampling_rate)
    duration = audio.shape[0] / model.feature_extractor.sampling_rate
    _check_stop(stop)
    if audio.size == 0:
        on_progress(1.0, "The audio is empty")
        detected = "und" if model.model.is_multilingual else "en"  # ISO 639: undetermined
        return Transcript(language=forced_language or detected, duration_seconds=0.0, segments=[])

    pieces, info = model.transcribe(
        audio,
        language=forced_language,
        beam_size=beam_size,
        vad_filter=vad_filter,
        word_timestamps=True,
    )
    segments: list[Segment] = []
    try:
        for piece in pieces:
            segments.append(_segment(piece, duration))
            on_progress(
                min(piece.end / duration, 1.0),
                f"Transcribed {format_clock(min(piece.end, duration))} of {format_clock(duration)}",
            )
            _check_stop(stop)
    finally:
        pieces.close()
    on_progress(1.0, f"Transcribed {format_clock(duration)} of {format_clock(duration)}")
    return Transcript(language=info.language, duration_seconds=duration, segments=in_order(segments))


def _segment(piece: WhisperSegment, duration: float) -> Segment:
    words = [
        Word(
            start=_clamp(word.start, duration),
            end=_clamp(word.end, duration),
            text=word.word.strip(),
            probability=float(word.probability),
        )
        for word in piece.words or ()
        if word.word.strip()
    ]
    return Segment(
        start=_clamp(piece.start, duration),
        end=_clamp(piece.end, duration),
        text=piece.text.strip(),
        words=words,
    )


def _clamp(seconds: float, duration: float) -> float:
    return round(min(max(float(seconds), 0.0), duration), 3)


def in_order(segments: Iterable[Segment]) -> list[Segment]:
    """Make every start at or after the previous one and every end at or after its start.

    Whisper's timestamps are estimates that can overlap by a few milliseconds; captions and clip
    boundaries downstream assume time only moves forward.
    """
    ordered: list[Segment] = []
    latest_word = latest_segment = 0.0
    for segment in segments:
        words: list[Word] = []
        for word in segment.words:
            latest_word = max(word.start, latest_word)
            words.append(word.model_copy(update={"start": latest_word, "end": max(word.end, latest_word)}))
        start = min(segment.start, words[0].start) if words else segment.start
        latest_segment = max(start, latest_segment)
        end = max(segment.end, words[-1].end if words else 0.0, latest_segment)
        ordered.append(segment.model_copy(update={"start": latest_segment, "end": end, "words": words}))
    return ordered


async def transcribe(
    audio_path: Path,
    config: WhisperConfig,
    *,
    language: str | None = None,
    on_progress: ProgressCallback,
    stop: threading.Event | None = None,
    span: tuple[float, float] | None = None,
) -> Transcript:
    """Transcribe in a worker thread so the event loop (and the broker's heartbeats) keeps running.

    Cancelling the awaiting task sets ``stop``, which ends the worker at the next segment.
    ``span`` limits the work to part of a WAV file (see :func:`transcribe_blocking`).
    """
    stop = stop if stop is not None else threading.Event()
    model = await asyncio.to_thread(load_model, config)
    try:
        return await asyncio.to_thread(
            transcribe_blocking,
            model,
            audio_path,
            language=language,
            on_progress=on_progress,
            stop=stop,
            beam_size=config.beam_size,
            vad_filter=config.vad_filter,
            span=span,
        )
    except asyncio.CancelledError:
        stop.set()
        raise
