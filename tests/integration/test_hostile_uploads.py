"""Hostile uploads against the real gateway, RabbitMQ and SecantusDB: the file is judged by its
content (ffprobe), fields like JSON bodies; every refusal is a 4xx problem that leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from clipforge.devstack import samples
from clipforge.devstack.samples import SampleVideo
from clipforge.shared.jobs import JobStore
from clipforge.shared.settings import Settings

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def client(gateway: str, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway, headers={"Authorization": f"Bearer {api_key}"}, timeout=60) as http:
        yield http


def nothing_stored(settings: Settings) -> bool:
    jobs_dir = Path(settings.media_root) / "jobs"
    return not jobs_dir.exists() or not any(jobs_dir.iterdir())


def made(path: Path, *argv: str) -> Path:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *argv, str(path)], check=True, capture_output=True)
    return path


def contents(data: bytes) -> Callable[[Path], Path]:
    def write(path: Path) -> Path:
        path.write_bytes(data)
        return path

    return write


def encoded(*argv: str) -> Callable[[Path], Path]:
    return lambda path: made(path, *argv)


@pytest.mark.parametrize(
    ("name", "make", "status", "code"),
    [
        ("empty.mp4", contents(b""), 422, "file_missing"),
        ("noise.mp4", contents(os.urandom(300_000)), 415, "not_media"),
        ("page.mp4", contents(b"<!doctype html><html><body>hi</body></html>" * 50), 415, "not_media"),
        ("voice.m4a", encoded("-f", "lavfi", "-i", "sine=duration=2", "-c:a", "aac"), 422, "no_video_stream"),
        ("mute.mp4", encoded("-f", "lavfi", "-i", "testsrc2=duration=2", "-c:v", "libx264", "-preset", "ultrafast"),
         422, "no_audio_stream"),
    ],
    ids=["zero-bytes", "random-bytes", "html-renamed", "audio-only", "no-audio"],
)  # fmt: skip
async def test_hostile_files_are_refused_by_content(
    client: httpx.AsyncClient,
    settings: Settings,
    store: JobStore,
    tmp_path: Path,
    name: str,
    make: Callable[[Path], Path],
    status: int,
    code: str,
) -> None:
    path = make(tmp_path / name)
    with path.open("rb") as payload:
        response = await client.post("/v1/jobs/upload", files={"file": (name, payload, "video/mp4")})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert nothing_stored(settings)
    assert await store.list_jobs("default", limit=5) == []


async def test_truncated_video_without_its_index_is_refused(
    client: httpx.AsyncClient, settings: Settings, speech_video: SampleVideo, tmp_path: Path
) -> None:
    plain = made(tmp_path / "plain.mp4", "-i", str(speech_video.path), "-c", "copy")  # moov at the end
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(plain.read_bytes()[: plain.stat().st_size // 2])
    with cut.open("rb") as payload:
        response = await client.post("/v1/jobs/upload", files={"file": ("cut.mp4", payload)})
    assert response.status_code == 415 and response.json()["code"] == "not_media"
    assert nothing_stored(settings)


async def test_a_hostile_file_name_is_only_a_label(
    client: httpx.AsyncClient, settings: Settings, store: JobStore, speech_video: SampleVideo
) -> None:
    hostile = "../../../etc/cron.d/\u202egnp.mp4\u0000\U0001f3ac" + "x" * 400
    with speech_video.path.open("rb") as payload:
        response = await client.post("/v1/jobs/upload", files={"file": (hostile, payload, "video/mp4")})
    assert response.status_code == 202, response.text
    job = await store.get(response.json()["id"])
    assert job is not None
    assert job["source"]["media_key"] == f"jobs/{job['_id']}/source.upload"
    assert len(job["source"]["filename"]) <= 255
    stored = Path(settings.media_root) / job["source"]["media_key"]
    assert stored.read_bytes() == speech_video.path.read_bytes()
    view = await client.get(f"/v1/jobs/{job['_id']}")
    assert view.status_code == 200


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"options": '{"max_clips": "3"}'}, "options.max_clips"),
        ({"options": '{"captions": "yes"}'}, "options.captions"),
        ({"options": '{"clips": 3}'}, "options.clips"),
        ({"options": "[1, 2, 3]"}, "options"),
        ({"options": "{"}, "options"),
        ({"options": "[" * 5000 + "]" * 5000}, "options"),
        ({"options": '{"language": "\\ud800"}'}, "options.language"),
        ({"priority": "urgent"}, "priority"),
        ({"priority": "batch\u0000"}, "priority"),
        ({"callback_url": "javascript:alert(1)"}, "callback_url"),
        ({"callback_url": "https://example.com/\u0000hook"}, "callback_url"),
        ({"surprise": "1"}, "surprise"),
    ],
)
async def test_hostile_fields_are_422_naming_the_field(
    client: httpx.AsyncClient, settings: Settings, speech_video: SampleVideo, fields: dict[str, str], field: str
) -> None:
    with speech_video.path.open("rb") as payload:
        response = await client.post("/v1/jobs/upload", files={"file": ("v.mp4", payload)}, data=fields)
    assert response.status_code == 422, response.text
    assert any(error["field"].startswith(field) for error in response.json()["errors"]), response.json()
    assert nothing_stored(settings)


async def test_an_oversized_field_is_422(client: httpx.AsyncClient, settings: Settings, tmp_path: Path) -> None:
    video = samples.make_tone_video(tmp_path / "tone.mp4", seconds=1)
    with video.open("rb") as payload:
        response = await client.post(
            "/v1/jobs/upload", files={"file": ("v.mp4", payload)}, data={"options": json.dumps({"x": "y" * 100_000})}
        )
    assert response.status_code == 422 and response.json()["code"] == "field_too_large"
    assert nothing_stored(settings)
