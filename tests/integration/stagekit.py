"""A programmable test stage and ways to run the real stage runner around it.

The work is a test double on purpose: these tests are about delivery (retries, dead letters,
liveness, shutdown), not about the work. Everything around it is real: the runner, RabbitMQ,
SecantusDB, and (``slow_stage_worker.py``) a worker process served the way services are.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
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


SLOW_WORKER = Path(__file__).with_name("slow_stage_worker.py")


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``CLIPFORGE_*`` variables that give a service process these settings."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        text = json.dumps(value) if isinstance(value, dict | list | bool) else str(value)
        env[f"CLIPFORGE_{name.upper()}"] = text
    return env


class SlowWorkerProcess:
    """``slow_stage_worker.py`` as its own process on a free port."""

    def __init__(self, settings: Settings, markers: Path, *, seconds: float, prefetch: int = 1) -> None:
        self.port = free_port()
        self.markers = markers
        markers.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **settings_env(settings),
            "CLIPFORGE_HTTP_PORT": str(self.port),
            "CLIPFORGE_LOG_JSON": "false",
            "SLOW_STAGE_SECONDS": str(seconds),
            "SLOW_STAGE_MARKERS": str(markers),
            "SLOW_STAGE_PREFETCH": str(prefetch),
        }
        self.log_path = markers / f"worker-{self.port}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(SLOW_WORKER)], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"worker exited with {self.process.returncode}: {self.log()}")
                try:
                    if (await client.get(f"{self.url}/readyz", timeout=5.0)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError(f"worker not ready within {timeout} s: {self.log()}")

    async def wait_exit(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker still running after {timeout} s")
            await asyncio.sleep(0.1)
        return self.process.returncode

    def marker(self, job_id: str, attempt: int, what: str) -> Path:
        return self.markers / f"{job_id}-{attempt}.{what}"

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a stopped process cannot die until continued
            self.process.kill()
        self.process.wait(timeout=30)
        self._log.close()


async def wait_for_path(path: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(path.exists):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout} s")
        await asyncio.sleep(0.1)
