"""Parallel transcription through the real broker and database: two transcribe workers (as two
processes would run them, here in one event loop) share the parts of one long sound track."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aio_pika
import numpy as np
import pytest
from support import body_of, get_message, new_job, publish_json, queue_depth, wait_for_job

from clipforge.devstack import samples
from clipforge.shared.errors import StageError
from clipforge.shared.events import ControlCommand, MediaReady, TranscriptionChunk, TranscriptReady
from clipforge.shared.jobs import JobStore
from clipforge.shared.media import MediaStore
from clipforge.shared.models import JobOptions, MediaInfo, Transcript
from clipforge.shared.settings import Settings
from clipforge.shared.topology import Topology
from clipforge.transcribe.chunking import ChunkPlan, ChunkSpan
from clipforge.transcribe.parallel import ChunkLedger
from clipforge.transcribe.service import TranscribeSettings, TranscribeWorker, build_worker

pytestmark = pytest.mark.integration

SENTENCES = (
    "The first idea is continuous delivery, and it changed how small teams ship software.",
    "Every change goes through the same automated tests before it reaches users.",
    "Teams that deploy many times a day find fewer surprises in production.",
    "The second idea is observability, which means metrics, logs and traces.",
    "Without them you are guessing, and guessing is expensive at three in the morning.",
    "The third idea is small services with clear contracts between them.",
)
RATE = 16_000
PAUSE_SECONDS = 0.6


@pytest.fixture(scope="module")
def talk(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[float, float]]]:
    """A 16 kHz mono WAV of the sentences with pauses, and where each sentence's sound is."""
    folder = tmp_path_factory.mktemp("talk")
    pieces, spans, position = [], [], 0
    for index, sentence in enumerate(SENTENCES):
        wav = folder / f"{index}.wav"
        spoken = samples.speak(sentence, folder / f"{index}.espeak.wav")
        subprocess.run(
            ["ffmpeg", "-y", "-loglevel", "error", "-i", str(spoken), "-ac", "1", "-ar", str(RATE), str(wav)],
            check=True,
        )
        with wave.open(str(wav)) as reader:
            audio = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
        loud = np.flatnonzero(np.abs(audio.astype(np.int32)) > 100)
        spans.append(((position + loud[0]) / RATE, (position + loud[-1]) / RATE))
        pieces += [audio, np.zeros(int(PAUSE_SECONDS * RATE), dtype="<i2")]
        position += audio.size + int(PAUSE_SECONDS * RATE)
    path = folder / "talk.wav"
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes(np.concatenate(pieces).tobytes())
    return path, spans


@asynccontextmanager
async def running(worker: TranscribeWorker) -> AsyncIterator[TranscribeWorker]:
    await worker.start_dependencies()
    await worker.broker.start()
    try:
        yield worker
    finally:
        await worker.broker.stop()
        await worker.stop_dependencies()


async def staged_event(settings: Settings, job: dict[str, Any], talk_path: Path) -> MediaReady:
    media = MediaStore(settings.media_root)
    audio_key = media.key(job["_id"], "audio.wav")
    await asyncio.to_thread(shutil.copyfile, talk_path, media.prepare(audio_key))
    duration = samples.probe_duration(talk_path)
    info = MediaInfo(duration_seconds=duration, size_bytes=1, container="wav", has_audio=True, has_video=False)
    return MediaReady(
        job_id=job["_id"],
        tenant_id="default",
        correlation_id=job["_id"],
        options=JobOptions(),
        media=info,
        video_key=audio_key,
        audio_key=audio_key,
    )


async def send(amqp: aio_pika.abc.AbstractChannel, settings: Settings, event: Any) -> None:
    await publish_json(amqp, Topology(settings.topology_prefix), event.topic, event.model_dump_json().encode())


def chunk_count(worker: TranscribeWorker, result: str) -> float:
    return worker.registry.get_sample_value("clipforge_transcription_chunks_total", {"result": result}) or 0.0


def _normalized(text: str) -> str:
    return re.sub(r"[^a-z0-9']", "", text.lower())


