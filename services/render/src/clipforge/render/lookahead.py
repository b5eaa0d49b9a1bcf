"""The render service's second consumer: on media.ready, the look ahead at the job's source.

It runs while transcription and analysis do, when the render workers would otherwise wait. It
publishes nothing and records nothing on the job: it only writes the job's ``look/`` files (see
:mod:`clipforge.render.prelook`), skips parts already written (a redelivery costs a stat), and
acks in every case but the worker stopping (then the message goes back and is looked at again).
It stops part-way when the job is cancelled (the control fanout), ends, or reaches the render
stage, whose own look then takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from typing import Any

from faststream import AckPolicy
from faststream.message import StreamMessage
from faststream.rabbit import Channel
from faststream.rabbit.annotations import RabbitMessage
from pydantic import ValidationError

from clipforge.render.config import RenderConfig
from clipforge.render.prelook import look_dir, prepare_look
from clipforge.shared.events import ControlCommand, MediaReady
from clipforge.shared.jobs import JobStore
from clipforge.shared.models import JobStatus
from clipforge.shared.worker import StageWorker

log = logging.getLogger(__name__)

# How often a running look asks the job store whether the job is still waiting for it.
_JOB_CHECK_SECONDS = 2.0
# Past these, the look is of no use to the job any more.
_OVER = frozenset({JobStatus.RENDERING.value, *(status.value for status in JobStatus if status.is_terminal)})


async def _raw_body(message: StreamMessage[Any]) -> bytes:
    return bytes(message.body)


class LookAhead:
    def __init__(self, worker: StageWorker[Any], config: RenderConfig, max_face_seconds: float) -> None:
        self.worker = worker
        self.config = config
        self.max_face_seconds = max_face_seconds
        self.stops: dict[str, asyncio.Event] = {}
        self.completed = 0  # looks finished, for tests and metrics
        topology = worker.topology
        worker.broker.subscriber(
            topology.render_look_queue,
            topology.pipeline,
            channel=Channel(prefetch_count=1),
            ack_policy=AckPolicy.MANUAL,
            decoder=_raw_body,
            title="render-look",
        )(self.on_media_ready)
        worker.broker.subscriber(topology.control_queue(), topology.control, title="render-look-control")(
            self.on_control
        )

    async def on_control(self, command: ControlCommand) -> None:
        stop = self.stops.get(command.job_id)
        if command.command == "cancel" and stop is not None:
            log.info("stopping the look ahead of cancelled job %s", command.job_id, extra={"job_id": command.job_id})
            stop.set()

    async def on_media_ready(self, body: bytes, message: RabbitMessage) -> None:
        try:
            event = MediaReady.model_validate_json(body)
        except ValidationError:
            # Transcribe gets the same message and dead-letters it with the reason.
            await message.ack()
            return
        stop = self.stops.setdefault(event.job_id, asyncio.Event())
        watcher = asyncio.create_task(self._watch_job(event.job_id, stop))
        started = time.monotonic()
        try:
            outcome = await self._look(event, stop)
        except Exception:
            log.warning("look ahead of job %s failed; its clips will look for themselves", event.job_id, exc_info=True)
            outcome = {"error": "failed"}
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            self.stops.pop(event.job_id, None)
        if stop.is_set():
            # Cancelled or over: nothing may be left behind in a folder being removed.
            shutil.rmtree(look_dir(self.worker.media.job_dir(event.job_id)), ignore_errors=True)
        log.info(
            "look ahead of job %s in %.1f s: %s",
            event.job_id,
            time.monotonic() - started,
            outcome,
            extra={"job_id": event.job_id},
        )
        self.completed += 1
        await message.ack()

    async def _look(self, event: MediaReady, stop: asyncio.Event) -> dict[str, str]:
        if await self._job_over(event.job_id):
            return {"skipped": "job over or rendering"}
        media = self.worker.media
        return await prepare_look(
            media.path(event.video_key),
            media.job_dir(event.job_id),
            event.options,
            event.media,
            self.config,
            self.max_face_seconds,
            should_stop=stop.is_set,
        )

    async def _job_over(self, job_id: str) -> bool:
        store: JobStore | None = self.worker.store
        assert store is not None
        job = await store.get(job_id)
        return job is None or job.get("status") in _OVER

    async def _watch_job(self, job_id: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(_JOB_CHECK_SECONDS)
            try:
                if await self._job_over(job_id):
                    stop.set()
            except Exception:  # the store being away is no reason to stop looking
                log.debug("job check of %s failed", job_id, exc_info=True)
