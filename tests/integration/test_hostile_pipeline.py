"""Hostile input through the running pipeline: the real gateway and all four stage workers (ingest,
transcribe, analyze, render) on the real RabbitMQ and SecantusDB, jobs submitted over HTTP.

Each job must end, completed or failed with a specific code; none may stay running, and the
gateway never answers 5xx. Only 127.0.0.1 is allowed as a source network; 127.0.0.2 plays an
internal address.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import serve_gateway, wait_for_job

from clipforge.analyze.service import AnalyzeSettings
from clipforge.analyze.service import build_worker as build_analyze
from clipforge.devstack import samples
from clipforge.devstack.httpserve import StaticServer
from clipforge.ingest.service import IngestSettings
from clipforge.ingest.service import build_worker as build_ingest
from clipforge.render.service import RenderSettings
from clipforge.render.service import build_worker as build_render
from clipforge.shared.jobs import JobStore
from clipforge.shared.models import JobStatus
from clipforge.shared.settings import Settings
from clipforge.shared.worker import StageWorker
from clipforge.transcribe.service import TranscribeSettings
from clipforge.transcribe.service import build_worker as build_transcribe

pytestmark = pytest.mark.integration

ONLY_FIRST_LOOPBACK = ["127.0.0.1/32"]
MAX_SECONDS = 40.0
OPTIONS = {"max_clips": 1, "min_clip_seconds": 4, "max_clip_seconds": 20}
SENTENCES = (
    "Portrait videos from phones are welcome here.",
    "This one is encoded with an unusual codec inside a web container.",
    "ClipForge should still find a highlight and render it.",
)


@asynccontextmanager
async def running(worker: StageWorker[Any]) -> AsyncIterator[None]:
    await worker.start_dependencies()
    await worker.broker.start()
    try:
        yield
    finally:
        await worker.broker.stop()
        await worker.stop_dependencies()


@asynccontextmanager
async def pipeline(settings: Settings) -> AsyncIterator[str]:
    common = {**settings.model_dump(), "allowed_source_networks": ONLY_FIRST_LOOPBACK}
    ingest = IngestSettings(**common, max_duration_seconds=MAX_SECONDS)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(running(build_ingest(ingest)))
        await stack.enter_async_context(running(build_transcribe(TranscribeSettings(**common))))
        await stack.enter_async_context(running(build_analyze(AnalyzeSettings(**common))))
        await stack.enter_async_context(running(build_render(RenderSettings(**common))))
        yield await stack.enter_async_context(serve_gateway(settings, allowed_source_networks=ONLY_FIRST_LOOPBACK))


def ended_(job: dict[str, Any]) -> bool:
    return JobStatus(job["status"]).is_terminal


@dataclass(frozen=True)
class Case:
    name: str
    expected: str  # "completed", or the failure code


def ffmpeg(*argv: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *argv], check=True, capture_output=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Hostile media, made once: served over HTTP and uploaded."""
    root = tmp_path_factory.mktemp("hostile-pipeline")
    talk = samples.make_speech_video(root / "portrait-h264.mp4", SENTENCES, size="360x640")
    ffmpeg("-i", str(talk.path), "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8",
           "-c:a", "libopus", str(root / "portrait.webm"))  # fmt: skip
    hello = samples.speak("Hello.", root / "hello.wav")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15:duration=1", "-i", str(hello), "-c:v", "libx264",
           "-preset", "ultrafast", "-c:a", "aac", "-t", "1", str(root / "one-second.mp4"))  # fmt: skip
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15:duration=8", "-f", "lavfi", "-i",
           "anullsrc=r=44100:cl=mono", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-t", "8",
           str(root / "silence.mp4"))  # fmt: skip
    samples.make_tone_video(root / "too-long.mp4", seconds=MAX_SECONDS + 5)
    (root / "notes.mp4").write_bytes(b"meeting notes, not a video\n" * 200)
    (root / "empty.mp4").write_bytes(b"")
    return root


