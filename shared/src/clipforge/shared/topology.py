"""The RabbitMQ topology, declared in this one place and by every service at start-up.

```
clipforge.pipeline (topic)
   interactive.job.requested ──> clipforge.ingest       batch.job.requested ──> clipforge.ingest.batch
   interactive.media.ready ────> clipforge.transcribe   batch.media.ready ────> clipforge.transcribe.batch
   ... the same for transcript.ready (analyze) and highlights.ready (render)
   *.clips.ready, *.job.failed ──> clipforge.gateway
   *.transcribe.chunk ─────────> clipforge.transcribe.chunks  (parts of long audio, any transcribe process)
   *.media.ready ──────────────> clipforge.render.look  (render's look ahead while transcription runs)
clipforge.progress (fanout) ──> one exclusive queue per gateway replica
clipforge.control (fanout)  ──> one exclusive queue per worker process (cancel)
clipforge.dead (fanout)     ──> clipforge.dead   (poison messages and failed jobs' messages)
clipforge.retry (headers)   ──> clipforge.retry.<delay>ms ──(TTL, dead-lettered)──> clipforge.pipeline
```
Work queues are quorum queues with a delivery limit and the dead-letter exchange, so a
message that keeps crashing its worker ends in ``clipforge.dead`` instead of looping. Each
priority class has its own queue (quorum queues on RabbitMQ 3.x have no message priorities);
workers consume both and let interactive work go first. Declaring the whole topology at every
start means no publish is ever unroutable because its consumer has not started yet.

A stage attempt that failed for a reason that may pass is republished, with its original
routing key, to the ``retry`` headers exchange, which routes it by its delay header to a queue
whose every message has that same TTL (``x-message-ttl``): messages leave such a queue in the
order they came, so none waits behind a longer one, as per-message TTLs on one queue would. On
expiry the queue dead-letters the message (at least once) back to the pipeline exchange under
its original routing key, into the stage's own queue. Delay queues are declared when first
used and expire (``x-expires``) an hour after their last use, so a changed delay leaves nothing
behind.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue

from clipforge.shared.events import (
    PRIORITIES,
    ClipsReady,
    Event,
    HighlightsReady,
    JobFailed,
    JobRequested,
    MediaReady,
    Priority,
    TranscriptionChunk,
    TranscriptReady,
)
from clipforge.shared.models import Stage

DELIVERY_LIMIT = 5
# The header the retry exchange routes on (headers starting "x-" are not matched by RabbitMQ).
RETRY_DELAY_HEADER = "clipforge-delay-ms"
DELAY_QUEUE_IDLE_EXPIRY_MS = 3_600_000

STAGE_INPUT: dict[Stage, type[Event]] = {
    Stage.INGEST: JobRequested,
    Stage.TRANSCRIBE: MediaReady,
    Stage.ANALYZE: TranscriptReady,
    Stage.RENDER: HighlightsReady,
}
GATEWAY_INPUTS: tuple[type[Event], ...] = (ClipsReady, JobFailed)


@dataclass(frozen=True)
class Topology:
    prefix: str = "clipforge"

    @property
    def pipeline(self) -> RabbitExchange:
        return RabbitExchange(f"{self.prefix}.pipeline", type=ExchangeType.TOPIC, durable=True)

    @property
    def progress(self) -> RabbitExchange:
        return RabbitExchange(f"{self.prefix}.progress", type=ExchangeType.FANOUT, durable=True)

    @property
    def control(self) -> RabbitExchange:
        return RabbitExchange(f"{self.prefix}.control", type=ExchangeType.FANOUT, durable=True)

    @property
    def dead_exchange(self) -> RabbitExchange:
        return RabbitExchange(f"{self.prefix}.dead", type=ExchangeType.FANOUT, durable=True)

    @property
    def dead_queue(self) -> RabbitQueue:
        return RabbitQueue(f"{self.prefix}.dead", queue_type=QueueType.QUORUM, durable=True)

    @property
    def retry_exchange(self) -> RabbitExchange:
        return RabbitExchange(f"{self.prefix}.retry", type=ExchangeType.HEADERS, durable=True)

    def delay_queue(self, delay_ms: int) -> RabbitQueue:
        """Holds every message for ``delay_ms``, then sends it back to the pipeline under its own routing key."""
        return RabbitQueue(
            f"{self.prefix}.retry.{delay_ms}ms",
            queue_type=QueueType.QUORUM,
            durable=True,
            arguments={
                "x-message-ttl": delay_ms,
                "x-dead-letter-exchange": self.pipeline.name,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",  # required by at-least-once dead-lettering
                "x-expires": delay_ms + DELAY_QUEUE_IDLE_EXPIRY_MS,
            },
            bind_arguments={"x-match": "all", RETRY_DELAY_HEADER: str(delay_ms)},
        )

    async def declare_delay_queue(self, broker: RabbitBroker, delay_ms: int) -> None:
        """Declare (and bind) one delay queue; also renews its idle expiry."""
        exchange = await broker.declare_exchange(self.retry_exchange)
        queue = self.delay_queue(delay_ms)
        declared = await broker.declare_queue(queue)
        await declared.declare()  # FastStream caches the object: this really asks the broker again
        await declared.bind(exchange, routing_key="", arguments=queue.bind_arguments)

    def _work_queue(self, name: str, routing_key: str) -> RabbitQueue:
        return RabbitQueue(
            f"{self.prefix}.{name}",
            queue_type=QueueType.QUORUM,
            durable=True,
            routing_key=routing_key,
            arguments={
                "x-dead-letter-exchange": self.dead_exchange.name,
                "x-delivery-limit": DELIVERY_LIMIT,
            },
        )

    def stage_queue(self, stage: Stage, priority: Priority = "interactive") -> RabbitQueue:
        name = stage.value if priority == "interactive" else f"{stage.value}.batch"
        return self._work_queue(name, f"{priority}.{STAGE_INPUT[stage].routing_key}")

    @property
    def gateway_queue(self) -> RabbitQueue:
        return self._work_queue("gateway", f"*.{GATEWAY_INPUTS[0].routing_key}")

    @property
    def transcribe_chunk_queue(self) -> RabbitQueue:
        """Parts of long sound tracks, for every transcribe process (both priority classes)."""
        return self._work_queue("transcribe.chunks", f"*.{TranscriptionChunk.routing_key}")

    @property
    def render_look_queue(self) -> RabbitQueue:
        """The render service's look ahead at a job's source (both priority classes). Not a
        stage's input: it runs beside transcription and publishes nothing, so it is kept out of
        :meth:`bindings` (which lists the stages' work queues and the gateway's)."""
        return self._work_queue("render.look", f"*.{MediaReady.routing_key}")

    def side_bindings(self) -> list[tuple[RabbitQueue, str]]:
        """Queues that work beside the stages on their events, declared with the rest."""
        return [(self.render_look_queue, f"*.{MediaReady.routing_key}")]

    def _exclusive_queue(self, kind: str) -> RabbitQueue:
        return RabbitQueue(
            f"{self.prefix}.{kind}.{uuid.uuid4().hex[:12]}",
            queue_type=QueueType.CLASSIC,
            durable=False,
            exclusive=True,
            auto_delete=True,
        )

    def progress_queue(self) -> RabbitQueue:
        """A fresh exclusive queue for one gateway replica's live progress fan-out."""
        return self._exclusive_queue("progress")

    def control_queue(self) -> RabbitQueue:
        """A fresh exclusive queue for one worker process's control commands."""
        return self._exclusive_queue("control")

    def bindings(self) -> list[tuple[RabbitQueue, str]]:
        pairs = [
            (self.stage_queue(stage, priority), f"{priority}.{STAGE_INPUT[stage].routing_key}")
            for stage in Stage
            for priority in PRIORITIES
        ]
        pairs += [(self.gateway_queue, f"*.{event.routing_key}") for event in GATEWAY_INPUTS]
        pairs.append((self.transcribe_chunk_queue, f"*.{TranscriptionChunk.routing_key}"))
        return pairs

    async def declare(self, broker: RabbitBroker) -> None:
        """Declare every exchange, queue and binding (idempotent)."""
        pipeline = await broker.declare_exchange(self.pipeline)
        await broker.declare_exchange(self.progress)
        await broker.declare_exchange(self.control)
        await broker.declare_exchange(self.retry_exchange)
        dead = await broker.declare_exchange(self.dead_exchange)
        dead_queue = await broker.declare_queue(self.dead_queue)
        await dead_queue.bind(dead, routing_key="")
        for queue, routing_key in [*self.bindings(), *self.side_bindings()]:
            declared = await broker.declare_queue(queue)
            await declared.bind(pipeline, routing_key=routing_key)
        # FastStream's declarer keeps one queue object per queue, on the channel it was first
        # declared on, and a subscriber consumes through that object: left as is, every
        # subscriber would consume on this (publishing) channel, which has no prefetch limit, and
        # one process would take every waiting message. Forgetting the queues (not the exchanges:
        # publishing goes through the cached exchange, whose channel has on_return_raises) makes
        # each subscriber declare its queue again (idempotent) on its own channel and prefetch.
        broker.config.declarer._queues.clear()  # type: ignore[attr-defined]


async def queue_depth(broker: RabbitBroker, queue: RabbitQueue) -> tuple[int, int]:
    """Messages ready and consumers attached, asked of the broker now (not a cached answer)."""
    declared = await broker.declare_queue(queue)
    result = await declared.declare()
    return int(result.message_count or 0), int(result.consumer_count or 0)
