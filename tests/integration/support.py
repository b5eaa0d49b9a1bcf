"""Helpers for integration tests: jobs, raw AMQP publishing and polling."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import uvicorn

from clipforge.api.models import Segment, Transcript, Word
from clipforge.devstack.ports import free_port
from clipforge.devstack.samples import SampleVideo
from clipforge.gateway.app import create_app
from clipforge.gateway.settings import GatewaySettings
from clipforge.shared.jobs import JobStore
from clipforge.shared.models import JobError, JobOptions, SourceRef, Stage
from clipforge.shared.progress import ProgressEmitter, progress_event_from_job
from clipforge.shared.settings import Settings
from clipforge.shared.topology import Topology


async def new_job(store: JobStore, url: str = "http://127.0.0.1:9/video.mp4", **options: Any) -> dict[str, Any]:
    return await store.create(tenant_id="default", source=SourceRef(url=url), options=JobOptions(**options))


async def publish_json(
    channel: aio_pika.abc.AbstractChannel, topology: Topology, routing_key: str, body: bytes
) -> None:
    exchange = await channel.get_exchange(topology.pipeline.name)
    await exchange.publish(
        aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, content_type="application/json"),
        routing_key=routing_key,
    )


async def get_message(
    channel: aio_pika.abc.AbstractChannel, queue_name: str, timeout: float = 20.0
) -> aio_pika.abc.AbstractIncomingMessage:
    """Take one message from a queue (polling), acking it."""
    queue = await channel.get_queue(queue_name, ensure=False)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        message = await queue.get(fail=False, no_ack=True)
        if message is not None:
            return message
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"no message on {queue_name} within {timeout} s")
        await asyncio.sleep(0.1)


def body_of(message: aio_pika.abc.AbstractIncomingMessage) -> dict[str, Any]:
    return json.loads(message.body)  # type: ignore[no-any-return]


async def wait_for_job(
    store: JobStore, job_id: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 60.0
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        job = await store.get(job_id)
        if job is not None and predicate(job):
            return job
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"job {job_id} did not reach the expected state; last: {job}")
        await asyncio.sleep(0.1)


async def queue_depth(channel: aio_pika.abc.AbstractChannel, queue_name: str) -> int:
    queue = await channel.declare_queue(queue_name, passive=True)
    return int(queue.declaration_result.message_count or 0)


@asynccontextmanager
async def serve_gateway(settings: Settings, **overrides: Any) -> AsyncIterator[str]:
    """A gateway served by uvicorn on a free loopback port, in this event loop; yields its URL."""
    port = free_port()
    gateway_settings = GatewaySettings(**{**settings.model_dump(), "http_port": port, **overrides})
    async with serve_asgi(create_app(gateway_settings), port) as url:
        yield url


@asynccontextmanager
async def serve_asgi(app: Any, port: int | None = None) -> AsyncIterator[str]:
    """Any ASGI app served by uvicorn on loopback, in this event loop; yields its base URL."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Driver:
    """Moves a job through its stages like the workers, emitting every change."""

    store: JobStore
    emitter: ProgressEmitter
    attempts: dict[tuple[str, Stage], int] = field(default_factory=dict)

    async def claim(self, job_id: str, stage: Stage) -> int:
        claim = await self.store.claim_stage(job_id, stage)
        assert claim.job is not None
        self.attempts[(job_id, stage)] = claim.attempt
        await self.emitter.emit(claim.job)
        return int(claim.job["seq"])

    async def progress(
        self, job_id: str, stage: Stage, fraction: float, message: str = "", *, eta: float | None = None
    ) -> int:
        job = await self.store.record_progress(
            job_id, stage, self.attempts[(job_id, stage)], stage_fraction=fraction, message=message or f"{fraction}"
        )
        assert job is not None
        await self.emitter.emit(job, eta_seconds=eta)
        return int(job["seq"])

    async def complete(
        self, job_id: str, stage: Stage, *, final: bool = False, record: dict[str, Any] | None = None
    ) -> int:
        job = await self.store.complete_stage(
            job_id,
            stage,
            self.attempts[(job_id, stage)],
            record=record or {},
            output_event={},
            final=final,
            message=f"{stage.value} done",
            duration_seconds=0.1,
        )
        assert job is not None
        await self.emitter.emit(job)
        return int(job["seq"])

    async def fail(self, job_id: str, *, emit: bool = True) -> int:
        job = await self.store.fail_job(job_id, JobError(stage="ingest", code="no_audio_stream", message="No sound"))
        assert job is not None
        if emit:
            await self.emitter.emit(job)
        return int(job["seq"])

    async def log_only(self, job: dict[str, Any]) -> None:
        """Record an event without fanning it out: a transient message lost on the way."""
        event = progress_event_from_job(job)
        await self.store.append_event(job["_id"], event.seq, event.model_dump(mode="json"))


