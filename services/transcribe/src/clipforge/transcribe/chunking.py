"""Splitting long audio at silences into parts, and joining the parts' transcripts into one.

No broker and no database here (``parallel.py`` runs the parts on the transcribe fleet).

**Where to cut.** Audio of ``D`` seconds, with parts of about ``C`` seconds wanted, gets
``n = ceil(D / C)`` parts; the ideal cuts are at ``k * D / n``, so parts are equal and no short
tail part is left over. Each cut then moves to the best pause within ``W`` seconds of its ideal
place (``W = min(30 s, C / 4)``, so neighbouring search windows never overlap and no part is
longer than ``1.5 C``). Pauses are found with Silero VAD (bundled with faster-whisper, the same
model its ``vad_filter`` uses) on just those windows: speech probability per 32 ms frame, a
pause being a run of frames below ``SILENCE_PROBABILITY`` of at least ``MIN_PAUSE_SECONDS``. A
VAD pause, unlike a quiet stretch found by an energy threshold (ffmpeg ``silencedetect``), is
found under background noise, music or a phone line's hiss, and a quiet word is not taken for one.
The chosen pause scores its length (up to 1 s: a sentence break beats a breath) less its distance
from the ideal cut (a whole window costs one second of pause); the cut goes in its middle.
Only when a window holds no pause at all (continuous music, a shouting match) does the cut go to
the least speech-like frame, and the plan records that cut as ``in_pause=False``.

**Why no overlap.** A cut in a pause cuts no word, so the parts need not overlap and the join
need not guess which words at a seam are the same word heard twice (a guess that would also drop
a word really said twice). Each part's times are shifted by its start, clamped to its range, and
the whole made monotonic once more (:func:`~clipforge.transcribe.core.in_order`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipforge.shared.models import Segment, Transcript, Word

from .core import in_order
from .wav import WavInfo, read_wav_frames, wav_info

VAD_FRAME_SAMPLES = 512  # Silero VAD's window at 16 kHz: 32 ms
SILENCE_PROBABILITY = 0.3  # below this a frame is not speech (Silero's default end-of-speech is 0.35)
MIN_PAUSE_SECONDS = 0.2
MAX_SEARCH_SECONDS = 30.0
PAUSE_LENGTH_CAP_SECONDS = 1.0

# Speech probability per VAD frame of a float32 16 kHz signal whose length is a multiple of 512.
SpeechProbabilities = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Cut:
    seconds: float
    in_pause: bool
    pause_seconds: float  # length of the pause the cut lies in (0 when none was found)


@dataclass(frozen=True)
class ChunkSpan:
    index: int
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class ChunkPlan:
    plan_id: str
    duration_seconds: float
    spans: tuple[ChunkSpan, ...]
    cuts: tuple[Cut, ...]

    @property
    def forced_cuts(self) -> int:
        return sum(not cut.in_pause for cut in self.cuts)


def silero_speech_probabilities(audio: np.ndarray) -> np.ndarray:
    """faster-whisper's bundled Silero VAD (ONNX, one CPU thread), one probability per 32 ms."""
    from faster_whisper.vad import get_vad_model

    return np.asarray(get_vad_model()(audio), dtype=np.float32).reshape(-1)


def chunk_count(duration: float, chunk_seconds: float) -> int:
    """How many parts audio of ``duration`` seconds is split into (1: not split)."""
    if chunk_seconds <= 0 or duration <= chunk_seconds:
        return 1
    return math.ceil(duration / chunk_seconds)