async def test_two_workers_share_the_parts_and_the_joined_transcript_is_whole(
    settings: Settings,
    store: JobStore,
    amqp: aio_pika.abc.AbstractChannel,
    talk: tuple[Path, list[tuple[float, float]]],
) -> None:
    talk_path, sentence_spans = talk
    job = await new_job(store)
    event = await staged_event(settings, job, talk_path)
    transcribe_settings = TranscribeSettings(**{**settings.model_dump(), "transcribe_chunk_seconds": 10.0})
    first, second = build_worker(transcribe_settings), build_worker(transcribe_settings)
    async with running(first), running(second):
        await send(amqp, settings, event)
        ready = TranscriptReady.model_validate(
            body_of(await get_message(amqp, f"{settings.topology_prefix}.analyze", timeout=240))
        )

        stored = await store.get(job["_id"])
        assert stored is not None and stored["stages"]["transcribe"]["status"] == "done"
        ledger = stored["transcribe_chunks"]
        count = ledger["count"]
        assert count >= 3
        assert sorted(ledger["done"]) == list(range(count))
        # Both workers transcribed parts; each part is credited to exactly one of them.
        assert set(ledger["workers"]) == {str(index) for index in range(count)}
        assert set(ledger["workers"].values()) == {first.worker_id, second.worker_id}
        assert chunk_count(first, "done") + chunk_count(second, "done") == count
        assert chunk_count(first, "done") >= 1 and chunk_count(second, "done") >= 1

        # A part delivered again (a worker died before its ack) changes nothing.
        plan_id = ledger["plan"]
        span = ledger["spans"][1]
        again = event.follow_up(
            TranscriptionChunk,
            plan_id=plan_id,
            index=1,
            count=count,
            audio_key=event.audio_key,
            start_seconds=span[0],
            end_seconds=span[1],
            result_key=MediaStore(settings.media_root).key(job["_id"], "chunks", f"{plan_id}-001.json"),
        )
        await send(amqp, settings, again)
        deadline = asyncio.get_running_loop().time() + 30
        while chunk_count(first, "duplicate") + chunk_count(second, "duplicate") < 1:
            assert asyncio.get_running_loop().time() < deadline, "the repeated part was not handled"
            await asyncio.sleep(0.1)
        after = await store.get(job["_id"])
        assert after is not None and after["transcribe_chunks"]["done"] == ledger["done"]
        assert after["transcribe_chunks"]["workers"] == ledger["workers"]
        assert await queue_depth(amqp, f"{settings.topology_prefix}.transcribe.chunks") == 0

    transcript = Transcript.model_validate_json(MediaStore(settings.media_root).path(ready.transcript_key).read_bytes())
    words = transcript.words
    assert transcript.duration_seconds == pytest.approx(event.media.duration_seconds, abs=0.05)
    assert stored["transcript"]["word_count"] == len(words)
    starts = [word.start for word in words]
    assert starts == sorted(starts) and all(0 <= w.start <= w.end <= transcript.duration_seconds for w in words)
    # Correct and complete: every sentence is heard, at the time it was spoken.
    for sentence, (start, end) in zip(SENTENCES, sentence_spans, strict=True):
        heard = {_normalized(w.text) for w in words if start - 0.5 <= (w.start + w.end) / 2 <= end + 0.5}
        expected = [_normalized(word) for word in sentence.split()]
        assert sum(word in heard for word in expected) / len(expected) >= 0.7, (sentence, sorted(heard))
    # Progress followed the parts.
    messages = [e["event"]["message"] for e in await store.events_after(job["_id"], 0)]
    assert any(re.fullmatch(rf"Transcribed \d of {count} parts \(.+\)", message) for message in messages)


