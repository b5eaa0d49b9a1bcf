"""Priority classes and cancellation through the real runner, broker and database."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
import pytest_asyncio
from support import new_job, publish_json, queue_depth, wait_for_job

from clipforge.ingest.service import IngestSettings
from clipforge.ingest.service import build_worker as build_ingest
from clipforge.shared.events import JobRequested, MediaReady, Priority
from clipforge.shared.jobs import JobStore
from clipforge.shared.models import JobOptions, MediaInfo, SourceRef, Stage
from clipforge.shared.settings import Settings
from clipforge.shared.worker import StageContext, StageDefinition, StageOutcome, StageWorker

pytestmark = pytest.mark.integration

MEDIA = MediaInfo(duration_seconds=1, size_bytes=1, container="mp4", has_audio=True, has_video=True)


async def test_interactive_jobs_run_before_waiting_batch_jobs(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel
) -> None:
    order: list[str] = []
    first_started = asyncio.Event()
    release_first = asyncio.Event()

    async def handle(event: JobRequested, ctx: StageContext) -> StageOutcome:
        order.append(event.source.url or "")
        if len(order) == 1:
            first_started.set()
            await release_first.wait()
        await asyncio.sleep(0.2)
        return StageOutcome(
            event=event.follow_up(MediaReady, options=event.options, media=MEDIA, video_key="v", audio_key="a")
        )

    worker = StageWorker(StageDefinition(Stage.INGEST, handle, prefetch=1), settings)
    await worker.start_dependencies()
    await worker.broker.start()
    try:

        async def submit(name: str, priority: Priority) -> str:
            job = await new_job(store, url=name)
            event = JobRequested(
                job_id=job["_id"],
                tenant_id="default",
                correlation_id="c",
                source=SourceRef(url=name),
                options=JobOptions(),
                priority=priority,
            )
            await publish_json(amqp, worker.topology, event.topic, event.model_dump_json().encode())
            return str(job["_id"])

        await submit("http://i0/", "interactive")
        await asyncio.wait_for(first_started.wait(), 20)
        ids = [await submit(f"http://b{n}/", "batch") for n in (1, 2, 3)]
        await asyncio.sleep(0.3)  # the batch messages are delivered and waiting before any interactive one
        ids += [await submit(f"http://i{n}/", "interactive") for n in (1, 2, 3)]
        await asyncio.sleep(0.3)
        release_first.set()
        for job_id in ids:
            await wait_for_job(store, job_id, lambda j: j["stages"]["ingest"]["status"] == "done", timeout=30)
    finally:
        await worker.broker.stop()
        await worker.stop_dependencies()
    assert order == [f"http://{name}/" for name in ("i0", "i1", "i2", "i3", "b1", "b2", "b3")]


class _DripHandler(BaseHTTPRequestHandler):
    """Announces a large mp4 and sends it one byte every 50 ms: a download that never ends."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(50_000_000))
        self.end_headers()
        try:
            for _ in range(100_000):
                self.wfile.write(b"\0")
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def drip_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DripHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest_asyncio.fixture
async def ingest_worker(settings: Settings) -> AsyncIterator[StageWorker[JobRequested]]:
    worker = build_ingest(IngestSettings(**settings.model_dump()))
    await worker.start_dependencies()
    await worker.broker.start()
    try:
        yield worker
    finally:
        await worker.broker.stop()
        await worker.stop_dependencies()


def _processes_mentioning(token: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", token], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


async def test_cancel_kills_the_running_download_and_cleans_up(
    gateway: str,
    api_key: str,
    ingest_worker: StageWorker[JobRequested],
    store: JobStore,
    amqp: aio_pika.abc.AbstractChannel,
    settings: Settings,
    drip_server: str,
) -> None:
    token = uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=gateway, headers={"Authorization": f"Bearer {api_key}"}) as client:
        created = await client.post("/v1/jobs", json={"url": f"{drip_server}/{token}.mp4"})
        job_id = created.json()["id"]
        await wait_for_job(store, job_id, lambda j: j["status"] == "ingesting", timeout=20)
        deadline = time.monotonic() + 20
        while not await asyncio.to_thread(_processes_mentioning, token):
            assert time.monotonic() < deadline, "yt-dlp never started"
            await asyncio.sleep(0.1)
        assert (Path(settings.media_root) / "jobs" / job_id).exists()

        cancelled = await client.post(f"/v1/jobs/{job_id}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

        deadline = time.monotonic() + 10
        while await asyncio.to_thread(_processes_mentioning, token):
            assert time.monotonic() < deadline, "the download kept running after cancel"
            await asyncio.sleep(0.1)
        while (Path(settings.media_root) / "jobs" / job_id).exists():
            assert time.monotonic() < deadline, "the job's media was not cleaned up"
            await asyncio.sleep(0.1)
    job = await store.get(job_id)
    assert job is not None and job["status"] == "cancelled"
    await asyncio.sleep(0.3)
    assert await queue_depth(amqp, f"{settings.topology_prefix}.ingest") == 0
    assert ingest_worker.running_jobs == {}
