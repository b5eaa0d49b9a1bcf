"""The render service against the real RabbitMQ and SecantusDB: highlights in, clips with
thumbnails and subtitle files recorded on the completed job, one progress bar for all clips."""

from __future__ import annotations

import subprocess
from pathlib import Path

import aio_pika
import pysubs2
import pytest
from support import body_of, get_message, new_job, publish_json

from clipforge.render.service import RenderSettings, build_worker
from clipforge.shared.events import ClipsReady, HighlightsReady
from clipforge.shared.jobs import JobStore
from clipforge.shared.media import MediaStore
from clipforge.shared.models import Highlight, JobOptions, MediaInfo, Segment, Transcript, Word
from clipforge.shared.settings import Settings
from clipforge.shared.topology import Topology

pytestmark = pytest.mark.integration

SECONDS = 12.0


def make_video(path: Path) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s=640x360:r=25:d={SECONDS}",
         "-f", "lavfi", "-i", f"sine=f=330:d={SECONDS}", "-c:v", "libx264", "-preset", "veryfast",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip
    return path


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
