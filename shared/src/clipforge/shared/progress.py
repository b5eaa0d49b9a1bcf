"""Live progress: one event per visible change of a job, numbered, logged, fanned out.

``ProgressEmitter`` turns a job document just written (whose ``seq`` was incremented by that
write) into a :class:`JobProgress` event, appends it to ``job_events`` (so a client that
reconnects can replay what it missed) and publishes it, transient, on the progress exchange.

``StageProgress`` is what stage work calls: a cheap, thread-safe callback that only remembers
the latest value, plus a task that writes and emits at most every ``interval`` seconds, so a
chatty ffmpeg or whisper never floods the database or the sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from faststream.rabbit import RabbitBroker

from clipforge.shared.events import JobProgress
from clipforge.shared.jobs import JobStore
from clipforge.shared.models import JobStatus, Stage
from clipforge.shared.topology import Topology

log = logging.getLogger(__name__)


def progress_event_from_job(job: dict[str, Any], *, eta_seconds: float | None = None) -> JobProgress:
    stage = job.get("stage") or job["status"]
    stage_state = job.get("stages", {}).get(stage, {})
    status = JobStatus(job["status"])
    return JobProgress(
        job_id=job["_id"],
        tenant_id=job["tenant_id"],
        correlation_id=job["_id"],
        seq=job["seq"],
        status=status,
        stage=stage,
        percent=float(job.get("progress", 0.0)),
        stage_percent=100.0 if status.is_terminal else float(stage_state.get("progress", 0.0)),
        message=job.get("message") or "",
        eta_seconds=eta_seconds,
    )


class ProgressEmitter:
    def __init__(self, broker: RabbitBroker, store: JobStore, topology: Topology) -> None:
        self.broker = broker
        self.store = store
        self.topology = topology

    async def emit(self, job: dict[str, Any], *, eta_seconds: float | None = None) -> JobProgress:
        event = progress_event_from_job(job, eta_seconds=eta_seconds)
        payload = event.model_dump(mode="json")
        await self.store.append_event(event.job_id, event.seq, payload)
        try:
            await self.broker.publish(
                payload,
                exchange=self.topology.progress,
                routing_key=event.routing_key,
                mandatory=False,  # no gateway listening is fine: job_events keeps the history
                persist=False,
                message_id=event.event_id,
                correlation_id=event.correlation_id,
            )
        except Exception:
            # Live fan-out is best effort; the job document and job_events are the record.
            log.warning("could not publish progress for job %s", event.job_id, exc_info=True)
        return event


class StageProgress:
    """Collects progress from stage work (any thread) and emits it, throttled."""

    def __init__(
        self,
        emitter: ProgressEmitter,
        *,
        job_id: str,
        stage: Stage,
        attempt: int,
        interval_seconds: float,
    ) -> None:
        self.emitter = emitter
        self.job_id = job_id
        self.stage = stage
        self.attempt = attempt
        self.interval_seconds = interval_seconds
        self._latest: tuple[float, str] | None = None
        self._started = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def __call__(self, fraction: float, message: str) -> None:
        self._latest = (fraction, message)  # a single assignment: safe from any thread

    def eta_seconds(self, fraction: float) -> float | None:
        if fraction <= 0.02 or fraction >= 1.0:
            return None
        elapsed = time.monotonic() - self._started
        return round(elapsed * (1.0 - fraction) / fraction, 1)

    async def flush(self) -> None:
        latest, self._latest = self._latest, None
        if latest is None:
            return
        fraction, message = latest
        job = await self.emitter.store.record_progress(
            self.job_id, self.stage, self.attempt, stage_fraction=fraction, message=message
        )
        if job is not None:
            await self.emitter.emit(job, eta_seconds=self.eta_seconds(fraction))

    async def _run(self) -> None:
        # The flag, not only the cancel, ends the loop: a library awaited in flush() may swallow
        # the CancelledError (seen under load), and the stage would then wait for this task forever.
        while not self._closing:
            await asyncio.sleep(self.interval_seconds)
            try:
                await self.flush()
            except Exception:
                log.warning("progress update for job %s failed", self.job_id, exc_info=True)

    async def __aenter__(self) -> StageProgress:
        self._task = asyncio.create_task(self._run(), name=f"progress-{self.job_id}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if exc_info[0] is None:
            # The last word of finished work (its 100 %) is recorded, not left to the timer's luck.
            try:
                await self.flush()
            except Exception:
                log.warning("progress update for job %s failed", self.job_id, exc_info=True)
