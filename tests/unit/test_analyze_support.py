"""Shared material of the analyze tests (no tests here): transcripts read at a known rhythm,
texts on distinct topics, and speech WAVs made with espeak-ng and ffmpeg."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

from clipforge.devstack.samples import speak
from clipforge.shared.models import JobOptions, Segment, Transcript, Word

SOFTWARE: tuple[str, ...] = (
    "Continuous delivery means every change goes through the same automated pipeline.",
    "The pipeline builds the code, runs the unit tests and deploys to a staging server.",
    "Teams that deploy many times a day find fewer surprises in production.",
    "Small changes are easy to review and easy to roll back when a test fails.",
    "Feature flags let you merge unfinished code without showing it to users.",
    "A fast build keeps developers waiting seconds instead of hours.",
    "When the pipeline is green, anyone on the team can ship a release.",
)
COOKING: tuple[str, ...] = (
    "Start by heating a heavy pan over a medium flame.",
    "Add a spoon of butter and wait until it foams.",
    "Slice two onions thinly and let them soften slowly in the butter.",
    "Season the onions with salt so they release their water.",
    "After twenty minutes the onions turn sweet and golden brown.",
    "Deglaze the pan with a splash of stock or white wine.",
    "Serve the caramelised onions on toast with grated cheese.",
)
ASTRONOMY: tuple[str, ...] = (
    "The night sky holds about five thousand stars you can see without a telescope.",
    "Most of those stars are far larger and hotter than our sun.",
    "Light from the nearest star takes more than four years to reach the earth.",
    "Astronomers measure that distance with parallax, the tiny shift as the earth orbits the sun.",
    "Galaxies gather billions of stars, held together by gravity and dark matter.",
    "Our own galaxy, the Milky Way, is a spiral about a hundred thousand light years across.",
    "From a dark field its dusty arms appear as a faint band of light across the sky.",
)


def spoken(
    sentences: list[str] | tuple[str, ...],
    *,
    word_seconds: float = 0.35,
    word_gap: float = 0.05,
    sentence_gap: float = 0.5,
    probability: float = 0.95,
    start: float = 0.0,
    language: str = "en",
) -> Transcript:
    """A transcript of ``sentences`` read at a steady known rhythm, one segment per sentence."""
    segments: list[Segment] = []
    t = start
    for sentence in sentences:
        words = []
        for token in sentence.split():
            words.append(Word(start=t, end=t + word_seconds, text=" " + token, probability=probability))
            t += word_seconds + word_gap
        t += sentence_gap - word_gap
        segments.append(Segment(start=words[0].start, end=words[-1].end, text=sentence, words=words))
    return Transcript(language=language, duration_seconds=t, segments=segments)


def words_at(spec: list[tuple[float, float, str]], probability: float = 0.95) -> list[Word]:
    return [Word(start=s, end=e, text=t, probability=probability) for s, e, t in spec]


def transcript_of(words: list[Word], language: str = "en") -> Transcript:
    duration = max((w.end for w in words), default=0.0)
    segment = Segment(
        start=words[0].start if words else 0.0,
        end=duration,
        text=" ".join(w.text for w in words),
        words=words,
    )
    return Transcript(language=language, duration_seconds=duration, segments=[segment] if words else [])


def options(**overrides: object) -> JobOptions:
    return JobOptions.model_validate({"max_clips": 5, "min_clip_seconds": 10, "max_clip_seconds": 25, **overrides})


def speech_wav(text: str, path: Path, *, gain_db: float = 0.0) -> Path:
    """``text`` spoken by espeak-ng, ``gain_db`` louder, as 16 kHz mono 16-bit PCM like ingest's audio."""
    raw = speak(text, path.with_suffix(".espeak.wav"))
    ffmpeg("-i", str(raw), "-af", f"volume={gain_db}dB", *_PCM_16K, str(path))
    raw.unlink()
    return path


def joined_wav(parts: list[Path], path: Path) -> Path:
    """The WAVs played one after the other."""
    inputs = [arg for part in parts for arg in ("-i", str(part))]
    streams = "".join(f"[{i}:a]" for i in range(len(parts)))
    ffmpeg(
        *inputs,
        "-filter_complex",
        f"{streams}concat=n={len(parts)}:v=0:a=1[out]",
        "-map",
        "[out]",
        *_PCM_16K,
        str(path),
    )
    return path


_PCM_16K = ("-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le")


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], check=True, capture_output=True)


def timed_transcript(sentences: list[str] | tuple[str, ...], durations: list[float]) -> Transcript:
    """A transcript whose sentence ``i`` fills its spoken audio's ``durations[i]`` seconds, played
    back to back, with the words spread evenly over each sentence."""
    segments: list[Segment] = []
    t = 0.0
    for sentence, duration in zip(sentences, durations, strict=True):
        tokens = sentence.split()
        # espeak-ng leaves a little silence at both ends of each utterance.
        speech_start, step = t + 0.1, (duration - 0.3) / len(tokens)
        words = [
            Word(start=speech_start + i * step, end=speech_start + (i + 0.85) * step, text=token)
            for i, token in enumerate(tokens)
        ]
        segments.append(Segment(start=words[0].start, end=words[-1].end, text=sentence, words=words))
        t += duration
    return Transcript(language="en", duration_seconds=t, segments=segments)


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()