class TcpProxy:
    """A loopback TCP proxy in front of a server, to cut connections mid-stream (``cut``) or
    refuse WebSocket upgrades (``refuse_websockets``) the way a broken network or proxy would."""

    def __init__(self, target_port: int, *, refuse_websockets: bool = False) -> None:
        self.target_port = target_port
        self.refuse_websockets = refuse_websockets
        self.connections = 0
        self.websocket_attempts = 0
        self._open: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self._down = False

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def cut(self) -> None:
        """Drop every open connection at once, without a close handshake."""
        for writer in self._open:
            writer.transport.abort()
        self._open.clear()

    def take_down(self) -> None:
        """The server is gone: open connections drop and new ones are reset until the proxy closes."""
        self._down = True
        self.cut()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self._down:
            writer.transport.abort()
            return
        first = await reader.read(65536)
        if b"upgrade: websocket" in first.lower():
            self.websocket_attempts += 1
            if self.refuse_websockets:
                writer.transport.abort()
                return
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._open += [writer, upstream_writer]
        upstream_writer.write(first)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


async def until(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{what} not met within {timeout} s")
        await asyncio.sleep(0.02)


def store_results(settings: Settings, job_id: str, video: SampleVideo) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write a transcript and one clip (mp4, thumbnail, captions) into the media store as the
    stages do; returns the transcribe and render records for the job document."""
    root = Path(settings.media_root)
    clips = root / "jobs" / job_id / "clips"
    clips.mkdir(parents=True)
    shutil.copyfile(video.path, clips / "clip-01.mp4")
    thumbnail = ["ffmpeg", "-v", "error", "-y", "-ss", "1", "-i", str(video.path), "-frames:v", "1"]
    subprocess.run([*thumbnail, str(clips / "clip-01.jpg")], check=True)
    (clips / "clip-01.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nWelcome\n")
    (clips / "clip-01.vtt").write_text("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nWelcome\n")
    transcript = Transcript(
        language="en",
        duration_seconds=video.duration_seconds,
        segments=[Segment(start=0.0, end=1.0, text="Welcome.", words=[Word(start=0.0, end=0.8, text="Welcome.")])],
    )
    (root / "jobs" / job_id / "transcript.json").write_text(transcript.model_dump_json())
    key = f"jobs/{job_id}/clips/clip-01"
    clip = {
        "index": 1,
        "start": 0.0,
        "end": video.duration_seconds,
        "duration_seconds": video.duration_seconds,
        "score": 80.0,
        "reason": "a complete thought",
        "text": "Welcome.",
        "title": "Welcome",
        "media_key": f"{key}.mp4",
        "thumbnail_key": f"{key}.jpg",
        "srt_key": f"{key}.srt",
        "vtt_key": f"{key}.vtt",
        "size_bytes": video.path.stat().st_size,
        "width": 320,
        "height": 240,
    }
    summary = {"key": f"jobs/{job_id}/transcript.json", "language": "en", "duration_seconds": 1.0}
    summary |= {"segment_count": 1, "word_count": 1, "preview": "Welcome."}
    return {"transcript": summary}, {"clips": [clip]}


async def run_stages(
    driver: Driver, job_id: str, records: dict[Stage, dict[str, Any]] | None = None, steps: int = 2
) -> None:
    records = records or {}
    for stage in Stage:
        await driver.claim(job_id, stage)
        for step in range(1, steps + 1):
            await driver.progress(job_id, stage, step / (steps + 1), f"{stage.value} {step}", eta=3.0)
        await driver.complete(job_id, stage, final=stage is Stage.RENDER, record=records.get(stage))
