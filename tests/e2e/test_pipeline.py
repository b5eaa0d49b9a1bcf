"""Every service as its own process, a job over HTTP, progress over WebSocket, clips checked
with ffprobe: the whole product on real RabbitMQ, SecantusDB, ffmpeg and faster-whisper."""

from __future__ import annotations

import json
import re
import subprocess
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from clipforge.devstack.client import auth, follow_job, get_job, submit_job
from clipforge.devstack.httpserve import StaticServer
from clipforge.devstack.samples import SampleVideo
from clipforge.devstack.stack import LocalStack

pytestmark = pytest.mark.e2e

OPTIONS = {"max_clips": 3, "min_clip_seconds": 5, "max_clip_seconds": 20}
LENGTH_TOLERANCE_SECONDS = 0.5


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
    stack: LocalStack, media_server: StaticServer, speech_video: SampleVideo, tmp_path: Path
) -> None:
    job_id = submit_job(stack.gateway_url, stack.api_key, f"{media_server.base_url}/{speech_video.path.name}", OPTIONS)
    messages = follow_job(stack.gateway_url, stack.api_key, job_id, timeout_seconds=300)

    assert messages[0]["type"] == "snapshot"
    progress = [m for m in messages if m["type"] == "progress"]
    seqs = [m["seq"] for m in progress]
    assert seqs == sorted(set(seqs)), "events arrive in order, without duplicates"
    assert {m["stage"] for m in progress} >= {"ingest", "transcribe", "analyze", "render"}
    percents = [m["percent"] for m in progress]
    assert percents == sorted(percents), "overall progress never goes backwards"
    assert progress[-1]["status"] == "completed" and progress[-1]["percent"] == 100.0

    job = get_job(stack.gateway_url, stack.api_key, job_id)
    assert job["status"] == "completed", job.get("error")
    assert all(stage["status"] == "done" and stage["duration_seconds"] is not None for stage in job["stages"].values())
    assert job["media"]["video_codec"] == "h264" and job["media"]["has_audio"] is True

    transcript = httpx.get(
        f"{stack.gateway_url}/v1/jobs/{job_id}/transcript", headers=auth(stack.api_key), timeout=30
    ).json()
    spoken = words_of(" ".join(speech_video.sentences))
    heard = words_of(" ".join(segment["text"] for segment in transcript["segments"]))
    assert len(spoken & heard) / len(spoken) >= 0.8, sorted(spoken - heard)

    clips = job["clips"]
    assert 1 <= len(clips) <= OPTIONS["max_clips"]
    scores = [clip["score"] for clip in clips]
    assert scores == sorted(scores, reverse=True)
    spans = sorted((clip["start"], clip["end"]) for clip in clips)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in pairwise(spans))
    for clip in clips:
        assert clip["reason"]
        response = httpx.get(f"{stack.gateway_url}{clip['url']}", headers=auth(stack.api_key), timeout=60)
        assert response.status_code == 200 and response.headers["content-type"] == "video/mp4"
        path = tmp_path / f"clip-{clip['index']}.mp4"
        path.write_bytes(response.content)
        info = ffprobe(path)
        codecs = {stream["codec_type"]: stream["codec_name"] for stream in info["streams"]}
        assert codecs == {"video": "h264", "audio": "aac"}
        duration = float(info["format"]["duration"])
        assert OPTIONS["min_clip_seconds"] - LENGTH_TOLERANCE_SECONDS <= duration
        assert duration <= OPTIONS["max_clip_seconds"] + LENGTH_TOLERANCE_SECONDS


def test_page_without_media_fails_with_its_code_over_the_websocket(
    stack: LocalStack, media_server: StaticServer
) -> None:
    job_id = submit_job(stack.gateway_url, stack.api_key, f"{media_server.base_url}/page.html", OPTIONS)
    messages = follow_job(stack.gateway_url, stack.api_key, job_id, timeout_seconds=120)
    final = messages[-1]
    assert final["type"] == "progress" and final["status"] == "failed"
    job = get_job(stack.gateway_url, stack.api_key, job_id)
    assert job["error"]["stage"] == "ingest"
    assert job["error"]["code"] == "no_media_found"
    assert final["message"] == job["error"]["message"]
    assert job["stages"]["ingest"]["status"] == "failed"


def test_every_service_serves_metrics(stack: LocalStack) -> None:
    for name, service in stack.services.items():
        text = httpx.get(f"{service.base_url}/metrics", timeout=10).text
        assert "faststream_" in text, name
        if name != "gateway":
            assert "clipforge_stage_duration_seconds" in text, name
