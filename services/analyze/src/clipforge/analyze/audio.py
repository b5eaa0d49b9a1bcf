"""Loudness of the job's speech track, for the energy sub-score.

Ingest leaves a 16 kHz mono 16-bit WAV; it is read with the standard library and turned into
one RMS level (dBFS) per short frame. A window's statistics then come from prefix sums in
constant time, so scoring thousands of candidate windows stays cheap.
"""

from __future__ import annotations

import logging
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FRAME_SECONDS = 0.1
# Frames quieter than this are silence: they say nothing about how lively the speech is.
SILENCE_DBFS = -50.0
# Frames are read in blocks of this many seconds, so a four-hour track never sits in memory.
_READ_SECONDS = 60.0
_FLOOR_DBFS = -100.0


@dataclass(frozen=True)
class WindowLoudness:
    voiced_seconds: float
    mean_db: float
    spread_db: float


class LoudnessTrack:
    """RMS level in dBFS of every ``frame_seconds`` frame of a recording."""

    def __init__(self, levels_db: np.ndarray, frame_seconds: float = FRAME_SECONDS) -> None:
        self.levels_db = levels_db
        self.frame_seconds = frame_seconds
        voiced = levels_db > SILENCE_DBFS
        values = np.where(voiced, levels_db, 0.0)
        self._count = np.concatenate([[0], np.cumsum(voiced)])
        self._sum = np.concatenate([[0.0], np.cumsum(values)])
        self._squares = np.concatenate([[0.0], np.cumsum(values * values)])
        voiced_levels = levels_db[voiced]
        # The median level of all speech: what "louder than usual" is measured against.
        self.typical_db = float(np.median(voiced_levels)) if voiced_levels.size else SILENCE_DBFS

    @property
    def duration(self) -> float:
        return len(self.levels_db) * self.frame_seconds

    def window(self, start: float, end: float) -> WindowLoudness:
        """Mean level and spread (standard deviation) of the speech frames in ``[start, end)``."""
        first = min(max(int(start / self.frame_seconds), 0), len(self.levels_db))
        last = min(max(int(np.ceil(end / self.frame_seconds)), first), len(self.levels_db))
        count = int(self._count[last] - self._count[first])
        if count == 0:
            return WindowLoudness(0.0, SILENCE_DBFS, 0.0)
        total = float(self._sum[last] - self._sum[first])
        squares = float(self._squares[last] - self._squares[first])
        mean = total / count
        variance = max(squares / count - mean * mean, 0.0)
        return WindowLoudness(count * self.frame_seconds, mean, float(np.sqrt(variance)))


class AudioUnreadable(ValueError):
    pass


def read_loudness(path: Path, frame_seconds: float = FRAME_SECONDS) -> LoudnessTrack:
    """The loudness track of a PCM WAV file (any rate, width or channel count)."""
    try:
        with wave.open(str(path), "rb") as wav:
            rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
            if width not in (1, 2, 4):
                raise AudioUnreadable(f"{path.name}: {8 * width}-bit samples are not supported")
            frame = max(round(rate * frame_seconds), 1)
            block = frame * max(int(_READ_SECONDS / frame_seconds), 1)
            levels: list[np.ndarray] = []
            while chunk := wav.readframes(block):
                levels.append(_frame_levels(_samples(chunk, width, channels), frame))
    except (wave.Error, EOFError, OSError) as error:
        raise AudioUnreadable(f"{path.name}: {error}") from error
    joined = np.concatenate(levels) if levels else np.zeros(0)
    return LoudnessTrack(joined, frame_seconds)


def _samples(chunk: bytes, width: int, channels: int) -> np.ndarray:
    """Mono samples scaled to [-1, 1]."""
    if width == 1:
        data = (np.frombuffer(chunk, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    else:
        dtype = np.int16 if width == 2 else np.int32
        data = np.frombuffer(chunk, dtype=dtype).astype(np.float64) / float(np.iinfo(dtype).max)
    usable = len(data) - len(data) % channels
    return data[:usable].reshape(-1, channels).mean(axis=1)


def _frame_levels(samples: np.ndarray, frame: int) -> np.ndarray:
    count = len(samples) // frame
    if len(samples) % frame:
        samples = np.concatenate([samples, np.zeros(frame - len(samples) % frame)])
        count += 1
    rms = np.sqrt(np.mean(samples.reshape(count, frame) ** 2, axis=1))
    return np.maximum(20.0 * np.log10(np.maximum(rms, 1e-10)), _FLOOR_DBFS)
