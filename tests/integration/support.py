"""Helpers for integration tests: jobs, raw AMQP publishing and polling."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
import uvicorn

from clipforge.devstack.ports import free_port
from clipforge.gateway.app import create_app
from clipforge.gateway.settings import GatewaySettings
from clipforge.shared.jobs import JobStore
from clipforge.shared.models import JobOptions, SourceRef
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
    config = uvicorn.Config(create_app(gateway_settings), host="127.0.0.1", port=port, log_level="warning")
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
