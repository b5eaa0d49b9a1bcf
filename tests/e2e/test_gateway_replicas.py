"""Two gateway processes on one broker and database: each gets every progress event through its
own exclusive queue, so clients on either replica see the same complete sequence, live."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import websockets
from faststream.rabbit import Channel, RabbitBroker

from clipforge.devstack.ports import free_port
from clipforge.devstack.stack import LocalStack
from clipforge.shared.jobs import JobStore, connect
from clipforge.shared.models import JobError, JobOptions, SourceRef, Stage
from clipforge.shared.progress import ProgressEmitter
from clipforge.shared.topology import Topology

pytestmark = pytest.mark.e2e

EVENT_DEADLINE_SECONDS = 2.0  # far below the resync's recovery time: only live fan-out meets it


class Replicas:
    def __init__(self, stacks: list[LocalStack], api_key: str, database: str, prefix: str) -> None:
        self.stacks = stacks
        self.api_key = api_key
        self.database = database
        self.prefix = prefix

    @property
    def urls(self) -> list[str]:
        return [stack.gateway_url for stack in self.stacks]


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, rabbit_url: str, mongo_url: str) -> Iterator[Replicas]:
    prefix, database = f"rep{uuid.uuid4().hex[:8]}", f"replicas_{uuid.uuid4().hex[:8]}"
    stacks = [
        LocalStack(
            tmp_path_factory.mktemp(f"gateway{index}"),
            mongo_url=mongo_url,
            amqp_url=rabbit_url,
            topology_prefix=prefix,
            ports={"gateway": free_port()},
            extra_env={"CLIPFORGE_MONGO_DATABASE": database, "CLIPFORGE_LOG_JSON": "true"},
        )
        for index in range(2)
    ]
    try:
        for stack in stacks:
            stack.start_service("gateway")
        for stack in stacks:
            stack.wait_ready(60)
        yield Replicas(stacks, stacks[0].ensure_api_key(), database, prefix)
    finally:
        for stack in stacks:
            stack.stop_service("gateway")
            log = stack.services["gateway"].log_path if "gateway" in stack.services else None
            if log is not None and log.exists():
                print(f"--- {log} tail ---\n{log.read_text()[-2000:]}")


@pytest_asyncio.fixture
async def store(replicas: Replicas, mongo_url: str) -> AsyncIterator[JobStore]:
    client = connect(mongo_url)
    try:
        yield JobStore(client[replicas.database])
    finally:
        await client.close()


@pytest_asyncio.fixture
async def emitter(replicas: Replicas, rabbit_url: str, store: JobStore) -> AsyncIterator[ProgressEmitter]:
    broker = RabbitBroker(rabbit_url, default_channel=Channel(on_return_raises=True))
    await broker.connect()
    try:
        yield ProgressEmitter(broker, store, Topology(replicas.prefix))
    finally:
        await broker.stop()


class Follower:
    """One client of one replica, collecting progress messages as they arrive."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.progress: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    def add(self, message: dict[str, Any]) -> None:
        if message.get("type") == "progress":
            self.progress.append(message)
            self.arrived.set()

    def has(self, seq: int, job_id: str) -> bool:
        return any(m["seq"] == seq and m["job_id"] == job_id for m in self.progress)


async def follow_websocket(follower: Follower, url: str, ready: asyncio.Event) -> None:
    async with websockets.connect(url) as socket:
        follower.add(json.loads(await socket.recv()))  # the snapshot
        ready.set()
        async for raw in socket:
            follower.add(json.loads(raw))


async def follow_sse(follower: Follower, base: str, path: str, api_key: str, ready: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "text/event-stream"}
    async with (
        httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(60.0)) as client,
        client.stream("GET", path, headers=headers) as response,
    ):
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                follower.add(json.loads(line.removeprefix("data: ")))
                ready.set()


def key(message: dict[str, Any]) -> tuple[Any, ...]:
    return (
        message["job_id"],
        message["seq"],
        message["status"],
        message["stage"],
        message["percent"],
        message["message"],
    )


async def test_clients_on_two_gateway_replicas_get_identical_complete_sequences(
    replicas: Replicas, store: JobStore, emitter: ProgressEmitter
) -> None:
    job = await store.create(
        tenant_id="default", source=SourceRef(url="http://127.0.0.1:9/v.mp4"), options=JobOptions()
    )
    job_id, api_key = job["_id"], replicas.api_key
    path = f"/v1/jobs/{job_id}/events"
    followers: list[Follower] = []
    tasks: list[asyncio.Task[None]] = []
    for index, base in enumerate(replicas.urls):
        ws_base = base.replace("http://", "ws://")
        for kind, start in (
            ("job-ws", lambda f, r, b=ws_base: follow_websocket(f, f"{b}{path}?api_key={api_key}", r)),
            ("job-sse", lambda f, r, b=base: follow_sse(f, b, path, api_key, r)),
            ("tenant-ws", lambda f, r, b=ws_base: follow_websocket(f, f"{b}/v1/events?api_key={api_key}", r)),
        ):
            follower, ready = Follower(f"replica{index}-{kind}"), asyncio.Event()
            followers.append(follower)
            tasks.append(asyncio.create_task(start(follower, ready)))
            await asyncio.wait_for(ready.wait(), 10)

    async def emitted(document: dict[str, Any] | None) -> None:
        """Emit one change and wait until every client on both replicas has it."""
        assert document is not None
        event = await emitter.emit(document, eta_seconds=5.0)
        started = time.monotonic()
        while not all(f.has(event.seq, job_id) for f in followers):
            waiting = [f.name for f in followers if not f.has(event.seq, job_id)]
            assert time.monotonic() - started < EVENT_DEADLINE_SECONDS, f"seq {event.seq} never reached {waiting}"
            await asyncio.sleep(0.01)

    try:
        for stage in Stage:
            claim = await store.claim_stage(job_id, stage)
            await emitted(claim.job)
            for step in range(1, 6):
                await emitted(
                    await store.record_progress(
                        job_id, stage, claim.attempt, stage_fraction=step / 6, message=f"{stage} {step}"
                    )
                )
            if stage is not Stage.RENDER:
                await emitted(
                    await store.complete_stage(
                        job_id,
                        stage,
                        claim.attempt,
                        record={},
                        output_event={},
                        final=False,
                        message="done",
                        duration_seconds=1,
                    )
                )
        await emitted(await store.fail_job(job_id, JobError(stage="render", code="render_failed", message="boom")))
        job_streams = [t for t, f in zip(tasks, followers, strict=True) if "job" in f.name]
        await asyncio.wait_for(asyncio.gather(*job_streams), 10)  # job streams end by themselves at the end
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    logged = [doc["event"] async for doc in store.events.find({"job_id": job_id}).sort("seq", 1)]
    expected = [key(event) for event in logged]
    assert [e[1] for e in expected] == list(range(1, len(expected) + 1)) and len(expected) == 4 * 6 + 3 + 1
    for follower in followers:
        assert [key(m) for m in follower.progress] == expected, follower.name
    assert {m["status"] for m in followers[0].progress} == {
        "ingesting",
        "transcribing",
        "analyzing",
        "rendering",
        "failed",
    }
