"""Reading parts of the 16 kHz mono 16-bit WAV that ingest extracts, without decoding all of it.

Chunked transcription reads only what it needs: a few seconds around each planned cut, or one
chunk's range. A four-hour sound track is 460 MB as WAV and twice that as float samples, so no
worker holds the whole of it.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000


class WavFormatError(ValueError):
    """The file is not the 16 kHz mono 16-bit PCM WAV chunked transcription reads."""


@dataclass(frozen=True)
class WavInfo:
    path: Path
    sample_rate: int
    frames: int

    @property
    def duration_seconds(self) -> float:
        return self.frames / self.sample_rate

    def frame_at(self, seconds: float) -> int:
        """The sample index of a time, clamped to the file (one rounding used everywhere)."""
        return min(max(round(seconds * self.sample_rate), 0), self.frames)


def wav_info(path: Path, *, sample_rate: int = SAMPLE_RATE) -> WavInfo:
    """Facts of a PCM WAV file; :class:`WavFormatError` when it is not 16-bit mono at ``sample_rate``."""
    try:
        with wave.open(str(path), "rb") as reader:
            if reader.getnchannels() != 1 or reader.getsampwidth() != 2 or reader.getframerate() != sample_rate:
                raise WavFormatError(
                    f"{path} is {reader.getnchannels()} channel(s), {8 * reader.getsampwidth()} bit, "
                    f"{reader.getframerate()} Hz; expected mono 16-bit {sample_rate} Hz"
                )
            return WavInfo(path=path, sample_rate=sample_rate, frames=reader.getnframes())
    except (wave.Error, EOFError) as error:
        raise WavFormatError(f"{path} is not a PCM WAV file: {error}") from None


def read_wav_frames(info: WavInfo, start_frame: int, end_frame: int) -> np.ndarray:
    """Samples ``[start_frame, end_frame)`` as float32 in [-1, 1]."""
    start_frame = min(max(start_frame, 0), info.frames)
    end_frame = min(max(end_frame, start_frame), info.frames)
    with wave.open(str(info.path), "rb") as reader:
        reader.setpos(start_frame)
        raw = reader.readframes(end_frame - start_frame)
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0


def read_wav_seconds(path: Path, start: float, end: float, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Samples from ``start`` to ``end`` seconds of a 16-bit mono WAV file."""
    info = wav_info(path, sample_rate=sample_rate)
    return read_wav_frames(info, info.frame_at(start), info.frame_at(end))
