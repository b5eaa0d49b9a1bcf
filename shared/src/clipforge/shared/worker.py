"""The one stage runner every worker uses.

A stage provides only ``handle(event, ctx) -> StageOutcome``. The runner owns the rest:

1. parse the message (unparseable → dead-letter queue with the reason, acked);
2. claim the stage on the job document (conditional on the job not being over and the stage
   not done; a redelivery of a finished stage re-publishes the stored next event);
3. run the work with throttled progress, off the event loop where it is heavy;
4. record the result and the next event on the job (conditional on the attempt), publish the
   next event persistent, mandatory and confirmed, and only then ack;
5. on a :class:`StageError` or any other exception, end the job ``failed`` with stage, code and
   message, publish ``job.failed``, and dead-letter the message with its reason.

If the database or broker itself is unreachable mid-way, the message is handed back (nack with
requeue) after a pause; the quorum queue's delivery limit dead-letters a message that can never
be handled, so nothing loops forever and nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from faststream import AckPolicy
from faststream.asgi import AsgiFastStream
from faststream.message import StreamMessage
from faststream.rabbit import Channel, RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from pymongo import AsyncMongoClient

from clipforge.shared.errors import StageError
from clipforge.shared.events import PRIORITIES, ControlCommand, Event, JobFailed, Priority
from clipforge.shared.health import health_routes
from clipforge.shared.jobs import ClaimOutcome, JobStore, connect
from clipforge.shared.media import MediaStore
from clipforge.shared.models import JobError, ProgressCallback, Stage
from clipforge.shared.observability import StageMetrics
from clipforge.shared.progress import ProgressEmitter, StageProgress
from clipforge.shared.scheduling import PriorityGate
from clipforge.shared.settings import Settings
from clipforge.shared.topology import STAGE_INPUT, Topology

log = logging.getLogger(__name__)

EventT = TypeVar("EventT", bound=Event)

INFRASTRUCTURE_RETRY_DELAY_SECONDS = 2.0
# Below RabbitMQ's default consumer timeout (30 min), after which it closes the channel.
BATCH_WAIT_LIMIT_SECONDS = 15 * 60.0


@dataclass(frozen=True)
class StageContext:
    """What stage work gets besides its event."""

    stage: Stage
    job_id: str
    tenant_id: str
    attempt: int
    job: dict[str, Any]
    media: MediaStore
    progress: ProgressCallback
    log: logging.LoggerAdapter[logging.Logger]


@dataclass(frozen=True)
class StageOutcome:
    """The result of a stage: the next event and the fields it records on the job."""

    event: Event
    record: dict[str, Any] = field(default_factory=dict)
    message: str = ""


StageHandler = Callable[[EventT, StageContext], Awaitable[StageOutcome]]


@dataclass(frozen=True)
class StageDefinition(Generic[EventT]):
    stage: Stage
    handler: StageHandler[EventT]
    prefetch: int = 1  # jobs one process works on at once
    final: bool = False
    on_startup: Callable[[], Awaitable[None]] | None = None


async def _raw_body(message: StreamMessage[Any]) -> bytes:
    """Hand the handler the bytes as they came, so the runner decides what unparseable means."""
    return bytes(message.body)


class StageWorker(Generic[EventT]):
    def __init__(self, definition: StageDefinition[EventT], settings: Settings) -> None:
        self.definition = definition
        self.stage = definition.stage
        self.event_type: type[Event] = STAGE_INPUT[self.stage]
        self.settings = settings
        self.topology = Topology(settings.topology_prefix)
        self.registry = CollectorRegistry()
        self.metrics = StageMetrics.register(self.registry)
        self.media = MediaStore(settings.media_root)
        self.mongo: AsyncMongoClient[dict[str, Any]] | None = None
        self.store: JobStore | None = None
        self.broker = RabbitBroker(
            settings.amqp_url,
            default_channel=Channel(publisher_confirms=True, on_return_raises=True),
            middlewares=[RabbitPrometheusMiddleware(registry=self.registry, app_name=f"clipforge-{self.stage}")],
            graceful_timeout=30.0,
        )
        self.emitter: ProgressEmitter | None = None
        self.gate = PriorityGate(definition.prefetch)
        self.running_jobs: dict[str, asyncio.Task[StageOutcome]] = {}
        self.cancelled_jobs: set[str] = set()
        self.subscribers = {
            priority: self.broker.subscriber(
                self.topology.stage_queue(self.stage, priority),
                self.topology.pipeline,
                # One interactive message more than there are slots waits at the gate, so a freed
                # slot goes to it rather than to a batch message already waiting there.
                channel=Channel(prefetch_count=definition.prefetch + (1 if priority == "interactive" else 0)),
                ack_policy=AckPolicy.MANUAL,
                decoder=_raw_body,
                title=f"{self.stage.value}-{priority}",
            )
            for priority in PRIORITIES
        }
        for priority, subscriber in self.subscribers.items():
            subscriber(self._make_handler(priority))
        self.broker.subscriber(self.topology.control_queue(), self.topology.control, title="control")(self._on_control)

    # --- lifecycle ----------------------------------------------------------------------

    async def start_dependencies(self) -> None:
        self.mongo = connect(self.settings.mongo_url, self.settings.database_timeout_ms)
        self.store = JobStore(
            self.mongo[self.settings.mongo_database], events_ttl_seconds=self.settings.job_events_ttl_seconds
        )
        await self.store.ensure_indexes()
        self.emitter = ProgressEmitter(self.broker, self.store, self.topology)
        await self.broker.connect()
        await self.topology.declare(self.broker)
        if self.definition.on_startup is not None:
            await self.definition.on_startup()

    async def stop_dependencies(self) -> None:
        if self.mongo is not None:
            await self.mongo.close()

    async def is_ready(self) -> dict[str, bool]:
        broker_ok = await self.broker.ping(timeout=2.0)
        database_ok = False
        if self.store is not None:
            try:
                await asyncio.wait_for(self.store.ping(), 2.0)
                database_ok = True
            except Exception:
                database_ok = False
        consuming = all(subscriber.running for subscriber in self.subscribers.values())
        return {"broker": broker_ok, "database": database_ok, "consumer": consuming}

    def build_app(self) -> AsgiFastStream:
        return AsgiFastStream(
            self.broker,
            asgi_routes=health_routes(self.registry, self.is_ready),
            on_startup=[self.start_dependencies],
            after_shutdown=[self.stop_dependencies],
        )

    # --- message handling ---------------------------------------------------------------

    def _make_handler(self, priority: Priority) -> Callable[..., Awaitable[None]]:
        async def handle_message(body: bytes, message: RabbitMessage) -> None:
            await self.process(body, message, priority)

        return handle_message

    async def _on_control(self, command: ControlCommand) -> None:
        task = self.running_jobs.get(command.job_id)
        if command.command == "cancel" and task is not None:
            log.info("cancelling job %s on request", command.job_id, extra={"job_id": command.job_id})
            self.cancelled_jobs.add(command.job_id)
            task.cancel()

    async def process(self, body: bytes, message: Any, priority: Priority = "interactive") -> None:
        try:
            event = self.event_type.model_validate_json(body)
        except ValidationError as exc:
            log.error("unparseable %s message dead-lettered: %s", self.stage, exc.errors()[:3])
            await self._dead_letter(body, message, code="unparseable_message", detail=str(exc)[:500])
            self.metrics.processed.labels(self.stage, "unparseable").inc()
            return
        try:
            wait_limit = None if priority == "interactive" else BATCH_WAIT_LIMIT_SECONDS
            await asyncio.wait_for(self.gate.acquire(priority), wait_limit)
        except TimeoutError:
            await message.nack(requeue=True)  # interactive work kept every slot busy: back in line
            return
        try:
            await self._process_event(event, body, message)
        except Exception:
            log.exception("infrastructure error while handling job %s; handing the message back", event.job_id)
            self.metrics.processed.labels(self.stage, "requeued").inc()
            await asyncio.sleep(INFRASTRUCTURE_RETRY_DELAY_SECONDS)
            await message.nack(requeue=True)
        finally:
            self.gate.release()

    async def _process_event(self, event: Event, body: bytes, message: Any) -> None:
        assert self.store is not None and self.emitter is not None
        job_log = logging.LoggerAdapter(
            log,
            {
                "job_id": event.job_id,
                "tenant_id": event.tenant_id,
                "stage": self.stage.value,
                "correlation_id": event.correlation_id,
            },
        )
        claim = await self.store.claim_stage(event.job_id, self.stage)
        if claim.outcome is ClaimOutcome.ALREADY_DONE:
            await self._republish_output(claim.job or {}, job_log)
            await message.ack()
            self.metrics.processed.labels(self.stage, "duplicate").inc()
            return
        if claim.outcome is not ClaimOutcome.CLAIMED:
            job_log.info("skipping message: %s", claim.outcome.value)
            await message.ack()
            self.metrics.processed.labels(self.stage, claim.outcome.value).inc()
            return
        assert claim.job is not None
        await self.emitter.emit(claim.job)
        job_log.info("stage started (attempt %d)", claim.attempt)

        started = time.monotonic()
        self.metrics.in_flight.labels(self.stage).inc()
        progress = StageProgress(
            self.emitter,
            job_id=event.job_id,
            stage=self.stage,
            attempt=claim.attempt,
            interval_seconds=self.settings.progress_interval_seconds,
        )
        context = StageContext(
            stage=self.stage,
            job_id=event.job_id,
            tenant_id=event.tenant_id,
            attempt=claim.attempt,
            job=claim.job,
            media=self.media,
            progress=progress,
            log=job_log,
        )
        work = asyncio.create_task(self.definition.handler(event, context))  # type: ignore[arg-type]
        self.running_jobs[event.job_id] = work
        try:
            async with progress:
                outcome = await work
        except asyncio.CancelledError:
            if event.job_id not in self.cancelled_jobs:
                raise  # the worker itself is stopping: the message goes back unacked
            self.cancelled_jobs.discard(event.job_id)
            self.media.delete_job(event.job_id)
            job_log.info("stage stopped: the job was cancelled; its media was removed")
            await message.ack()
            self.metrics.processed.labels(self.stage, "cancelled").inc()
            self.metrics.duration.labels(self.stage, "cancelled").observe(time.monotonic() - started)
            return
        except StageError as error:
            await self._fail(event, claim.attempt, error, body, message, job_log)
            self.metrics.duration.labels(self.stage, "failed").observe(time.monotonic() - started)
            return
        except Exception as exc:
            job_log.exception("stage crashed")
            error = StageError(
                "internal_error",
                f"The {self.stage.value} step hit an unexpected problem ({type(exc).__name__}). "
                "It has been logged; please try again or contact support if it persists.",
            )
            await self._fail(event, claim.attempt, error, body, message, job_log)
            self.metrics.duration.labels(self.stage, "failed").observe(time.monotonic() - started)
            return
        finally:
            self.running_jobs.pop(event.job_id, None)
            self.metrics.in_flight.labels(self.stage).dec()

        elapsed = time.monotonic() - started
        next_event = outcome.event
        job = await self.store.complete_stage(
            event.job_id,
            self.stage,
            claim.attempt,
            record=outcome.record,
            output_event={"routing_key": next_event.topic, "body": next_event.model_dump(mode="json")},
            final=self.definition.final,
            message=outcome.message or f"Finished {self.stage.value}",
            duration_seconds=elapsed,
        )
        if job is None:
            job_log.warning("job changed while the stage ran (cancelled or failed); result discarded")
            await message.ack()
            self.metrics.processed.labels(self.stage, "discarded").inc()
            return
        await self.emitter.emit(job)
        await self._publish(next_event)
        await message.ack()
        self.metrics.duration.labels(self.stage, "done").observe(elapsed)
        self.metrics.processed.labels(self.stage, "done").inc()
        job_log.info("stage done in %.1f s", elapsed)

    async def _fail(
        self,
        event: Event,
        attempt: int,
        error: StageError,
        body: bytes,
        message: Any,
        job_log: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        assert self.store is not None and self.emitter is not None
        job_log.warning("job failed: %s: %s", error.code, error.message, extra={"code": error.code})
        job_error = JobError(stage=self.stage.value, code=error.code, message=error.message)
        job = await self.store.fail_job(event.job_id, job_error, attempt=attempt)
        if job is not None:
            await self.emitter.emit(job)
            await self._publish(event.follow_up(JobFailed, error=job_error))
        self.metrics.failures.labels(self.stage, error.code).inc()
        self.metrics.processed.labels(self.stage, "failed").inc()
        await self._dead_letter(body, message, code=error.code, detail=error.message)

    async def _publish(self, event: Event) -> None:
        await self.publish_raw(event.topic, event.model_dump(mode="json"), event.event_id, event.correlation_id)

    async def publish_raw(self, routing_key: str, body: dict[str, Any], event_id: str, correlation_id: str) -> None:
        """Persistent, mandatory, confirmed: returns only once the broker has the message."""
        await self.broker.publish(
            body,
            exchange=self.topology.pipeline,
            routing_key=routing_key,
            persist=True,
            mandatory=True,
            message_id=event_id,
            correlation_id=correlation_id,
            content_type="application/json",
        )

    async def _republish_output(self, job: dict[str, Any], job_log: logging.LoggerAdapter[logging.Logger]) -> None:
        stored = job.get("stages", {}).get(self.stage.value, {}).get("output_event")
        if not stored:
            return
        body = stored["body"]
        job_log.info("redelivered message for a finished stage: re-publishing its result")
        await self.publish_raw(stored["routing_key"], body, body.get("event_id", ""), body.get("correlation_id", ""))

    async def _dead_letter(self, body: bytes, message: Any, *, code: str, detail: str) -> None:
        """Park the original message in the dead-letter queue with the reason, then ack it."""
        await self.broker.publish(
            body,
            exchange=self.topology.dead_exchange,
            persist=True,
            mandatory=True,
            headers={
                "x-clipforge-stage": self.stage.value,
                "x-clipforge-code": code,
                "x-clipforge-reason": detail[:1000],
            },
            content_type="application/json",
        )
        await message.ack()
