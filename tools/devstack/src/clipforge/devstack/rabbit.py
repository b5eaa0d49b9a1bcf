"""Removing a topology from the broker: tests and throwaway stacks clean up after themselves."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib

import aio_pika

from clipforge.shared.settings import Settings
from clipforge.shared.topology import Topology


def _default_delay_queues(topology: Topology) -> list[str]:
    """The delay queues a stack with the default retry settings creates (others expire by themselves)."""
    settings = Settings()
    delays = {round(settings.retry_delay_seconds(n) * 1000) for n in range(1, settings.stage_max_attempts + 1)}
    return [topology.delay_queue(delay).name for delay in sorted(delays)]


async def _delete_topology(amqp_url: str, prefix: str, extra_queues: list[str]) -> None:
    topology = Topology(prefix)
    bound = [*topology.bindings(), *topology.side_bindings()]
    queues = [queue.name for queue, _ in bound] + [topology.dead_queue.name]
    queues += _default_delay_queues(topology) + extra_queues
    exchanges = [topology.pipeline, topology.progress, topology.control, topology.dead_exchange]
    exchanges.append(topology.retry_exchange)
    connection = await aio_pika.connect(amqp_url)
    try:
        for name in dict.fromkeys(queues):
            channel = await connection.channel()
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await channel.queue_delete(name)
        channel = await connection.channel()
        for exchange in exchanges:
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await channel.exchange_delete(exchange.name)
    finally:
        await connection.close()


def delete_topology(amqp_url: str, prefix: str, extra_queues: list[str] | None = None) -> None:
    """Remove a test's queues and exchanges (from a thread: a test's event loop may be running)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _delete_topology(amqp_url, prefix, extra_queues or [])).result(timeout=120)
