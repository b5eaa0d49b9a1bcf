"""The render service against the real RabbitMQ and SecantusDB: highlights in, clips with
thumbnails and subtitle files recorded on the completed job, one progress bar for all clips; and
its look ahead on media.ready, used by the render stage, stopped when the job is cancelled."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import aio_pika
import pysubs2
import pytest
from support import body_of, get_message, new_job, publish_json, wait_for_job

from clipforge.render.service import RenderSettings, build_worker
from clipforge.shared.events import ClipsReady, ControlCommand, HighlightsReady, MediaReady
from clipforge.shared.jobs import JobStore
from clipforge.shared.media import MediaStore
from clipforge.shared.models import Highlight, JobOptions, MediaInfo, Segment, Transcript, Word
from clipforge.shared.settings import Settings
from clipforge.shared.topology import Topology

pytestmark = pytest.mark.integration

SECONDS = 12.0


def make_video(path: Path, seconds: float = SECONDS, preset: str = "veryfast") -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s=640x360:r=25:d={seconds}",
         "-f", "lavfi", "-i", f"sine=f=330:d={seconds}", "-c:v", "libx264", "-preset", preset,
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip
    return path


def media_info(seconds: float = SECONDS) -> MediaInfo:
    return MediaInfo(
        duration_seconds=seconds,
        size_bytes=1,
        container="mp4",
        video_codec="h264",
        audio_codec="aac",
        width=640,
        height=360,
        fps=25.0,
        has_audio=True,
        has_video=True,
    )


def processes_reading(path: Path) -> list[str]:
    """Command lines of the running processes that have ``path`` among their arguments."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(path).encode() in argv:
            found.append(b" ".join(argv).decode(errors="replace"))
    return found


