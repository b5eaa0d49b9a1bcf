"""Nothing stuck: every worker process looks for jobs that stopped moving and moves them.

Three cases, each found by a query and acted on through a compare-and-set on the job document,
so when every worker's watchdog sees the same job only one acts and doing it twice is harmless:

- **stalled**: a stage runs but has not beaten (``heartbeat.py``) for
  ``CLIPFORGE_HEARTBEAT_TIMEOUT_SECONDS`` and its queue holds nothing: its worker froze, lost
  the database, or its message was dead-lettered by the broker after crash loops (a worker that
  died gives its message back to the queue, where the next claim takes over). The stage's
  stored input event is sent again (the new attempt's claim makes the old one's writes
  no-ops), or, once it has had
  ``CLIPFORGE_STAGE_MAX_ATTEMPTS`` attempts, the job fails with ``stage_stalled``.
- **lost retry**: a stage waits for a retry that was due a heartbeat timeout ago, and its queue
  holds nothing (so the delayed message is not merely waiting behind others).
- **idle**: no stage runs or waits, nothing changed for ``CLIPFORGE_QUEUED_TIMEOUT_SECONDS``,
  and the next stage's queue is empty (a ``job.requested`` that never reached its queue).

Re-sent events are the ones the stages would have sent, so duplicates are absorbed by the
stage claims like any redelivery.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from faststream.rabbit import RabbitBroker
from prometheus_client import CollectorRegistry, Counter

from clipforge.shared.events import JobFailed, JobRequested, new_event_id
from clipforge.shared.failures import attempts_text
from clipforge.shared.jobs import JobStore, utc_now
from clipforge.shared.models import JobError, JobOptions, SourceRef, Stage, StageStatus
from clipforge.shared.progress import ProgressEmitter
from clipforge.shared.settings import Settings
from clipforge.shared.topology import Topology, queue_depth

log = logging.getLogger(__name__)

Document = dict[str, Any]
Publish = Callable[[str, Document, str, str], Awaitable[None]]
DeadLetter = Callable[[bytes, str, str, dict[str, Any]], Awaitable[None]]


def stage_input_event(job: Document, stage: Stage) -> Document | None:
    """``{"routing_key", "body"}`` of the event that starts ``stage`` of ``job``, or None if unknown.

    The one stored at the stage's last claim; else rebuilt for ingest from the job, or the stored
    output of the stage before.
    """
    stages = job.get("stages", {})
    stored = stages.get(stage.value, {}).get("input_event")
    if stored:
        return dict(stored)
    priority = job.get("priority", "interactive")
    if stage is Stage.INGEST:
        event = JobRequested(
            job_id=job["_id"],
            tenant_id=job["tenant_id"],
            correlation_id=new_event_id(),
            source=SourceRef.model_validate(job["source"]),
            options=JobOptions.model_validate(job["options"]),
            priority=priority,
        )
        return {"routing_key": event.topic, "body": event.model_dump(mode="json")}
    previous = list(Stage)[list(Stage).index(stage) - 1]
    output = stages.get(previous.value, {}).get("output_event")
    return dict(output) if output else None


def next_stage(job: Document) -> Stage | None:
    """The first stage of ``job`` that is not done."""
    for stage in Stage:
        if job.get("stages", {}).get(stage.value, {}).get("status") != StageStatus.DONE.value:
            return stage
    return None


@dataclass
class SweepReport:
    retried: int = 0
    failed: int = 0
    resent: int = 0


class Watchdog:
    def __init__(
        self,
        store: JobStore,
        emitter: ProgressEmitter,
        broker: RabbitBroker,
        topology: Topology,
        settings: Settings,
        *,
        publish: Publish,
        dead_letter: DeadLetter,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.store = store
        self.emitter = emitter
        self.broker = broker
        self.topology = topology
        self.settings = settings
        self.publish = publish
        self.dead_letter = dead_letter
        self.actions = Counter(
            "clipforge_watchdog_actions_total",
            "Jobs this process's watchdog moved: stalled stages retried or failed, lost events sent again.",
            ["action"],
            registry=registry,
        )

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.watchdog_interval_seconds)
            try:
                await self.sweep()
            except Exception:
                log.warning("watchdog sweep failed; trying again next round", exc_info=True)

    async def sweep(self) -> SweepReport:
        report = SweepReport()
        now = utc_now()
        stalled_before = now - timedelta(seconds=self.settings.heartbeat_timeout_seconds)
        for stage in Stage:
            for job in await self.store.stalled_stages(stage, beaten_before=stalled_before):
                await self._stalled(job, stage, report)
            for job in await self.store.overdue_retries(stage, due_before=stalled_before):
                await self._lost_retry(job, stage, report)
        idle_before = now - timedelta(seconds=self.settings.queued_timeout_seconds)
        for job in await self.store.idle_jobs(updated_before=idle_before):
            await self._idle(job, report)
        return report

    def _count(self, report: SweepReport, action: str) -> None:
        setattr(report, action, getattr(report, action) + 1)
        self.actions.labels(action).inc()

    async def _stalled(self, job: Document, stage: Stage, report: SweepReport) -> None:
        state = job["stages"][stage.value]
        attempt, tries = int(state["attempt"]), int(state.get("tries", state["attempt"]))
        job_log = _job_log(job, stage)
        event = stage_input_event(job, stage)
        if await self._queue_has_work(job, stage):
            # A worker that died hands its message back to the queue by itself; sending another
            # copy would have two workers write the same files once one is free.
            return
        if tries >= self.settings.stage_max_attempts or event is None:
            reason = (
                f"We gave up after {attempts_text(tries)}: the {stage.value} step stopped responding each time "
                "(its worker was lost or stuck)."
                if event is not None
                else f"The {stage.value} step stopped responding and its input is no longer known."
            )
            error = JobError(stage=stage.value, code="stage_stalled", message=reason)
            failed = await self.store.fail_job(job["_id"], error, attempt=attempt)
            if failed is None:
                return
            job_log.warning("watchdog failed the job: %s", reason, extra={"code": error.code})
            await self.emitter.emit(failed)
            await self._publish_failure(job, error, event)
            self._count(report, "failed")
            return
        error = JobError(
            stage=stage.value,
            code="stage_stalled",
            message=f"The worker running attempt {attempt} stopped responding.",
        )
        taken = await self.store.take_over_stalled(
            job["_id"],
            stage,
            attempt,
            seen_heartbeat=state["heartbeat_at"],
            error=error,
            message=f"The {stage.value} step stopped responding; handing it to another worker",
        )
        if taken is None:
            return  # another watchdog (or the worker itself) got there first
        job_log.warning("stage %s attempt %d stopped beating; sending its input again", stage.value, attempt)
        await self.emitter.emit(taken)
        self._count(report, "retried")
        await self._resend(event)

    async def _lost_retry(self, job: Document, stage: Stage, report: SweepReport) -> None:
        event = stage_input_event(job, stage)
        if event is None or await self._queue_has_work(job, stage):
            return
        if not await self.store.renew_overdue_retry(
            job["_id"], stage, seen_due=job["stages"][stage.value]["next_retry_at"]
        ):
            return
        _job_log(job, stage).warning("retry of %s is long overdue; sending its input again", stage.value)
        self._count(report, "resent")
        await self._resend(event)

    async def _idle(self, job: Document, report: SweepReport) -> None:
        stage = next_stage(job)
        if stage is None:
            return
        event = stage_input_event(job, stage)
        if event is None or await self._queue_has_work(job, stage):
            return
        if not await self.store.touch_idle(job["_id"], seen_updated=job["updated_at"]):
            return
        _job_log(job, stage).warning("job has waited for %s with nothing queued; sending its input again", stage.value)
        self._count(report, "resent")
        await self._resend(event)

    async def _queue_has_work(self, job: Document, stage: Stage) -> bool:
        """Messages ready in the stage's queue: the job's own may be among them, behind the others."""
        ready, _consumers = await queue_depth(
            self.broker, self.topology.stage_queue(stage, job.get("priority", "interactive"))
        )
        return ready > 0

    async def _resend(self, event: Document) -> None:
        body = event["body"]
        await self.publish(event["routing_key"], body, body.get("event_id", ""), body.get("correlation_id", ""))

    async def _publish_failure(self, job: Document, error: JobError, event: Document | None) -> None:
        correlation = (event or {}).get("body", {}).get("correlation_id") or job["_id"]
        failure = JobFailed(
            job_id=job["_id"],
            tenant_id=job["tenant_id"],
            correlation_id=correlation,
            priority=job.get("priority", "interactive"),
            error=error,
        )
        await self.publish(failure.topic, failure.model_dump(mode="json"), failure.event_id, correlation)
        if event is not None:
            # Parked like any message whose retries ran out, so an operator can send it back.
            headers = {"x-clipforge-routing-key": event["routing_key"], "x-clipforge-job-id": job["_id"]}
            await self.dead_letter(json.dumps(event["body"]).encode(), error.code, error.message, headers)


def _job_log(job: Document, stage: Stage) -> logging.LoggerAdapter[logging.Logger]:
    return logging.LoggerAdapter(log, {"job_id": job["_id"], "tenant_id": job.get("tenant_id"), "stage": stage.value})