class _Redirect(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def internal(media: Path) -> Iterator[StaticServer]:
    """A server on 127.0.0.2 with a real video: what a hostile source points the pipeline at."""
    with StaticServer(media, host="127.0.0.2") as server:
        yield server


@pytest.fixture
def redirector(internal: StaticServer) -> Iterator[str]:
    handler = type("Handler", (_Redirect,), {"target": f"{internal.base_url}/portrait.webm"})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/watch"
    httpd.shutdown()
    httpd.server_close()


async def test_hostile_jobs_all_end_completed_or_failed_with_their_code(
    settings: Settings, store: JobStore, api_key: str, media: Path, redirector: str
) -> None:
    statuses: list[int] = []
    submitted: dict[str, tuple[Case, str]] = {}
    with StaticServer(media) as files:
        async with pipeline(settings) as gateway, httpx.AsyncClient(
            base_url=gateway, headers={"Authorization": f"Bearer {api_key}"}, timeout=120
        ) as client:

            async def by_url(case: Case, url: str) -> None:
                response = await client.post("/v1/jobs", json={"url": url, "options": OPTIONS})
                statuses.append(response.status_code)
                assert response.status_code == 202, (case, response.text)
                submitted[response.json()["id"]] = (case, url)

            async def by_upload(case: Case, name: str) -> None:
                with (media / name).open("rb") as file:
                    response = await client.post(
                        "/v1/jobs/upload", files={"file": (name, file)}, data={"options": json.dumps(OPTIONS)}
                    )
                statuses.append(response.status_code)
                assert response.status_code == 202, (case, response.text)
                submitted[response.json()["id"]] = (case, name)

            await by_url(Case("portrait VP9/Opus webm by URL", "completed"), f"{files.base_url}/portrait.webm")
            await by_upload(Case("silence", "no_speech"), "silence.mp4")
            await by_upload(Case("one second of speech", "no_highlights"), "one-second.mp4")
            await by_url(Case("longer than the limit", "media_too_long"), f"{files.base_url}/too-long.mp4")
            await by_url(Case("text served as mp4", "not_media"), f"{files.base_url}/notes.mp4")
            await by_url(Case("empty file", "not_media"), f"{files.base_url}/empty.mp4")
            await by_url(Case("redirect to an internal address", "source_address_forbidden"), redirector)

            # Refused at once by the gateway: no job at all.
            refused = {
                "metadata": await client.post("/v1/jobs", json={"url": "http://169.254.169.254/latest/"}),
                "internal": await client.post("/v1/jobs", json={"url": "http://127.0.0.2/v.mp4"}),
                "empty upload": await client.post("/v1/jobs/upload", files={"file": ("e.mp4", b"")}),
            }
            statuses += [response.status_code for response in refused.values()]
            assert {name: response.status_code for name, response in refused.items()} == {
                "metadata": 422, "internal": 422, "empty upload": 422,
            }  # fmt: skip

            ended = await asyncio.gather(*(wait_for_job(store, job_id, ended_, 300) for job_id in submitted))
            views = [await client.get(f"/v1/jobs/{job['_id']}") for job in ended]
            statuses += [view.status_code for view in views]

    outcomes = {}
    for job in ended:
        case, _ = submitted[job["_id"]]
        outcome = job["status"] if job["status"] == "completed" else (job.get("error") or {}).get("code")
        outcomes[case.name] = outcome
        running_stages = [name for name, stage in (job.get("stages") or {}).items() if stage.get("status") == "running"]
        assert running_stages == [], f"{case.name}: stages left running {running_stages}"
        if job["status"] == "failed":
            assert len(job["error"]["message"]) > 20, case.name
    assert outcomes == {case.name: case.expected for case, _ in submitted.values()}
    completed = next(job for job in ended if job["status"] == "completed")
    assert completed["media"]["video_codec"] == "vp9" and completed["media"]["height"] > completed["media"]["width"]
    assert len(completed["clips"]) == 1
    assert max(statuses) < 500
