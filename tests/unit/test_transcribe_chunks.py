"""Splitting long audio at pauses and joining the parts' transcripts, on real speech (espeak-ng).

The audio is made sentence by sentence, so where speech is (every loud run of samples, merged
over gaps shorter than a stop consonant) is known exactly, independent of the recogniser.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clipforge.devstack import samples
from clipforge.shared.errors import StageError
from clipforge.shared.models import Segment, Transcript, Word, ignore_progress
from clipforge.transcribe.chunking import (
    ChunkPlan,
    ChunkSpan,
    chunk_count,
    join_transcripts,
    plan_chunks,
)
from clipforge.transcribe.core import WhisperConfig, load_model, transcribe_blocking
from clipforge.transcribe.parallel import CHUNKS_FIELD, wait_for_chunks
from clipforge.transcribe.wav import WavFormatError, read_wav_seconds, wav_info

SENTENCES = (
    "The first idea is continuous delivery, and it changed how small teams ship software.",
    "Every change goes through the same automated tests before it reaches users.",
    "Teams that deploy many times a day find fewer surprises in production.",
    "The second idea is observability, which means metrics, logs and traces.",
    "Without them you are guessing, and guessing is expensive at three in the morning.",
    "The third idea is small services with clear contracts between them.",
    "Each service owns one job and talks to the others through events.",
    "That makes it easy to scale the slow parts on their own hardware.",
)
PAUSE_SECONDS = 0.6  # added after each sentence (espeak-ng ends each with about 0.5 s of its own)
CHUNK_SECONDS = 12.0
RATE = 16_000
LOUD = 100  # |sample| above this is sound; espeak-ng's silence is digital zero
WORD_GAP_SECONDS = 0.1  # quieter runs shorter than this are inside a word (stop closures)


@dataclass(frozen=True)
class PausedSpeech:
    path: Path
    duration: float
    sentences: tuple[tuple[float, float], ...]  # where each sentence's sound starts and ends
    sounds: tuple[tuple[float, float], ...]  # every run of sound (about a word or a phrase each)

    def inside_sound(self, seconds: float) -> bool:
        return any(start < seconds < end for start, end in self.sounds)


def _sound_runs(samples_: np.ndarray, offset: float) -> list[tuple[float, float]]:
    loud = np.flatnonzero(np.abs(samples_.astype(np.int32)) > LOUD)
    if loud.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(loud) > WORD_GAP_SECONDS * RATE)
    starts = [loud[0], *loud[breaks + 1]]
    ends = [*loud[breaks], loud[-1]]
    return [(offset + s / RATE, offset + (e + 1) / RATE) for s, e in zip(starts, ends, strict=True)]


@pytest.fixture(scope="module")
def paused_speech(tmp_path_factory: pytest.TempPathFactory) -> PausedSpeech:
    folder = tmp_path_factory.mktemp("paused")
    pieces: list[np.ndarray] = []
    sentences: list[tuple[float, float]] = []
    sounds: list[tuple[float, float]] = []
    position = 0
    for index, sentence in enumerate(SENTENCES):
        spoken = samples.speak(sentence, folder / f"sentence-{index}.espeak.wav")
        wav = folder / f"sentence-{index}.wav"
        subprocess.run(
            [
                "ffmpeg",
                "-y",
                "-loglevel",
                "error",
                "-i",
                str(spoken),
                "-ac",
                "1",
                "-ar",
                str(RATE),
                "-c:a",
                "pcm_s16le",
                str(wav),
            ],
            check=True,
        )
        with wave.open(str(wav)) as reader:
            audio = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
        runs = _sound_runs(audio, position / RATE)
        sentences.append((runs[0][0], runs[-1][1]))
        sounds += runs
        pieces += [audio, np.zeros(int(PAUSE_SECONDS * RATE), dtype="<i2")]
        position += audio.size + int(PAUSE_SECONDS * RATE)
    path = folder / "talk.wav"
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes(np.concatenate(pieces).tobytes())
    return PausedSpeech(path, position / RATE, tuple(sentences), tuple(sounds))


@pytest.fixture(scope="module")
def plan(paused_speech: PausedSpeech) -> ChunkPlan:
    return plan_chunks(paused_speech.path, CHUNK_SECONDS)


def _normalized(text: str) -> str:
    return re.sub(r"[^a-z0-9']", "", text.lower())


# --- where the audio is cut -----------------------------------------------------------------


def test_the_audio_is_cut_only_in_pauses(paused_speech: PausedSpeech, plan: ChunkPlan) -> None:
    count = len(plan.spans)
    assert count == chunk_count(paused_speech.duration, CHUNK_SECONDS) >= 4
    # Cutting at the evenly spaced ideal places would cut through speech: the test has teeth.
    ideal = [paused_speech.duration * k / count for k in range(1, count)]
    assert any(paused_speech.inside_sound(seconds) for seconds in ideal)

    for cut in plan.cuts:
        assert cut.in_pause and cut.pause_seconds >= 0.2
        assert not paused_speech.inside_sound(cut.seconds), f"cut at {cut.seconds:.2f} s is inside speech"
    # Every run of sound (so every word) lies inside exactly one part.
    for start, end in paused_speech.sounds:
        holders = [span for span in plan.spans if span.start <= start and end <= span.end]
        assert len(holders) == 1, (start, end)


def test_parts_cover_the_audio_end_to_end_at_about_the_chunk_length(
    paused_speech: PausedSpeech, plan: ChunkPlan
) -> None:
    assert plan.spans[0].start == 0.0
    assert plan.spans[-1].end == pytest.approx(paused_speech.duration, abs=1 / RATE)
    for before, after in zip(plan.spans, plan.spans[1:], strict=False):
        assert before.end == after.start
    assert [span.index for span in plan.spans] == list(range(len(plan.spans)))
    assert all(0.5 * CHUNK_SECONDS <= span.duration <= 1.5 * CHUNK_SECONDS for span in plan.spans)
    # Deterministic: a restarted transcription finds the same parts.
    assert plan_chunks(paused_speech.path, CHUNK_SECONDS) == plan
    assert plan_chunks(paused_speech.path, CHUNK_SECONDS * 2).plan_id != plan.plan_id


def test_short_audio_is_not_split(paused_speech: PausedSpeech) -> None:
    assert chunk_count(paused_speech.duration, paused_speech.duration) == 1
    assert chunk_count(paused_speech.duration, 0) == 1, "0 switches splitting off"
    assert chunk_count(paused_speech.duration, paused_speech.duration - 1) == 2
    single = plan_chunks(paused_speech.path, 600)
    assert len(single.spans) == 1 and single.cuts == ()


def test_without_any_pause_the_cut_goes_to_the_least_speech_like_moment(paused_speech: PausedSpeech) -> None:
    def all_speech(audio: np.ndarray) -> np.ndarray:
        frames = audio.size // 512
        probabilities = np.full(frames, 0.9, dtype=np.float32)
        probabilities[frames // 3] = 0.6  # the one softer moment, off the ideal place
        return probabilities

    forced = plan_chunks(paused_speech.path, CHUNK_SECONDS, speech_probabilities=all_speech)
    assert len(forced.spans) == len(plan_chunks(paused_speech.path, CHUNK_SECONDS).spans)
    assert forced.forced_cuts == len(forced.cuts) > 0
    count = len(forced.spans)
    search = CHUNK_SECONDS / 4
    for k, cut in enumerate(forced.cuts, start=1):
        ideal = paused_speech.duration * k / count
        assert not cut.in_pause and cut.pause_seconds == 0.0
        # The softer frame a third into the search window [ideal - W, ideal + W].
        assert cut.seconds == pytest.approx(ideal - search + 2 * search / 3, abs=0.1)


def test_wav_reading_refuses_other_formats(tmp_path: Path, paused_speech: PausedSpeech) -> None:
    info = wav_info(paused_speech.path)
    assert info.duration_seconds == pytest.approx(paused_speech.duration, abs=1e-6)
    part = read_wav_seconds(paused_speech.path, 1.0, 2.5)
    assert part.dtype == np.float32 and part.size == int(1.5 * RATE)
    stereo = tmp_path / "stereo.wav"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=1", "-ac", "2", str(stereo)], check=True
    )
    with pytest.raises(WavFormatError):
        wav_info(stereo)
    text = tmp_path / "not.wav"
    text.write_text("hello")
    with pytest.raises(WavFormatError):
        wav_info(text)


# --- joining the parts ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def joined(paused_speech: PausedSpeech, plan: ChunkPlan) -> Transcript:
    model = load_model(WhisperConfig())
    parts = [
        (span, transcribe_blocking(model, paused_speech.path, on_progress=ignore_progress, span=(span.start, span.end)))
        for span in plan.spans
    ]
    for span, part in parts:  # each part is timed from its own start
        assert part.duration_seconds == pytest.approx(span.duration, abs=1e-3)
        assert all(0 <= word.start <= word.end <= span.duration + 1e-3 for word in part.words)
    return join_transcripts(parts, duration_seconds=plan.duration_seconds)


def test_joined_words_are_continuous_monotonic_and_inside_the_audio(
    paused_speech: PausedSpeech, plan: ChunkPlan, joined: Transcript
) -> None:
    words = joined.words
    assert joined.language == "en" and joined.duration_seconds == pytest.approx(paused_speech.duration, abs=1e-3)
    assert len(words) >= 0.8 * sum(len(sentence.split()) for sentence in SENTENCES)
    starts = [word.start for word in words]
    assert starts == sorted(starts)
    assert all(0.0 <= word.start <= word.end <= paused_speech.duration for word in words)
    for segment in joined.segments:
        assert segment.start <= segment.words[0].start and segment.words[-1].end <= segment.end
    for earlier, later in zip(joined.segments, joined.segments[1:], strict=False):
        assert earlier.start <= later.start
    # Every part contributed words, in its own time range: no part lost or misplaced.
    for span in plan.spans:
        assert any(span.start <= word.start and word.end <= span.end for word in words), span
    # The whole audio is covered: from the first sentence to the last.
    assert words[0].start < paused_speech.sentences[0][1] and words[-1].end > paused_speech.sentences[-1][0]


def test_each_sentence_is_heard_where_it_was_spoken(paused_speech: PausedSpeech, joined: Transcript) -> None:
    """Word times are right across the whole joined transcript (each part shifted by its start)."""
    for sentence, (start, end) in zip(SENTENCES, paused_speech.sentences, strict=True):
        heard_there = {
            _normalized(word.text) for word in joined.words if start - 0.5 <= (word.start + word.end) / 2 <= end + 0.5
        }
        expected = [_normalized(word) for word in sentence.split()]
        found = [word for word in expected if word in heard_there]
        assert len(found) / len(expected) >= 0.7, (sentence, sorted(heard_there))


def test_join_shifts_clamps_and_orders_parts() -> None:
    def part(language: str, *words: tuple[float, float, str]) -> Transcript:
        timed = [Word(start=s, end=e, text=t) for s, e, t in words]
        segment = Segment(start=timed[0].start, end=timed[-1].end, text=" ".join(t for *_, t in words), words=timed)
        return Transcript(language=language, duration_seconds=10.0, segments=[segment])

    spans = [ChunkSpan(0, 0.0, 10.0), ChunkSpan(1, 10.0, 26.0), ChunkSpan(2, 26.0, 30.0)]
    parts = [
        (spans[2], part("en", (1.0, 2.0, "last"))),
        (spans[0], part("en", (0.5, 1.0, "one"), (9.0, 10.4, "two"))),  # the end estimate runs past the part
        (spans[1], part("de", (-0.2, 0.5, "three"), (0.4, 0.9, "four"))),  # starts before it, overlaps
    ]
    joined = join_transcripts(parts, duration_seconds=30.0)
    assert [word.text for word in joined.words] == ["one", "two", "three", "four", "last"]
    times = [(word.start, word.end) for word in joined.words]
    assert times == [(0.5, 1.0), (9.0, 10.0), (10.0, 10.5), (10.4, 10.9), (27.0, 28.0)]
    assert joined.language == "de", "the language heard in most of the audio (16 s of 30)"
    assert join_transcripts(parts, duration_seconds=30.0, language="en").language == "en"
    assert joined.duration_seconds == 30.0


# --- the coordinator's wait -------------------------------------------------------------------


class FakeLedger:
    """The job document as the coordinator polls it; tests change it between polls."""

    def __init__(self, plan_id: str) -> None:
        self.job: dict[str, Any] | None = {"status": "transcribing", CHUNKS_FIELD: {"plan": plan_id, "done": []}}
        self.polls = 0
        self.on_poll: list[Any] = []

    async def state(self, job_id: str) -> dict[str, Any] | None:
        if self.polls < len(self.on_poll):
            self.on_poll[self.polls](self)
        self.polls += 1
        return self.job


THREE_PARTS = ChunkPlan(
    plan_id="p1",
    duration_seconds=30.0,
    spans=(ChunkSpan(0, 0.0, 10.0), ChunkSpan(1, 10.0, 20.0), ChunkSpan(2, 20.0, 30.0)),
    cuts=(),
)


def _done(*indices: int) -> Any:
    def apply(ledger: FakeLedger) -> None:
        assert ledger.job is not None
        ledger.job[CHUNKS_FIELD]["done"] = list(indices)

    return apply


async def test_the_wait_reports_parts_as_they_finish_and_ends_when_all_are_done() -> None:
    ledger = FakeLedger("p1")
    ledger.on_poll = [_done(), _done(1), _done(1), _done(1, 0), _done(1, 0, 1, 2)]
    progress: list[tuple[float, str]] = []
    complete = await wait_for_chunks(
        ledger,  # type: ignore[arg-type]
        "j",
        THREE_PARTS,
        on_progress=lambda fraction, message: progress.append((fraction, message)),
        timeout_seconds=60,
        poll_seconds=0.001,
    )
    assert complete is True
    assert [round(fraction, 3) for fraction, _ in progress] == [0.0, 0.333, 0.667, 1.0]
    assert progress[1][1] == "Transcribed 1 of 3 parts (0:10 of 0:30)"


async def test_a_failed_part_fails_the_wait_with_its_reason() -> None:
    ledger = FakeLedger("p1")

    def fail(ledger: FakeLedger) -> None:
        assert ledger.job is not None
        ledger.job[CHUNKS_FIELD]["failed"] = {"index": 1, "code": "audio_unreadable", "message": "Cannot read it."}

    ledger.on_poll = [_done(0), fail]
    with pytest.raises(StageError) as caught:
        await wait_for_chunks(
            ledger,  # type: ignore[arg-type]
            "j",
            THREE_PARTS,
            on_progress=ignore_progress,
            timeout_seconds=60,
            poll_seconds=0.001,
        )
    assert (caught.value.code, caught.value.message) == ("audio_unreadable", "Cannot read it.")


async def test_no_part_finishing_for_the_timeout_fails_the_wait() -> None:
    ledger = FakeLedger("p1")
    ledger.on_poll = [_done(0)]
    now = [0.0]

    def clock() -> float:
        now[0] += 10.0  # every poll takes 10 s of the timeout
        return now[0]

    with pytest.raises(StageError) as caught:
        await wait_for_chunks(
            ledger,  # type: ignore[arg-type]
            "j",
            THREE_PARTS,
            on_progress=ignore_progress,
            timeout_seconds=45,
            poll_seconds=0,
            clock=clock,
        )
    assert caught.value.code == "transcription_timed_out" and caught.value.retryable
    assert "3 parts" in caught.value.message and "1 were done" in caught.value.message
    assert 5 <= ledger.polls <= 7, "it waited about the timeout, measured from the last finished part"


@pytest.mark.parametrize(
    "change",
    [
        lambda job: job.update(status="cancelled"),
        lambda job: job.update(status="failed"),
        lambda job: job[CHUNKS_FIELD].update(plan="another"),
    ],
    ids=["cancelled", "failed", "replanned"],
)
async def test_the_wait_stops_when_the_job_no_longer_needs_the_parts(change: Any) -> None:
    ledger = FakeLedger("p1")
    ledger.on_poll = [_done(0), lambda ledger: change(ledger.job)]
    complete = await wait_for_chunks(
        ledger,  # type: ignore[arg-type]
        "j",
        THREE_PARTS,
        on_progress=ignore_progress,
        timeout_seconds=60,
        poll_seconds=0.001,
    )
    assert complete is False and ledger.polls == 2


async def test_cancelling_the_coordinator_stops_its_wait_at_once() -> None:
    ledger = FakeLedger("p1")
    task = asyncio.create_task(
        wait_for_chunks(
            ledger,  # type: ignore[arg-type]
            "j",
            THREE_PARTS,
            on_progress=ignore_progress,
            timeout_seconds=3600,
            poll_seconds=0.01,
        )
    )
    await asyncio.sleep(0.1)
    assert not task.done() and ledger.polls >= 2, "it keeps polling while parts are missing"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1.0)
