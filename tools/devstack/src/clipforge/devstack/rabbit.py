"""Removing a topology from the broker: tests and throwaway stacks clean up after themselves."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib

import aio_pika

from clipforge.shared.topology import Topology


async def _delete_topology(amqp_url: str, prefix: str) -> None:
    topology = Topology(prefix)
    bound = [*topology.bindings(), *topology.side_bindings()]
    queues = [queue.name for queue, _ in bound] + [topology.dead_queue.name]
    exchanges = [topology.pipeline, topology.progress, topology.control, topology.dead_exchange]
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


def delete_topology(amqp_url: str, prefix: str) -> None:
    """Remove a test's queues and exchanges (from a thread: a test's event loop may be running)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _delete_topology(amqp_url, prefix)).result(timeout=120)