async def until(condition: Any, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{what} within {timeout} s")
        await asyncio.sleep(0.1)


async def test_render_service_records_clips_with_thumbnails_and_sidecars(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel
) -> None:
    job = await new_job(store)
    media = MediaStore(settings.media_root)
    video_key = media.key(job["_id"], "source.mp4")
    make_video(media.prepare(video_key))
    words = [Word(start=0.3 + i * 0.5, end=0.7 + i * 0.5, text=f"word{i}") for i in range(22)]
    transcript = Transcript(
        language="en",
        duration_seconds=SECONDS,
        segments=[Segment(start=0.0, end=SECONDS, text=" ".join(w.text for w in words), words=words)],
    )
    transcript_key = media.key(job["_id"], "transcript.json")
    media.prepare(transcript_key).write_text(transcript.model_dump_json())
    highlights = [
        Highlight(
            start=1.0 + 5.0 * n,
            end=5.0 + 5.0 * n,
            score=90.0 - n,
            reason="a strong hook",
            text="words",
            title=f"Title {n + 1}",
            keywords=["alpha", f"k{n}"],
            sub_scores={"hook": 80.0, "coherence": 70.0 + n},
        )
        for n in range(2)
    ]
    options = JobOptions(max_clips=2, min_clip_seconds=3, aspect="9:16", caption_style="karaoke")
    event = HighlightsReady(
        job_id=job["_id"],
        tenant_id="default",
        correlation_id="c",
        options=options,
        media=MediaInfo(
            duration_seconds=SECONDS,
            size_bytes=1,
            container="mp4",
            video_codec="h264",
            audio_codec="aac",
            width=640,
            height=360,
            fps=25.0,
            has_audio=True,
            has_video=True,
        ),
        video_key=video_key,
        transcript_key=transcript_key,
        highlights=highlights,
    )
    render_settings = RenderSettings(**{**settings.model_dump(), "render_preset": "ultrafast"})
    worker = build_worker(render_settings)
    await worker.start_dependencies()
    await worker.broker.start()
    try:
        await publish_json(amqp, Topology(settings.topology_prefix), event.topic, event.model_dump_json().encode())
        done = ClipsReady.model_validate(body_of(await get_message(amqp, f"{settings.topology_prefix}.gateway", 120)))
    finally:
        await worker.broker.stop()
        await worker.stop_dependencies()

    completed = await store.get(job["_id"])
    assert completed is not None and completed["status"] == "completed"
    assert [c["index"] for c in completed["clips"]] == [1, 2]
    # No media.ready went by, so no look ahead: each clip looked for itself.
    assert completed["stages"]["render"]["look"] == {"faces": ["inline", "inline"], "keyframes": "probe"}
    for clip, highlight in zip(done.clips, highlights, strict=True):
        assert (clip.title, clip.keywords, clip.sub_scores) == (
            highlight.title,
            highlight.keywords,
            highlight.sub_scores,
        )
        number = f"{clip.index:02d}"
        assert clip.media_key.endswith(f"clips/clip-{number}.mp4")
        assert clip.thumbnail_key and clip.thumbnail_key.endswith(f"clips/clip-{number}.jpg")
        assert clip.srt_key and clip.srt_key.endswith(f"clips/clip-{number}.srt")
        assert clip.vtt_key and clip.vtt_key.endswith(f"clips/clip-{number}.vtt")
        assert media.path(clip.thumbnail_key).read_bytes()[:3] == b"\xff\xd8\xff"
        cues = pysubs2.load(str(media.path(clip.vtt_key))).events
        assert cues and all(0 <= cue.start < cue.end <= clip.duration_seconds * 1000 + 10 for cue in cues)
        assert media.path(clip.srt_key).read_text().startswith("1\n")
        assert (clip.width, clip.height) == (202, 360)
    stored = completed["clips"][0]
    assert stored["thumbnail_key"] == done.clips[0].thumbnail_key and stored["title"] == "Title 1"

    events = [e["event"] for e in await store.events_after(job["_id"], 0) if e["event"].get("stage") == "render"]
    percents = [e["stage_percent"] for e in events if e.get("stage_percent") is not None]
    assert percents == sorted(percents) and percents[-1] == 100
    assert any("2 clips" in (e.get("message") or "") for e in events)


async def test_the_look_ahead_runs_on_media_ready_and_the_render_stage_uses_it(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel
) -> None:
    job = await new_job(store)
    media = MediaStore(settings.media_root)
    video_key = media.key(job["_id"], "source.mp4")
    make_video(media.prepare(video_key))
    words = [Word(start=0.3 + i * 0.5, end=0.7 + i * 0.5, text=f"word{i}") for i in range(22)]
    transcript_key = media.key(job["_id"], "transcript.json")
    media.prepare(transcript_key).write_text(
        Transcript(
            language="en",
            duration_seconds=SECONDS,
            segments=[Segment(start=0.0, end=SECONDS, text="words", words=words)],
        ).model_dump_json()
    )
    options = JobOptions(max_clips=2, min_clip_seconds=3, aspect="9:16")
    topology = Topology(settings.topology_prefix)
    ready = MediaReady(
        job_id=job["_id"],
        tenant_id="default",
        correlation_id="c",
        options=options,
        media=media_info(),
        video_key=video_key,
        audio_key=media.key(job["_id"], "audio.wav"),
    )
    look = media.job_dir(job["_id"]) / "look"
    worker = build_worker(RenderSettings(**{**settings.model_dump(), "render_preset": "ultrafast"}))
    await worker.start_dependencies()
    await worker.broker.start()
    try:
        await publish_json(amqp, topology, ready.topic, ready.model_dump_json().encode())
        await until(lambda: (look / "faces.json").exists() and (look / "keyframes.json").exists(), 120, "no look")
        faces = json.loads((look / "faces.json").read_text())
        assert faces["fps"] == 3.0 and len(faces["times"]) == 36 and not any(faces["faces"])  # testsrc2: no face
        assert sum(json.loads((look / "keyframes.json").read_text())["key"]) >= 1
        assert not [p.name for p in look.iterdir() if p.name.startswith(".")]  # no temporary file left

        highlights = [
            Highlight(start=1.0 + 5.0 * n, end=5.0 + 5.0 * n, score=90.0 - n, reason="r", text="t") for n in range(2)
        ]
        event = HighlightsReady(
            job_id=job["_id"],
            tenant_id="default",
            correlation_id="c",
            options=options,
            media=media_info(),
            video_key=video_key,
            transcript_key=transcript_key,
            highlights=highlights,
        )
        await publish_json(amqp, topology, event.topic, event.model_dump_json().encode())
        done = ClipsReady.model_validate(body_of(await get_message(amqp, f"{settings.topology_prefix}.gateway", 120)))
    finally:
        await worker.broker.stop()
        await worker.stop_dependencies()

    completed = await store.get(job["_id"])
    assert completed is not None and completed["status"] == "completed"
    assert completed["stages"]["render"]["look"] == {"faces": ["prepass", "prepass"], "keyframes": "prepass"}
    assert [(clip.width, clip.height) for clip in done.clips] == [(202, 360), (202, 360)]  # blurred fit


async def test_a_cancelled_job_s_look_ahead_stops_and_leaves_nothing(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel
) -> None:
    seconds = 300.0
    job = await new_job(store)
    media = MediaStore(settings.media_root)
    video_key = media.key(job["_id"], "long.mp4")
    video = make_video(media.prepare(video_key), seconds, preset="ultrafast")
    ready = MediaReady(
        job_id=job["_id"],
        tenant_id="default",
        correlation_id="c",
        options=JobOptions(aspect="9:16"),
        media=media_info(seconds),
        video_key=video_key,
        audio_key=media.key(job["_id"], "audio.wav"),
    )
    topology = Topology(settings.topology_prefix)
    look = media.job_dir(job["_id"]) / "look"
    worker = build_worker(RenderSettings(**settings.model_dump()))
    await worker.start_dependencies()
    await worker.broker.start()
    try:
        await publish_json(amqp, topology, ready.topic, ready.model_dump_json().encode())
        # The face look is under way: ffmpeg is decoding the source for it.
        await until(lambda: any("rawvideo" in argv for argv in processes_reading(video)), 60, "no face look")
        cancel = ControlCommand(job_id=job["_id"])
        exchange = await amqp.get_exchange(topology.control.name)
        await exchange.publish(aio_pika.Message(cancel.model_dump_json().encode()), routing_key="")
        await until(lambda: not processes_reading(video), 30, "the face look went on")
        await asyncio.sleep(1.0)
        assert not look.exists()  # neither the keyframe index nor partial faces are left behind
        assert video.exists()  # the look removes only its own files
    finally:
        await worker.broker.stop()
        await worker.stop_dependencies()


async def test_the_look_ahead_stops_when_the_job_ends(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel
) -> None:
    seconds = 300.0
    job = await new_job(store)
    media = MediaStore(settings.media_root)
    video_key = media.key(job["_id"], "long.mp4")
    video = make_video(media.prepare(video_key), seconds, preset="ultrafast")
    ready = MediaReady(
        job_id=job["_id"],
        tenant_id="default",
        correlation_id="c",
        options=JobOptions(aspect="9:16"),
        media=media_info(seconds),
        video_key=video_key,
        audio_key=media.key(job["_id"], "audio.wav"),
    )
    worker = build_worker(RenderSettings(**settings.model_dump()))
    await worker.start_dependencies()
    await worker.broker.start()
    try:
        await publish_json(amqp, Topology(settings.topology_prefix), ready.topic, ready.model_dump_json().encode())
        await until(lambda: any("rawvideo" in argv for argv in processes_reading(video)), 60, "no face look")
        assert await store.cancel(job["_id"], "default") is not None  # as the gateway does, with no broadcast
        await wait_for_job(store, job["_id"], lambda j: j["status"] == "cancelled")
        await until(lambda: not processes_reading(video), 30, "the face look went on")
        await asyncio.sleep(1.0)
        assert not (media.job_dir(job["_id"]) / "look" / "faces.json").exists()
    finally:
        await worker.broker.stop()
        await worker.stop_dependencies()
