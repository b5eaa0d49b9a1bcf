"""Each real stage service (its own ``build_worker``) against the real RabbitMQ and SecantusDB:
its input event in, its result on the job document, its next event out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from support import body_of, get_message, new_job, publish_json, wait_for_job

from clipforge.analyze.service import AnalyzeSettings
from clipforge.analyze.service import build_worker as build_analyze
from clipforge.devstack.httpserve import StaticServer
from clipforge.devstack.samples import SampleVideo, make_silent_video
from clipforge.ingest.core import extract_audio, probe
from clipforge.ingest.service import IngestSettings
from clipforge.ingest.service import build_worker as build_ingest
from clipforge.render.service import RenderSettings
from clipforge.render.service import build_worker as build_render
from clipforge.shared.events import (
    ClipsReady,
    Event,
    JobRequested,
    MediaReady,
    TranscriptReady,
)
from clipforge.shared.jobs import JobStore
from clipforge.shared.media import MediaStore
from clipforge.shared.models import Highlight, JobOptions, MediaInfo, SourceRef, Transcript
from clipforge.shared.settings import Settings
from clipforge.shared.worker import StageWorker
from clipforge.transcribe.service import TranscribeSettings
from clipforge.transcribe.service import build_worker as build_transcribe

pytestmark = pytest.mark.integration

OPTIONS = JobOptions(max_clips=2, min_clip_seconds=5, max_clip_seconds=20)


@asynccontextmanager
async def running(worker: StageWorker[Any]) -> AsyncIterator[StageWorker[Any]]:
    await worker.start_dependencies()
    await worker.broker.start()
    try:
        yield worker
    finally:
        await worker.broker.stop()
        await worker.stop_dependencies()


def stage_settings(settings_type: type[Settings], settings: Settings, **overrides: Any) -> Any:
    return settings_type(**{**settings.model_dump(), **overrides})


async def send(amqp: aio_pika.abc.AbstractChannel, settings: Settings, event: Event) -> None:
    from clipforge.shared.topology import Topology

    await publish_json(amqp, Topology(settings.topology_prefix), event.topic, event.model_dump_json().encode())


def request_for(job: dict[str, Any], url: str) -> JobRequested:
    return JobRequested(
        job_id=job["_id"], tenant_id="default", correlation_id=job["_id"], source=SourceRef(url=url), options=OPTIONS
    )


async def staged_media(settings: Settings, job_id: str, video: SampleVideo) -> tuple[MediaInfo, str, str]:
    """Put a video and its speech track into the media store as ingest leaves them."""
    media = MediaStore(settings.media_root)
    video_key, audio_key = media.key(job_id, "source.mp4"), media.key(job_id, "audio.wav")
    media.prepare(video_key).write_bytes(video.path.read_bytes())
    info = await probe(media.path(video_key))
    await extract_audio(media.path(video_key), media.prepare(audio_key), info.duration_seconds, lambda *_: None)
    return info, video_key, audio_key


async def test_ingest_service_downloads_probes_and_extracts_audio(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel, speech_video: SampleVideo
) -> None:
    job = await new_job(store)
    async with running(build_ingest(stage_settings(IngestSettings, settings))):
        with StaticServer(speech_video.path.parent) as files:
            await send(amqp, settings, request_for(job, f"{files.base_url}/{speech_video.path.name}"))
            ready = MediaReady.model_validate(
                body_of(await get_message(amqp, f"{settings.topology_prefix}.transcribe"))
            )
    media = MediaStore(settings.media_root)
    assert media.path(ready.video_key).is_file() and media.path(ready.audio_key).is_file()
    assert ready.media.video_codec == "h264" and ready.media.has_audio
    assert abs(ready.media.duration_seconds - speech_video.duration_seconds) < 0.5
    stored = await store.get(job["_id"])
    assert stored is not None and stored["media"]["width"] == 640 and stored["stages"]["ingest"]["status"] == "done"


@pytest.mark.parametrize(
    ("make_source", "overrides", "code"),
    [
        (lambda directory, base: "ftp://127.0.0.1/video.mp4", {}, "unsupported_url_scheme"),
        (lambda directory, base: f"{base}/{make_silent_video(directory / 'silent.mp4').name}", {}, "no_audio_stream"),
        (lambda directory, base: f"{base}/missing.mp4", {}, "source_unreachable"),
        (lambda directory, base: f"{base}/speech.mp4", {"max_duration_seconds": 5}, "media_too_long"),
    ],
    ids=["scheme", "no-audio", "404", "too-long"],
)
async def test_ingest_service_fails_bad_sources_with_a_code(
    settings: Settings,
    store: JobStore,
    amqp: aio_pika.abc.AbstractChannel,
    speech_video: SampleVideo,
    tmp_path: Path,
    make_source: Callable[[Path, str], str],
    overrides: dict[str, Any],
    code: str,
) -> None:
    (tmp_path / "speech.mp4").write_bytes(speech_video.path.read_bytes())
    job = await new_job(store)
    async with running(build_ingest(stage_settings(IngestSettings, settings, **overrides))):
        with StaticServer(tmp_path) as files:
            await send(amqp, settings, request_for(job, make_source(tmp_path, files.base_url)))
            failed = await wait_for_job(store, job["_id"], lambda j: j["status"] == "failed")
    assert failed["error"]["stage"] == "ingest" and failed["error"]["code"] == code
    assert len(failed["error"]["message"]) > 20
    outcome = body_of(await get_message(amqp, f"{settings.topology_prefix}.gateway"))
    assert outcome["error"]["code"] == code


async def test_transcribe_service_stores_word_timed_transcript(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel, speech_video: SampleVideo
) -> None:
    job = await new_job(store)
    info, video_key, audio_key = await staged_media(settings, job["_id"], speech_video)
    event = MediaReady(
        job_id=job["_id"],
        tenant_id="default",
        correlation_id="c",
        options=OPTIONS,
        media=info,
        video_key=video_key,
        audio_key=audio_key,
    )
    async with running(build_transcribe(stage_settings(TranscribeSettings, settings))):
        await send(amqp, settings, event)
        ready = TranscriptReady.model_validate(body_of(await get_message(amqp, f"{settings.topology_prefix}.analyze")))
    transcript = Transcript.model_validate_json(MediaStore(settings.media_root).path(ready.transcript_key).read_bytes())
    assert "fox" in transcript.text.lower() and transcript.words
    stored = await store.get(job["_id"])
    assert stored is not None
    assert stored["transcript"]["word_count"] == len(transcript.words) and stored["progress"] == 60.0
    progress_events = await store.events_after(job["_id"], 0)
    assert any(e["event"]["stage"] == "transcribe" and 0 < e["event"]["stage_percent"] < 100 for e in progress_events)


async def test_analyze_then_render_services_complete_the_job(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel, speech_video: SampleVideo
) -> None:
    job = await new_job(store)
    info, video_key, _audio_key = await staged_media(settings, job["_id"], speech_video)
    media = MediaStore(settings.media_root)
    words_per_sentence = [sentence.split() for sentence in speech_video.sentences]
    transcript = _evenly_timed_transcript(words_per_sentence, info.duration_seconds)
    transcript_key = media.key(job["_id"], "transcript.json")
    media.prepare(transcript_key).write_text(transcript.model_dump_json())
    event = TranscriptReady(
        job_id=job["_id"],
        tenant_id="default",
        correlation_id="c",
        options=OPTIONS,
        media=info,
        video_key=video_key,
        transcript_key=transcript_key,
    )
    async with (
        running(build_analyze(stage_settings(AnalyzeSettings, settings))),
        running(build_render(stage_settings(RenderSettings, settings))),
    ):
        await send(amqp, settings, event)
        done = ClipsReady.model_validate(body_of(await get_message(amqp, f"{settings.topology_prefix}.gateway", 120)))
    completed = await store.get(job["_id"])
    assert completed is not None and completed["status"] == "completed" and completed["progress"] == 100.0
    highlights = [Highlight.model_validate(h) for h in completed["highlights"]]
    assert 1 <= len(done.clips) <= OPTIONS.max_clips and len(highlights) == len(done.clips)
    for clip in done.clips:
        assert media.path(clip.media_key).stat().st_size == clip.size_bytes
        assert OPTIONS.min_clip_seconds - 0.5 <= clip.duration_seconds <= OPTIONS.max_clip_seconds + 0.5
    assert [c["index"] for c in completed["clips"]] == list(range(1, len(done.clips) + 1))


def _evenly_timed_transcript(sentences: list[list[str]], duration: float) -> Transcript:
    """A transcript whose words share the video's length evenly (analysis/render need timings only)."""
    from clipforge.shared.models import Segment, Word

    total = sum(len(words) for words in sentences)
    step = duration / total
    segments, index = [], 0
    for words in sentences:
        timed = [Word(start=(index + i) * step, end=(index + i + 0.9) * step, text=w) for i, w in enumerate(words)]
        segments.append(Segment(start=timed[0].start, end=timed[-1].end, text=" ".join(words), words=timed))
        index += len(words)
    return Transcript(language="en", duration_seconds=duration, segments=segments)