async def test_cancelling_the_job_stops_the_coordinator_and_the_remaining_parts(
    settings: Settings,
    store: JobStore,
    amqp: aio_pika.abc.AbstractChannel,
    talk: tuple[Path, list[tuple[float, float]]],
) -> None:
    talk_path, _ = talk
    job = await new_job(store)
    event = await staged_event(settings, job, talk_path)
    # One worker and small parts: most parts are still waiting when the job is cancelled.
    worker = build_worker(TranscribeSettings(**{**settings.model_dump(), "transcribe_chunk_seconds": 6.0}))
    async with running(worker):
        await send(amqp, settings, event)
        planned = await wait_for_job(
            store, job["_id"], lambda j: len((j.get("transcribe_chunks") or {}).get("done", [])) >= 1, timeout=120
        )
        count = planned["transcribe_chunks"]["count"]
        assert count >= 5
        assert job["_id"] in worker.running_jobs, "the coordinator is waiting for the parts"

        assert await store.cancel(job["_id"], "default") is not None
        control = await amqp.get_exchange(Topology(settings.topology_prefix).control.name)
        await control.publish(
            aio_pika.Message(json.dumps(ControlCommand(job_id=job["_id"]).model_dump()).encode()), routing_key=""
        )

        def handled() -> float:
            return sum(chunk_count(worker, result) for result in ("done", "stale", "cancelled"))

        deadline = asyncio.get_running_loop().time() + 30
        while job["_id"] in worker.running_jobs or handled() < count:
            assert asyncio.get_running_loop().time() < deadline, "the coordinator or the parts kept going"
            await asyncio.sleep(0.1)
        cancelled = worker.registry.get_sample_value(
            "clipforge_stage_messages_total", {"stage": "transcribe", "result": "cancelled"}
        )
        assert cancelled == 1, "the coordinator's message was acked as cancelled"
        skipped = chunk_count(worker, "stale") + chunk_count(worker, "cancelled")
        assert skipped >= 1
        assert handled() == count
        assert await queue_depth(amqp, f"{settings.topology_prefix}.transcribe") == 0
        assert await queue_depth(amqp, f"{settings.topology_prefix}.transcribe.chunks") == 0

    final = await store.get(job["_id"])
    assert final is not None and final["status"] == "cancelled"
    assert len(final["transcribe_chunks"]["done"]) < count
    assert not MediaStore(settings.media_root).job_dir(job["_id"]).exists(), "the job's media was removed"


async def test_the_ledger_counts_each_part_once_and_a_restart_keeps_finished_parts(store: JobStore) -> None:
    """The job document's record of a split transcription, on the real database."""
    job = await new_job(store)
    ledger = ChunkLedger(store.jobs)
    spans = (ChunkSpan(0, 0.0, 10.0), ChunkSpan(1, 10.0, 20.0), ChunkSpan(2, 20.0, 30.0))
    plan = ChunkPlan(plan_id="plan-a", duration_seconds=30.0, spans=spans, cuts=())
    files = {0, 1, 2}

    assert await ledger.open(job["_id"], plan, result_exists=lambda index: index in files) == frozenset()
    assert await ledger.mark_done(job["_id"], "plan-a", 1, "worker-a") is True
    assert await ledger.mark_done(job["_id"], "plan-a", 1, "worker-b") is False, "a redelivery counts nothing"
    assert await ledger.mark_done(job["_id"], "plan-b", 2, "worker-b") is False, "another plan's part is ignored"
    assert await ledger.mark_done(job["_id"], "plan-a", 0, "worker-b") is True
    await ledger.mark_failed(job["_id"], "plan-a", 2, StageError("audio_unreadable", "Cannot read it."))
    record = (await ledger.state(job["_id"]) or {})["transcribe_chunks"]
    assert sorted(record["done"]) == [0, 1] and record["workers"] == {"1": "worker-a", "0": "worker-b"}
    assert record["failed"] == {"index": 2, "code": "audio_unreadable", "message": "Cannot read it."}

    # A restarted coordinator with the same plan keeps parts whose result exists and clears the failure.
    files.discard(0)
    assert await ledger.open(job["_id"], plan, result_exists=lambda index: index in files) == frozenset({1})
    record = (await ledger.state(job["_id"]) or {})["transcribe_chunks"]
    assert record["done"] == [1] and record["failed"] is None

    # Another plan starts afresh; an ended job takes no plan.
    other = ChunkPlan(plan_id="plan-b", duration_seconds=30.0, spans=spans[:2], cuts=())
    assert await ledger.open(job["_id"], other, result_exists=lambda index: True) == frozenset()
    record = (await ledger.state(job["_id"]) or {})["transcribe_chunks"]
    assert (record["plan"], record["count"], record["done"]) == ("plan-b", 2, [])
    assert await store.cancel(job["_id"], "default") is not None
    assert await ledger.open(job["_id"], plan, result_exists=lambda index: True) is None
