"""Starting jobs from uploaded files: streamed multipart, size limit, content checked by ffprobe."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import httpx
import pytest
import pytest_asyncio
from support import body_of, get_message, serve_gateway

from clipforge.devstack.samples import SampleVideo, make_silent_video
from clipforge.ingest.service import IngestSettings
from clipforge.ingest.service import build_worker as build_ingest
from clipforge.shared.events import JobRequested, MediaReady
from clipforge.shared.jobs import JobStore
from clipforge.shared.settings import Settings

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def client(gateway: str, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway, headers={"Authorization": f"Bearer {api_key}"}, timeout=60) as http:
        yield http


async def test_upload_starts_a_job_that_ingest_processes_from_the_media_store(
    client: httpx.AsyncClient,
    speech_video: SampleVideo,
    store: JobStore,
    settings: Settings,
    amqp: aio_pika.abc.AbstractChannel,
) -> None:
    options = {"max_clips": 2, "aspect": "9:16"}
    with speech_video.path.open("rb") as video:
        response = await client.post(
            "/v1/jobs/upload",
            files={"file": ("My talk.mp4", video, "application/octet-stream")},
            data={"options": json.dumps(options), "priority": "batch"},
        )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    job = await store.get(job_id)
    assert job is not None
    assert job["source"]["kind"] == "upload" and job["source"]["filename"] == "My talk.mp4"
    assert job["options"]["aspect"] == "9:16" and job["priority"] == "batch"
    stored = Path(settings.media_root) / job["source"]["media_key"]
    assert stored.read_bytes() == speech_video.path.read_bytes()

    request = JobRequested.model_validate(body_of(await get_message(amqp, f"{settings.topology_prefix}.ingest.batch")))
    assert request.source.media_key == job["source"]["media_key"]

    worker = build_ingest(IngestSettings(**settings.model_dump()))
    await worker.start_dependencies()
    await worker.broker.start()
    try:
        await worker.publish_raw(request.topic, request.model_dump(mode="json"), request.event_id, "c")
        ready = MediaReady.model_validate(
            body_of(await get_message(amqp, f"{settings.topology_prefix}.transcribe.batch", 60))
        )
    finally:
        await worker.broker.stop()
        await worker.stop_dependencies()
    assert ready.media.has_audio and abs(ready.media.duration_seconds - speech_video.duration_seconds) < 0.5


async def test_upload_over_the_size_limit_is_413_and_leaves_nothing(
    gateway: str, api_key: str, settings: Settings, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (3 * 1024 * 1024))
    # The gateway fixture uses the default limit (2 GiB); a small limit needs its own gateway.
    async with (
        serve_gateway(settings, max_upload_bytes=1024 * 1024) as url,
        httpx.AsyncClient(headers={"Authorization": f"Bearer {api_key}"}, timeout=60) as http,
    ):
        with big.open("rb") as payload:
            response = await http.post(f"{url}/v1/jobs/upload", files={"file": ("big.mp4", payload)})
    assert response.status_code == 413 and response.json()["code"] == "upload_too_large"
    jobs_dir = Path(settings.media_root) / "jobs"
    assert not jobs_dir.exists() or list(jobs_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("make_file", "status", "code"),
    [
        (lambda d: _write(d / "notes.mp4", b"this is a text file, not a video\n" * 100), 415, "not_media"),
        (lambda d: make_silent_video(d / "silent.mp4"), 422, "no_audio_stream"),
        (lambda d: _write(d / "truncated.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64), 415, "not_media"),
    ],
    ids=["text-renamed", "no-audio", "truncated"],
)
async def test_non_media_uploads_are_refused_by_content(
    client: httpx.AsyncClient, tmp_path: Path, settings: Settings, make_file, status: int, code: str
) -> None:  # type: ignore[no-untyped-def]
    path = make_file(tmp_path)
    with path.open("rb") as payload:
        response = await client.post("/v1/jobs/upload", files={"file": (path.name, payload, "video/mp4")})
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    jobs_dir = Path(settings.media_root) / "jobs"
    assert not jobs_dir.exists() or list(jobs_dir.iterdir()) == []


async def test_upload_without_file_or_with_bad_options_is_422(
    client: httpx.AsyncClient, speech_video: SampleVideo
) -> None:
    missing = await client.post("/v1/jobs/upload", files={"options": (None, "{}")})
    assert missing.status_code == 422 and missing.json()["code"] == "file_missing"
    with speech_video.path.open("rb") as video:
        bad = await client.post(
            "/v1/jobs/upload",
            files={"file": ("v.mp4", video)},
            data={"options": json.dumps({"max_clips": 0})},
        )
    assert bad.status_code == 422
    assert any(error["field"].startswith("options.max_clips") for error in bad.json()["errors"])
    not_multipart = await client.post("/v1/jobs/upload", content=b"raw", headers={"content-type": "video/mp4"})
    assert not_multipart.status_code == 415


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
