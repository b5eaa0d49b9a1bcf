"""A programmable test stage and ways to run the real stage runner around it.

The work is a test double on purpose: these tests are about delivery (retries, dead letters,
liveness, shutdown), not about the work. Everything around it is real: the runner, RabbitMQ,
SecantusDB, and (``slow_stage_worker.py``) a worker process served the way services are.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from clipforge.devstack.ports import free_port
from clipforge.shared.events import JobRequested, MediaReady
from clipforge.shared.models import JobOptions, MediaInfo, SourceRef, Stage
from clipforge.shared.settings import Settings
from clipforge.shared.worker import StageContext, StageDefinition, StageOutcome, StageWorker

MEDIA = MediaInfo(duration_seconds=10, size_bytes=1000, container="mp4", has_audio=True, has_video=True)
Behaviour = Callable[[JobRequested, StageContext, int], Awaitable[StageOutcome]]


def media_ready(event: JobRequested, ctx: StageContext) -> StageOutcome:
    return StageOutcome(
        event=event.follow_up(
            MediaReady,
            options=event.options,
            media=MEDIA,
            video_key=ctx.media.key(ctx.job_id, "source.mp4"),
            audio_key=ctx.media.key(ctx.job_id, "audio.wav"),
        ),
        record={"media": MEDIA.model_dump()},
    )


async def succeed(event: JobRequested, ctx: StageContext, call: int) -> StageOutcome:
    return media_ready(event, ctx)


class ProgrammableStage:
    """An ingest stage whose n-th call does what the test says; records when each call started."""

    def __init__(self, behaviour: Behaviour = succeed) -> None:
        self.behaviour = behaviour
        self.started: list[float] = []

    @property
    def calls(self) -> int:
        return len(self.started)

    async def __call__(self, event: JobRequested, ctx: StageContext) -> StageOutcome:
        self.started.append(time.monotonic())
        return await self.behaviour(event, ctx, len(self.started))


def requested(job: dict[str, Any]) -> JobRequested:
    return JobRequested(
        job_id=job["_id"],
        tenant_id=job["tenant_id"],
        correlation_id="corr-1",
        source=SourceRef(url=job["source"]["url"]),
        options=JobOptions(),
        priority=job.get("priority", "interactive"),
    )


@asynccontextmanager
async def running_worker(settings: Settings, stage: ProgrammableStage, prefetch: int = 2) -> AsyncIterator[StageWorker]:
    """The stage runner around ``stage``, consuming (its watchdog too), in this event loop."""
    worker: StageWorker[JobRequested] = StageWorker(StageDefinition(Stage.INGEST, stage, prefetch=prefetch), settings)
    await worker.start_dependencies()
    await worker.broker.start()
    await worker.start_watchdog()
    try:
        yield worker
    finally:
        await worker.broker.stop()
        await worker.stop_dependencies()


@asynccontextmanager
async def served_worker(worker: StageWorker) -> AsyncIterator[str]:
    """A worker's whole app (consumers, /readyz, lifespan hooks) under uvicorn on a free port; yields its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(worker.build_app(), host="127.0.0.1", port=port, log_level="warning"))
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
