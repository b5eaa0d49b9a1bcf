"""The one stage runner every worker uses.

A stage provides only ``handle(event, ctx) -> StageOutcome``. The runner owns the rest:

1. parse the message (unparseable → dead-letter queue with the reason, acked);
2. claim the stage on the job document (conditional on the job not being over and the stage
   not done; a redelivery of a finished stage re-publishes the stored next event);
3. run the work with throttled progress, off the event loop where it is heavy;
4. record the result and the next event on the job (conditional on the attempt), publish the
   next event persistent, mandatory and confirmed, and only then ack;
5. on an error, classify it (``failures.py``): one that may pass (``StageError(retryable=True)``,
   database or broker unreachable, media store full or failing, a program killed from outside,
   a time-out) marks the stage ``retrying`` and republishes the message to a delay queue whose
   TTL grows with the attempt (``topology.py``), then acks; any other, or the last allowed
   attempt (``CLIPFORGE_STAGE_MAX_ATTEMPTS``), ends the job ``failed`` with stage, code and
   message, publishes ``job.failed``, and dead-letters the message with its reason.

While work runs, the stage beats on the job document (``heartbeat.py``) and every worker's
watchdog (``watchdog.py``) takes over stages that stopped beating. If the database or broker is
unreachable outside the stage's work, the message goes to the delay queue too (counted in a
header, since the job cannot be read); only when even that publish fails is it handed back
(nack with requeue) after a pause. On shutdown the worker stops taking messages, gives work in
flight ``CLIPFORGE_SHUTDOWN_GRACE_SECONDS`` to finish, and hands back what is left unacked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
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

from clipforge.shared.consumers import consumes, routing_key_of, stop_consuming
from clipforge.shared.errors import StageError
from clipforge.shared.events import PRIORITIES, ControlCommand, Event, JobFailed, Priority
from clipforge.shared.failures import classify, gave_up
from clipforge.shared.health import health_routes
from clipforge.shared.heartbeat import Heartbeat
from clipforge.shared.jobs import Claim, ClaimOutcome, JobStore, connect, utc_now
from clipforge.shared.media import MediaStore
from clipforge.shared.models import JobError, ProgressCallback, Stage
from clipforge.shared.observability import StageMetrics
from clipforge.shared.progress import ProgressEmitter, StageProgress
from clipforge.shared.scheduling import PriorityGate
from clipforge.shared.settings import Settings
from clipforge.shared.topology import RETRY_DELAY_HEADER, STAGE_INPUT, Topology
from clipforge.shared.watchdog import Watchdog

log = logging.getLogger(__name__)

EventT = TypeVar("EventT", bound=Event)

# Pause before handing a message back when not even the delay queue can be reached.
INFRASTRUCTURE_RETRY_DELAY_SECONDS = 2.0
# Counts retries of a message made without the database (which holds the real count).
RETRIES_HEADER = "x-clipforge-retries"
# Such retries wait at most this long, so the end of an outage is noticed soon.
INFRASTRUCTURE_MAX_DELAY_SECONDS = 30.0
# Headers the broker adds on dead-lettering and redelivery; not carried into a republished copy.
BROKER_HEADER_PREFIXES = ("x-death", "x-first-death", "x-last-death", "x-delivery-count")
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
            # Our own drain (``drain``) waits the grace period; this only bounds the broker's wait after it.
            graceful_timeout=settings.shutdown_grace_seconds + 5.0,
        )
        self.emitter: ProgressEmitter | None = None
        self.watchdog: Watchdog | None = None
        self._watchdog_task: asyncio.Task[None] | None = None
        self.gate = PriorityGate(definition.prefetch)
        self.running_jobs: dict[str, asyncio.Task[StageOutcome]] = {}
        self.cancelled_jobs: set[str] = set()
        self.handed_back_jobs: set[str] = set()
        self.stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[Any]] = set()
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
        self.watchdog = Watchdog(
            self.store,
            self.emitter,
            self.broker,
            self.topology,
            self.settings,
            publish=self.publish_raw,
            dead_letter=self._park,
            registry=self.registry,
        )

    async def start_watchdog(self) -> None:
        """After the broker started (its queue look-ups must not precede the subscribers' declarations)."""
        if self.watchdog is not None and self._watchdog_task is None:
            self._watchdog_task = asyncio.create_task(self.watchdog.run(), name=f"watchdog-{self.stage.value}")

    async def stop_dependencies(self) -> None:
        if self._watchdog_task is not None:
            self._watchdog_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog_task
            self._watchdog_task = None
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
        consuming = not self.stopping.is_set() and all(consumes(s) for s in self.subscribers.values())
        return {"broker": broker_ok, "database": database_ok, "consumer": consuming}

    def build_app(self) -> AsgiFastStream:
        return AsgiFastStream(
            self.broker,
            asgi_routes=health_routes(self.registry, self.is_ready),
            on_startup=[self.start_dependencies],
            after_startup=[self.start_watchdog],
            on_shutdown=[self.drain],
            after_shutdown=[self.stop_dependencies],
        )

    async def drain(self) -> None:
        """Stop taking work, let work in flight finish within the grace period, hand back the rest.

        Runs before the broker stops (FastStream's ``on_shutdown``), so the channels are still
        open to nack what is handed back; nothing is acked that was not done.
        """
        self.stopping.set()
        for subscriber in self.subscribers.values():
            await stop_consuming(subscriber)
        running = dict(self.running_jobs)
        if running:
            log.info(
                "shutting down: waiting up to %.0f s for %d job(s) in flight",
                self.settings.shutdown_grace_seconds,
                len(running),
            )
            _done, pending = await asyncio.wait(running.values(), timeout=self.settings.shutdown_grace_seconds)
            for job_id, task in running.items():
                if task in pending:
                    log.warning("job %s not done within the grace period: handing it back", job_id)
                    self.handed_back_jobs.add(job_id)
                    task.cancel()
        if self._in_flight:
            # Each handler now acks (done), or nacks (handed back, or never started).
            await asyncio.wait(self._in_flight, timeout=self.settings.shutdown_grace_seconds + 10.0)

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
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await self._process(body, message, priority)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def _process(self, body: bytes, message: Any, priority: Priority) -> None:
        try:
            event = self.event_type.model_validate_json(body)
        except ValidationError as exc:
            log.error("unparseable %s message dead-lettered: %s", self.stage, exc.errors()[:3])
            await self._dead_letter(body, message, code="unparseable_message", detail=str(exc)[:500])
            self.metrics.processed.labels(self.stage, "unparseable").inc()
            return
        if not await self._acquire_slot(priority):
            # Interactive work kept every slot busy, or the worker is stopping: back in line.
            await message.nack(requeue=True)
            return
        try:
            await self._process_event(event, body, message)
        except Exception as exc:
            await self._retry_without_database(event, body, message, exc)
        finally:
            self.gate.release()

    async def _acquire_slot(self, priority: Priority) -> bool:
        """Wait for a slot (interactive first); False when the worker stops or a batch message waited too long."""
        if self.stopping.is_set():
            return False
        wait_limit = None if priority == "interactive" else BATCH_WAIT_LIMIT_SECONDS
        acquire = asyncio.ensure_future(self.gate.acquire(priority))
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({acquire, stop}, timeout=wait_limit, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not acquire.done():
                acquire.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acquire
        acquired = not acquire.cancelled() and acquire.exception() is None
        if acquired and self.stopping.is_set():
            self.gate.release()
            return False
        return acquired

    async def _retry_without_database(self, event: Event, body: bytes, message: Any, exc: Exception) -> None:
        """The runner itself failed (database or broker): delay the message, counting in a header."""
        headers = dict(getattr(message, "headers", None) or {})
        retries = int(headers.get(RETRIES_HEADER, 0) or 0) + 1
        delay = min(self.settings.retry_delay_seconds(retries), INFRASTRUCTURE_MAX_DELAY_SECONDS)
        log.warning(
            "infrastructure error while handling job %s (%s: %s); retrying in %.1f s",
            event.job_id,
            type(exc).__name__,
            exc,
            delay,
            extra={"job_id": event.job_id, "stage": self.stage.value},
        )
        try:
            await self._publish_delayed(body, message, delay, {RETRIES_HEADER: retries})
            await message.ack()
            self.metrics.processed.labels(self.stage, "delayed").inc()
        except Exception:
            log.exception("could not delay the message of job %s either; handing it back", event.job_id)
            self.metrics.processed.labels(self.stage, "requeued").inc()
            await asyncio.sleep(INFRASTRUCTURE_RETRY_DELAY_SECONDS)
            with contextlib.suppress(Exception):  # a closed channel hands it back by itself
                await message.nack(requeue=True)

    async def _publish_delayed(self, body: bytes, message: Any, delay_seconds: float, headers: dict[str, Any]) -> None:
        """Republish the message as it came, to come back to its stage queue after ``delay_seconds``."""
        delay_ms = max(round(delay_seconds * 1000), 1)
        await self.topology.declare_delay_queue(self.broker, delay_ms)
        received = getattr(message, "headers", None) or {}
        original = {k: v for k, v in received.items() if not k.startswith(BROKER_HEADER_PREFIXES)}
        await self.broker.publish(
            body,
            exchange=self.topology.retry_exchange,
            routing_key=routing_key_of(message),
            persist=True,
            mandatory=True,
            message_id=getattr(message, "message_id", None),
            correlation_id=getattr(message, "correlation_id", None),
            headers={**original, **headers, RETRY_DELAY_HEADER: str(delay_ms)},
            content_type="application/json",
        )

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
        claim = await self.store.claim_stage(
            event.job_id, self.stage, input_event={"routing_key": routing_key_of(message), "body": json.loads(body)}
        )
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
        if claim.tries > self.settings.stage_max_attempts:
            # Delivered again and again without an outcome (crash loops): stop here.
            error = StageError(
                "stage_stalled",
                f"The {self.stage.value} step was interrupted on each of its attempts (worker lost or stopped).",
            )
            await self._fail(event, claim, gave_up(error, claim.tries - 1), body, message, job_log)
            return
        await self.emitter.emit(claim.job)
        if self.stopping.is_set():
            # The drain began while this message was being claimed: it will not wait for work
            # that starts now. (No await from here to ``running_jobs``, so none slips past it.)
            await self._hand_back(event, claim, message, job_log)
            return
        job_log.info("stage started (attempt %d, try %d)", claim.attempt, claim.tries)

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
        heartbeat = Heartbeat(
            self.store,
            job_id=event.job_id,
            stage=self.stage,
            attempt=claim.attempt,
            interval_seconds=self.settings.heartbeat_interval_seconds,
        )
        work = asyncio.create_task(self.definition.handler(event, context))  # type: ignore[arg-type]
        heartbeat.on_superseded = work.cancel
        self.running_jobs[event.job_id] = work
        try:
            async with progress, heartbeat:
                outcome = await work
        except asyncio.CancelledError:
            if heartbeat.superseded:
                # A newer attempt owns the job now (this worker was taken over while it froze).
                job_log.warning("stage stopped: a newer attempt took over; this message is done with")
                await message.ack()
                self.metrics.processed.labels(self.stage, "superseded").inc()
                return
            if event.job_id in self.handed_back_jobs:
                await self._hand_back(event, claim, message, job_log)
                return
            if event.job_id not in self.cancelled_jobs:
                raise  # this handler itself was cancelled: the message goes back unacked
            self.cancelled_jobs.discard(event.job_id)
            self.media.delete_job(event.job_id)
            job_log.info("stage stopped: the job was cancelled; its media was removed")
            await message.ack()
            self.metrics.processed.labels(self.stage, "cancelled").inc()
            self.metrics.duration.labels(self.stage, "cancelled").observe(time.monotonic() - started)
            return
        except Exception as exc:
            error = classify(exc, self.stage.value)
            if error.code == "internal_error":
                job_log.exception("stage crashed")
            if error.retryable and claim.tries < self.settings.stage_max_attempts:
                await self._schedule_retry(event, claim, error, body, message, job_log)
                return
            if error.retryable:
                error = gave_up(error, claim.tries)
            await self._fail(event, claim, error, body, message, job_log)
            self.metrics.duration.labels(self.stage, "failed").observe(time.monotonic() - started)
            return
        finally:
            self.running_jobs.pop(event.job_id, None)
            self.handed_back_jobs.discard(event.job_id)
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

    async def _schedule_retry(
        self,
        event: Event,
        claim: Claim,
        error: StageError,
        body: bytes,
        message: Any,
        job_log: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        """Show the failed attempt on the job, send the message to the delay queue, then ack it."""
        assert self.store is not None and self.emitter is not None
        delay = self.settings.retry_delay_seconds(claim.tries)
        job_log.warning(
            "attempt %d of %d failed (%s: %s); retrying in %.1f s",
            claim.tries,
            self.settings.stage_max_attempts,
            error.code,
            error.message,
            delay,
            extra={"code": error.code},
        )
        job_error = JobError(stage=self.stage.value, code=error.code, message=error.message)
        job = await self.store.mark_retrying(
            event.job_id,
            self.stage,
            claim.attempt,
            error=job_error,
            delay_seconds=delay,
            message=(
                f"Attempt {claim.tries} of {self.settings.stage_max_attempts} of the {self.stage.value} step failed; "
                f"trying again in {delay:g} s. {error.message}"
            ),
        )
        if job is None:
            job_log.info("job changed while the stage ran (cancelled, failed or taken over); not retrying")
            await message.ack()
            self.metrics.processed.labels(self.stage, "discarded").inc()
            return
        await self.emitter.emit(job)
        await self._publish_delayed(body, message, delay, {"x-clipforge-attempt": claim.tries})
        await message.ack()
        self.metrics.processed.labels(self.stage, "retrying").inc()

    async def _hand_back(
        self, event: Event, claim: Claim, message: Any, job_log: logging.LoggerAdapter[logging.Logger]
    ) -> None:
        """The worker is stopping and this work did not finish in time: give the message back unacked."""
        assert self.store is not None and self.emitter is not None
        try:
            job = await asyncio.wait_for(
                self.store.release_stage(
                    event.job_id,
                    self.stage,
                    claim.attempt,
                    message=f"The {self.stage.value} step was handed to another worker (this one is stopping)",
                ),
                5.0,
            )
            if job is not None:
                await asyncio.wait_for(self.emitter.emit(job), 5.0)
        except Exception:
            job_log.warning("could not record the hand-back; the next claim will take over", exc_info=True)
        with contextlib.suppress(Exception):  # a closed channel hands it back by itself
            await message.nack(requeue=True)
        job_log.info("stage handed back unfinished (worker stopping)")
        self.metrics.processed.labels(self.stage, "handed_back").inc()

    async def _fail(
        self,
        event: Event,
        claim: Claim,
        error: StageError,
        body: bytes,
        message: Any,
        job_log: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        assert self.store is not None and self.emitter is not None
        job_log.warning("job failed: %s: %s", error.code, error.message, extra={"code": error.code})
        job_error = JobError(stage=self.stage.value, code=error.code, message=error.message)
        job = await self.store.fail_job(event.job_id, job_error, attempt=claim.attempt)
        if job is not None:
            await self.emitter.emit(job)
            await self._publish(event.follow_up(JobFailed, error=job_error))
        self.metrics.failures.labels(self.stage, error.code).inc()
        self.metrics.processed.labels(self.stage, "failed").inc()
        await self._dead_letter(
            body, message, code=error.code, detail=error.message, extra={"x-clipforge-attempts": claim.tries}
        )

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

    async def _dead_letter(
        self, body: bytes, message: Any, *, code: str, detail: str, extra: dict[str, Any] | None = None
    ) -> None:
        """Park the original message in the dead-letter queue with the reason, then ack it."""
        headers = {"x-clipforge-routing-key": routing_key_of(message), **(extra or {})}
        await self._park(body, code, detail, headers)
        await message.ack()

    async def _park(self, body: bytes, code: str, detail: str, headers: dict[str, Any]) -> None:
        """Publish a message to the dead-letter exchange with why it is there (see ``dead_letters.py``)."""
        await self.broker.publish(
            body,
            exchange=self.topology.dead_exchange,
            persist=True,
            mandatory=True,
            headers={
                "x-clipforge-stage": self.stage.value,
                "x-clipforge-code": code,
                "x-clipforge-reason": detail[:1000],
                "x-clipforge-dead-at": utc_now().isoformat(),
                "x-clipforge-dead-id": uuid.uuid4().hex[:24],
                **headers,
            },
            content_type="application/json",
        )
