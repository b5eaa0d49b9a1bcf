from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import pytest
import pytest_asyncio
from faststream.rabbit import Channel, RabbitBroker
from support import Driver, serve_gateway

from clipforge.gateway.keys import KeyStore
from clipforge.shared.jobs import JobStore, connect
from clipforge.shared.progress import ProgressEmitter
from clipforge.shared.settings import Settings
from clipforge.shared.topology import Topology

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(rabbit_url: str, mongo_url: str, topology_prefix: str, database_name: str, tmp_path: Path) -> Settings:
    return Settings(
        amqp_url=rabbit_url,
        mongo_url=mongo_url,
        mongo_database=database_name,
        media_root=tmp_path / "media",
        topology_prefix=topology_prefix,
        progress_interval_seconds=0.05,
        log_json=False,
    )


@pytest_asyncio.fixture
async def store(settings: Settings) -> AsyncIterator[JobStore]:
    client = connect(settings.mongo_url)
    job_store = JobStore(client[settings.mongo_database])
    await job_store.ensure_indexes()
    try:
        yield job_store
    finally:
        await client.drop_database(settings.mongo_database)
        await client.close()


@pytest_asyncio.fixture
async def api_key(store: JobStore) -> str:
    """A valid key of tenant "default" in this test's database."""
    return (await KeyStore(store.db).create("default", "test")).api_key


@pytest_asyncio.fixture
async def amqp(settings: Settings) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect_robust(settings.amqp_url)
    channel = await connection.channel()
    try:
        yield channel
    finally:
        await connection.close()


@pytest_asyncio.fixture
async def gateway(settings: Settings) -> AsyncIterator[str]:
    async with serve_gateway(settings) as url:
        yield url


@pytest_asyncio.fixture
async def emitter(settings: Settings, store: JobStore) -> AsyncIterator[ProgressEmitter]:
    """Progress publishing exactly as the workers do it."""
    broker = RabbitBroker(settings.amqp_url, default_channel=Channel(on_return_raises=True))
    await broker.connect()
    try:
        yield ProgressEmitter(broker, store, Topology(settings.topology_prefix))
    finally:
        await broker.stop()


@pytest.fixture
def driver(store: JobStore, emitter: ProgressEmitter) -> Driver:
    return Driver(store, emitter)
