"""The gateway's broker: confirmed publishing, the live progress queue, and job outcomes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from faststream.rabbit import Channel, RabbitBroker
from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
from prometheus_client import CollectorRegistry, Counter

from clipforge.gateway.fanout import ProgressHub
from clipforge.shared.events import ClipsReady, Event, JobFailed, JobProgress
from clipforge.shared.topology import Topology

OutcomeHandler = Callable[[Event], Awaitable[None]]


def build_broker(
    amqp_url: str,
    topology: Topology,
    hub: ProgressHub,
    registry: CollectorRegistry,
    outcome_handlers: list[OutcomeHandler],
) -> RabbitBroker:
    broker = RabbitBroker(
        amqp_url,
        default_channel=Channel(publisher_confirms=True, on_return_raises=True),
        middlewares=[RabbitPrometheusMiddleware(registry=registry, app_name="clipforge-gateway")],
    )
    finished = Counter(
        "clipforge_jobs_finished_total", "Jobs that reached the end of the pipeline.", ["status"], registry=registry
    )

    @broker.subscriber(topology.progress_queue(), topology.progress, title="gateway-progress")
    async def on_progress(event: JobProgress) -> None:
        hub.deliver(event)

    @broker.subscriber(
        topology.gateway_queue, topology.pipeline, channel=Channel(prefetch_count=16), title="gateway-outcomes"
    )
    async def on_outcome(body: dict[str, Any]) -> None:
        outcome: Event
        if "clips" in body:
            outcome = ClipsReady.model_validate(body)
            finished.labels("completed").inc()
        else:
            outcome = JobFailed.model_validate(body)
            finished.labels("failed").inc()
        for handler in outcome_handlers:
            await handler(outcome)

    return broker


async def publish_event(broker: RabbitBroker, topology: Topology, event: Event, timeout_seconds: float) -> None:
    """Persistent, mandatory, confirmed (raises when unroutable or unconfirmed)."""
    await broker.publish(
        event.model_dump(mode="json"),
        exchange=topology.pipeline,
        routing_key=event.topic,
        persist=True,
        mandatory=True,
        message_id=event.event_id,
        correlation_id=event.correlation_id,
        content_type="application/json",
        timeout=timeout_seconds,
    )