def plan_chunks(
    audio_path: Path,
    chunk_seconds: float,
    *,
    speech_probabilities: SpeechProbabilities = silero_speech_probabilities,
    info: WavInfo | None = None,
) -> ChunkPlan:
    """Where to split ``audio_path`` (16 kHz mono 16-bit WAV) into parts of about ``chunk_seconds``.

    Deterministic: the same audio and setting give the same plan (and ``plan_id``), so a
    transcription that is restarted finds the parts already done.
    """
    info = info or wav_info(audio_path)
    duration = info.duration_seconds
    count = chunk_count(duration, chunk_seconds)
    search = min(MAX_SEARCH_SECONDS, chunk_seconds / 4)
    cuts = [_best_cut(info, duration * k / count, search, speech_probabilities) for k in range(1, count)]
    bounds = [0.0, *(cut.seconds for cut in cuts), duration]
    spans = tuple(ChunkSpan(index, bounds[index], bounds[index + 1]) for index in range(count))
    digest = hashlib.sha256(f"{info.frames}/{info.sample_rate}/{bounds}".encode()).hexdigest()[:12]
    return ChunkPlan(plan_id=digest, duration_seconds=duration, spans=spans, cuts=tuple(cuts))


def _best_cut(info: WavInfo, target: float, search: float, speech_probabilities: SpeechProbabilities) -> Cut:
    first = max(info.frame_at(target - search), 0)
    last = info.frame_at(target + search)
    audio = read_wav_frames(info, first, last)
    padded = np.pad(audio, (0, (-audio.size) % VAD_FRAME_SAMPLES))
    probabilities = speech_probabilities(padded)[: max(math.ceil(audio.size / VAD_FRAME_SAMPLES), 1)]
    frame_seconds = VAD_FRAME_SAMPLES / info.sample_rate
    window_start = first / info.sample_rate

    def frame_time(frame: float) -> float:
        return window_start + frame * frame_seconds

    best: tuple[float, Cut] | None = None
    for run_start, run_end in _runs(probabilities < SILENCE_PROBABILITY):
        length = (run_end - run_start) * frame_seconds
        if length < MIN_PAUSE_SECONDS:
            continue
        middle = frame_time((run_start + run_end) / 2)
        score = min(length, PAUSE_LENGTH_CAP_SECONDS) - abs(middle - target) / search
        if best is None or score > best[0]:
            best = (score, Cut(seconds=_snap(info, middle), in_pause=True, pause_seconds=round(length, 3)))
    if best is not None:
        return best[1]
    # No pause anywhere near: the least speech-like frame, nearest the ideal place on a tie.
    distance = np.abs(np.arange(probabilities.size) + 0.5 - (target - window_start) / frame_seconds)
    frame = int(np.lexsort((distance, probabilities))[0])
    return Cut(seconds=_snap(info, frame_time(frame + 0.5)), in_pause=False, pause_seconds=0.0)


def _snap(info: WavInfo, seconds: float) -> float:
    """A cut on a sample boundary, inside the audio, written as the seconds every part reads."""
    return info.frame_at(min(max(seconds, 0.0), info.duration_seconds)) / info.sample_rate


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` frame ranges where ``mask`` is true."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def join_transcripts(
    parts: Sequence[tuple[ChunkSpan, Transcript]], *, duration_seconds: float, language: str | None = None
) -> Transcript:
    """One transcript of the whole audio from the parts' transcripts (each timed from its own start).

    Times move by the part's start and stay inside its range; parts join in order and the result
    is monotonic. The language is the one given, else the one heard in most of the audio.
    """
    ordered = sorted(parts, key=lambda part: part[0].index)
    segments: list[Segment] = []
    for span, transcript in ordered:
        segments += [_shift(segment, span) for segment in transcript.segments]
    if language is None:
        heard: dict[str, float] = {}
        for span, transcript in ordered:
            heard[transcript.language] = heard.get(transcript.language, 0.0) + span.duration
        language = max(heard, key=lambda name: heard[name]) if heard else "und"
    return Transcript(language=language, duration_seconds=duration_seconds, segments=in_order(segments))


def _shift(segment: Segment, span: ChunkSpan) -> Segment:
    def at(seconds: float) -> float:
        return round(min(max(span.start + seconds, span.start), span.end), 3)

    words = [
        Word(start=at(word.start), end=at(word.end), text=word.text, probability=word.probability)
        for word in segment.words
    ]
    return Segment(start=at(segment.start), end=at(segment.end), text=segment.text, words=words)
