"""Every service as its own process, a job over HTTP, progress over WebSocket, clips checked
with ffprobe: the whole product on real RabbitMQ, SecantusDB, ffmpeg and faster-whisper."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from clipforge.api.models import JobSnapshotMessage, ProgressMessage
from clipforge.client import ClipForge
from clipforge.devstack.httpserve import StaticServer
from clipforge.devstack.samples import SampleVideo
from clipforge.devstack.stack import LocalStack

pytestmark = pytest.mark.e2e

OPTIONS = {"max_clips": 3, "min_clip_seconds": 5, "max_clip_seconds": 20}
LENGTH_TOLERANCE_SECONDS = 0.5


@pytest.fixture(scope="module")
def clipforge(stack: LocalStack) -> Iterator[ClipForge]:
    with ClipForge(stack.gateway_url, stack.api_key) as client:
        yield client


def follow(clipforge: ClipForge, job_id: str, timeout: float) -> list[JobSnapshotMessage | ProgressMessage]:
    """Every live message of the job until its stream ends (the job ended)."""
    messages: list[JobSnapshotMessage | ProgressMessage] = []
    clipforge.wait(job_id, timeout=timeout, on_message=messages.append)
    return messages


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def words_of(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def test_url_becomes_captioned_clips(
    clipforge: ClipForge, media_server: StaticServer, speech_video: SampleVideo, tmp_path: Path
) -> None:
    created = clipforge.create(f"{media_server.base_url}/{speech_video.path.name}", options=OPTIONS)
    messages = follow(clipforge, created.id, timeout=300)

    assert isinstance(messages[0], JobSnapshotMessage)
    progress = [m for m in messages if isinstance(m, ProgressMessage)]
    seqs = [m.seq for m in progress]
    assert seqs == sorted(set(seqs)), "events arrive in order, without duplicates"
    assert {m.stage for m in progress} >= {"ingest", "transcribe", "analyze", "render"}
    percents = [m.percent for m in progress]
    assert percents == sorted(percents), "overall progress never goes backwards"
    assert progress[-1].status == "completed" and progress[-1].percent == 100.0

    job = clipforge.get_job(created.id)
    assert job.status == "completed", job.error
    assert all(stage.status == "done" and stage.duration_seconds is not None for stage in job.stages.values())
    assert job.media is not None and job.media.video_codec == "h264" and job.media.has_audio is True

    transcript = clipforge.transcript(job.id)
    spoken = words_of(" ".join(speech_video.sentences))
    heard = words_of(" ".join(segment.text for segment in transcript.segments))
    assert len(spoken & heard) / len(spoken) >= 0.8, sorted(spoken - heard)

    clips = job.clips
    assert 1 <= len(clips) <= OPTIONS["max_clips"]
    scores = [clip.score for clip in clips]
    assert scores == sorted(scores, reverse=True)
    spans = sorted((clip.start, clip.end) for clip in clips)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in pairwise(spans))
    assert all(clip.reason for clip in clips)
    paths = clipforge.download_clips(job, tmp_path)
    assert len(paths) == len(clips)
    for path in paths:
        info = ffprobe(path)
        codecs = {stream["codec_type"]: stream["codec_name"] for stream in info["streams"]}
        assert codecs == {"video": "h264", "audio": "aac"}
        duration = float(info["format"]["duration"])
        assert OPTIONS["min_clip_seconds"] - LENGTH_TOLERANCE_SECONDS <= duration
        assert duration <= OPTIONS["max_clip_seconds"] + LENGTH_TOLERANCE_SECONDS


def test_page_without_media_fails_with_its_code_over_the_websocket(
    clipforge: ClipForge, media_server: StaticServer
) -> None:
    created = clipforge.create(f"{media_server.base_url}/page.html", options=OPTIONS)
    messages = follow(clipforge, created.id, timeout=120)
    final = messages[-1]
    assert isinstance(final, ProgressMessage) and final.status == "failed"
    job = clipforge.get_job(created.id)
    assert job.error is not None
    assert job.error.stage == "ingest"
    assert job.error.code == "no_media_found"
    assert final.message == job.error.message
    assert job.stages["ingest"].status == "failed"


def test_every_service_serves_metrics(stack: LocalStack) -> None:
    for name, service in stack.services.items():
        text = httpx.get(f"{service.base_url}/metrics", timeout=10).text
        assert "faststream_" in text, name
        if name != "gateway":
            assert "clipforge_stage_duration_seconds" in text, name
