"""Live progress over WebSocket and SSE: per job and per tenant, resume, lost events, slow clients.

Every test serves the real gateway with uvicorn on loopback against the real RabbitMQ and
SecantusDB, and drives jobs the way the workers do (``JobStore`` writes, ``ProgressEmitter``).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
import websockets
from support import Driver, new_job

from clipforge.devstack.ports import free_port
from clipforge.gateway.app import create_app
from clipforge.gateway.keys import KeyStore
from clipforge.gateway.live_messages import TenantCursor, job_eta_seconds
from clipforge.gateway.settings import GatewaySettings
from clipforge.shared.events import JobProgress
from clipforge.shared.jobs import JobStore
from clipforge.shared.models import JobError, JobOptions, SourceRef, Stage
from clipforge.shared.settings import Settings

pytestmark = pytest.mark.integration

StartGateway = Callable[..., Awaitable[str]]


@pytest_asyncio.fixture
async def start_gateway(settings: Settings) -> AsyncIterator[StartGateway]:
    """Start gateways (settings overridable per test); all stopped at the end."""
    running: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(**overrides: Any) -> str:
        port = free_port()
        gateway_settings = GatewaySettings(**{**settings.model_dump(), "http_port": port, **overrides})
        config = uvicorn.Config(
            create_app(gateway_settings),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=3,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        running.append((server, task))
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        return f"http://127.0.0.1:{port}"

    try:
        yield start
    finally:
        for server, _ in running:
            server.should_exit = True
        for _, task in running:
            await task


def ws_url(base: str, path: str, api_key: str, **params: object) -> str:
    query = "&".join(f"{key}={value}" for key, value in {"api_key": api_key, **params}.items())
    return base.replace("http://", "ws://") + f"{path}?{query}"


async def read_until_closed(socket_: websockets.ClientConnection, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Every message until the server closes (with any code)."""
    messages: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        try:
            async for raw in socket_:
                messages.append(json.loads(raw))
        except websockets.ConnectionClosedError:
            pass
    return messages


async def read_n(socket_: websockets.ClientConnection, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    async with asyncio.timeout(timeout):
        return [json.loads(await socket_.recv()) for _ in range(count)]


def seqs_of(messages: list[dict[str, Any]], job_id: str | None = None) -> list[int]:
    return [m["seq"] for m in messages if m["type"] == "progress" and (job_id is None or m["job_id"] == job_id)]


# --- the job stream ------------------------------------------------------------------------


async def test_every_event_carries_seq_status_stage_percent_message_and_etas(
    start_gateway: StartGateway, api_key: str, store: JobStore, driver: Driver
) -> None:
    gateway = await start_gateway()
    job = await new_job(store)
    async with websockets.connect(ws_url(gateway, f"/v1/jobs/{job['_id']}/events", api_key)) as socket_:
        snapshot = json.loads(await socket_.recv())
        assert snapshot["type"] == "snapshot" and snapshot["job"]["status"] == "queued"
        for stage, final in (
            (Stage.INGEST, False),
            (Stage.TRANSCRIBE, False),
            (Stage.ANALYZE, False),
            (Stage.RENDER, True),
        ):
            await driver.claim(job["_id"], stage)
            await driver.progress(job["_id"], stage, 0.5, f"half of {stage.value}", eta=8.0)
            await driver.complete(job["_id"], stage, final=final)
        messages = await read_until_closed(socket_)
    assert socket_.close_code == 1000
    assert seqs_of(messages) == list(range(1, 13))
    assert [m["status"] for m in messages] == [
        *["ingesting"] * 3,
        *["transcribing"] * 3,
        *["analyzing"] * 3,
        "rendering",
        "rendering",
        "completed",
    ]
    assert [m["stage"] for m in messages[:3]] == ["ingest"] * 3
    half = messages[4]  # transcribe at 50 %: overall 40 %
    assert half["message"] == "half of transcribe" and half["percent"] == 40.0 and half["stage_percent"] == 50.0
    assert half["eta_seconds"] == 8.0
    # 8 s left of a 16 s stage owning 40 points of the bar: 0.4 s per point, 40 points after it.
    assert half["job_eta_seconds"] == pytest.approx(8.0 + 0.4 * 40, abs=0.1)
    assert messages[-1]["percent"] == 100.0 and messages[-1]["job_eta_seconds"] == 0.0
    for message in messages:
        assert {"seq", "status", "stage", "percent", "stage_percent", "message", "eta_seconds"} <= message.keys()


async def test_cancelled_job_streams_a_cancelled_event_and_ends(
    start_gateway: StartGateway, api_key: str, store: JobStore, driver: Driver
) -> None:
    gateway = await start_gateway()
    job = await new_job(store)
    async with websockets.connect(ws_url(gateway, f"/v1/jobs/{job['_id']}/events", api_key)) as socket_:
        await socket_.recv()
        await driver.claim(job["_id"], Stage.INGEST)
        async with httpx.AsyncClient(base_url=gateway, headers={"Authorization": f"Bearer {api_key}"}) as client:
            assert (await client.post(f"/v1/jobs/{job['_id']}/cancel")).status_code == 200
        messages = await read_until_closed(socket_)
    assert [m["status"] for m in messages] == ["ingesting", "cancelled"]
    assert messages[-1]["stage"] == "cancelled" and socket_.close_code == 1000


async def test_another_tenants_job_is_not_found_on_every_stream(
    start_gateway: StartGateway, api_key: str, store: JobStore
) -> None:
    gateway = await start_gateway()
    theirs = await store.create(
        tenant_id="other", source=SourceRef(url="http://127.0.0.1:9/x.mp4"), options=JobOptions()
    )
    path = f"/v1/jobs/{theirs['_id']}/events"
    async with websockets.connect(ws_url(gateway, path, api_key)) as socket_:
        with pytest.raises(websockets.ConnectionClosed):
            await socket_.recv()
    assert socket_.close_code == 4404
    async with httpx.AsyncClient(base_url=gateway, headers={"Authorization": f"Bearer {api_key}"}) as client:
        response = await client.get(path, headers={"Accept": "text/event-stream"})
        anonymous = await client.get(path, headers={"Authorization": ""})
    assert response.status_code == 404 and response.json()["code"] == "job_not_found"
    assert anonymous.status_code == 401


async def test_resume_after_seq_replays_what_was_missed_then_live_without_gaps_or_duplicates(
    start_gateway: StartGateway, api_key: str, store: JobStore, driver: Driver
) -> None:
    gateway = await start_gateway()
    job = await new_job(store)
    await driver.claim(job["_id"], Stage.INGEST)
    path = f"/v1/jobs/{job['_id']}/events"
    async with websockets.connect(ws_url(gateway, path, api_key)) as socket_:
        snapshot = json.loads(await socket_.recv())
        for step in range(1, 4):
            await driver.progress(job["_id"], Stage.INGEST, step / 100)
        first = await read_n(socket_, 3)
    last_seen = first[-1]["seq"]
    assert seqs_of(first) == [snapshot["job"]["seq"] + 1, snapshot["job"]["seq"] + 2, last_seen]

    for step in range(4, 10):  # while the client is away
        await driver.progress(job["_id"], Stage.INGEST, step / 100)
    replayed = await store.get(job["_id"])

    async def keep_emitting() -> None:  # and on, through the reconnect, so replay and live overlap
        for step in range(10, 60):
            await driver.progress(job["_id"], Stage.INGEST, step / 100)
            if step in (20, 40):
                await driver.emitter.emit(replayed)  # type: ignore[arg-type]  # a duplicate, live
            await asyncio.sleep(0.002)
        await driver.fail(job["_id"])

    emitting = asyncio.create_task(keep_emitting())
    async with websockets.connect(ws_url(gateway, path, api_key, after_seq=last_seen)) as socket_:
        resumed = await read_until_closed(socket_)
    await emitting
    final_seq = (await store.get(job["_id"]))["seq"]  # type: ignore[index]
    assert [m["type"] for m in resumed] == ["progress"] * len(resumed)
    assert seqs_of(resumed) == list(range(last_seen + 1, final_seq + 1))
    assert resumed[-1]["status"] == "failed" and socket_.close_code == 1000


async def test_resume_by_last_event_id_header_and_nothing_to_resume_after_the_end(
    start_gateway: StartGateway, api_key: str, store: JobStore, driver: Driver
) -> None:
    gateway = await start_gateway()
    job = await new_job(store)
    await driver.claim(job["_id"], Stage.INGEST)
    for step in range(1, 6):
        await driver.progress(job["_id"], Stage.INGEST, step / 10)
    final_seq = await driver.fail(job["_id"])
    path = f"/v1/jobs/{job['_id']}/events"
    async with websockets.connect(ws_url(gateway, path, api_key), additional_headers={"Last-Event-ID": "3"}) as s:
        messages = await read_until_closed(s)
    assert seqs_of(messages) == list(range(4, final_seq + 1))
    async with websockets.connect(ws_url(gateway, path, api_key, after_seq=final_seq)) as s:
        assert await read_until_closed(s) == [] and s.close_code == 1000
    async with websockets.connect(ws_url(gateway, path, api_key, after_seq="x")) as s:
        await read_until_closed(s)
    assert s.close_code == 4400


async def test_resume_beyond_the_log_restarts_with_a_snapshot(
    start_gateway: StartGateway, api_key: str, store: JobStore, driver: Driver
) -> None:
    gateway = await start_gateway()
    job = await new_job(store)
    await driver.claim(job["_id"], Stage.INGEST)
    for step in range(1, 6):
        await driver.progress(job["_id"], Stage.INGEST, step / 10)
    await store.events.delete_many({"job_id": job["_id"], "seq": {"$lte": 4}})  # expired from job_events
    path = f"/v1/jobs/{job['_id']}/events"
    async with websockets.connect(ws_url(gateway, path, api_key, after_seq=2)) as socket_:
        snapshot = json.loads(await socket_.recv())
        assert snapshot["type"] == "snapshot" and snapshot["job"]["seq"] == 6
        await driver.progress(job["_id"], Stage.INGEST, 0.9)
        await driver.fail(job["_id"])
        rest = await read_until_closed(socket_)
    assert seqs_of(rest) == [7, 8]


async def test_lost_events_reach_open_job_streams_through_the_resync(
    start_gateway: StartGateway, api_key: str, store: JobStore, driver: Driver
) -> None:
    gateway = await start_gateway(live_resync_seconds=0.3)
    logged, unlogged = await new_job(store), await new_job(store)
    for job in (logged, unlogged):
        await driver.claim(job["_id"], Stage.INGEST)
    sockets = {
        job["_id"]: await websockets.connect(ws_url(gateway, f"/v1/jobs/{job['_id']}/events", api_key))
        for job in (logged, unlogged)
    }
    try:
        for socket_ in sockets.values():
            assert json.loads(await socket_.recv())["type"] == "snapshot"
        # The last event of one job is logged but never fanned out; the other job ends with no event at all.
        failed = await store.fail_job(logged["_id"], JobError(stage="ingest", code="x", message="lost on the way"))
        assert failed is not None
        await driver.log_only(failed)
        await driver.fail(unlogged["_id"], emit=False)
        # Within a few 0.3 s resync rounds; the per-socket timeout keeps it far below a long poll.
        results = {job_id: await read_until_closed(s, timeout=5) for job_id, s in sockets.items()}
    finally:
        for socket_ in sockets.values():
            await socket_.close()
    assert [m["message"] for m in results[logged["_id"]]] == ["lost on the way"]
    assert [m["status"] for m in results[unlogged["_id"]]] == ["failed"]
    assert all(s.close_code == 1000 for s in sockets.values())


async def test_lost_events_reach_open_tenant_streams_through_the_resync(
    start_gateway: StartGateway, api_key: str, store: JobStore, driver: Driver
) -> None:
    gateway = await start_gateway(live_resync_seconds=0.3)
    job = await new_job(store)
    await driver.claim(job["_id"], Stage.INGEST)
    async with websockets.connect(ws_url(gateway, "/v1/events", api_key)) as socket_:
        assert json.loads(await socket_.recv())["type"] == "snapshot"
        updated = await store.record_progress(
            job["_id"], Stage.INGEST, driver.attempts[(job["_id"], Stage.INGEST)], stage_fraction=0.5, message="quiet"
        )
        assert updated is not None
        await driver.log_only(updated)
        messages = await read_n(socket_, 1, timeout=3)
    assert messages[0]["message"] == "quiet" and messages[0]["seq"] == 2


# --- the tenant stream ---------------------------------------------------------------------


async def test_tenant_stream_follows_every_job_of_the_tenant_and_no_other(
    start_gateway: StartGateway, api_key: str, store: JobStore, driver: Driver
) -> None:
    gateway = await start_gateway()
    running = await new_job(store)
    await driver.claim(running["_id"], Stage.INGEST)
    theirs = await store.create(
        tenant_id="other", source=SourceRef(url="http://127.0.0.1:9/x.mp4"), options=JobOptions()
    )
    async with websockets.connect(ws_url(gateway, "/v1/events", api_key)) as socket_:
        snapshot = json.loads(await socket_.recv())
        assert snapshot["type"] == "snapshot" and [j["id"] for j in snapshot["jobs"]] == [running["_id"]]
        fresh = await new_job(store)
        await driver.claim(theirs["_id"], Stage.INGEST)
        await driver.claim(fresh["_id"], Stage.INGEST)
        for step in range(1, 4):
            await driver.progress(running["_id"], Stage.INGEST, step / 10)
            await driver.progress(theirs["_id"], Stage.INGEST, step / 10)
            await driver.progress(fresh["_id"], Stage.INGEST, step / 10)
        await driver.fail(fresh["_id"])
        messages = await read_n(socket_, 8)
    assert {m["tenant_id"] for m in messages} == {"default"}
    assert seqs_of(messages, running["_id"]) == [2, 3, 4]
    assert seqs_of(messages, fresh["_id"]) == [1, 2, 3, 4, 5]
    assert all(TenantCursor.decode(m["cursor"]) for m in messages)


async def test_tenant_stream_resumes_from_a_cursor_without_gaps_or_duplicates(
    start_gateway: StartGateway, api_key: str, store: JobStore, driver: Driver
) -> None:
    gateway = await start_gateway()
    first, second = await new_job(store), await new_job(store)
    async with websockets.connect(ws_url(gateway, "/v1/events", api_key)) as socket_:
        await socket_.recv()
        await driver.claim(first["_id"], Stage.INGEST)
        await driver.claim(second["_id"], Stage.INGEST)
        await driver.progress(first["_id"], Stage.INGEST, 0.1)
        before = await read_n(socket_, 3)
    cursor = before[-1]["cursor"]

    await driver.progress(second["_id"], Stage.INGEST, 0.1)  # missed while away
    await driver.progress(first["_id"], Stage.INGEST, 0.2)
    late = await new_job(store)  # a job that started while away
    await driver.claim(late["_id"], Stage.INGEST)

    async def keep_emitting() -> None:
        for step in range(3, 30):
            for job in (first, second, late):
                await driver.progress(job["_id"], Stage.INGEST, step / 100)

    emitting = asyncio.create_task(keep_emitting())
    async with websockets.connect(ws_url(gateway, "/v1/events", api_key, cursor=cursor)) as socket_:
        await emitting
        expected = sum(1 for _ in range(3, 30)) * 3 + 3
        after = await read_n(socket_, expected)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await socket_.recv()  # nothing more: no duplicates
    everything = before + after
    for job in (first, second, late):
        final = (await store.get(job["_id"]))["seq"]  # type: ignore[index]
        assert seqs_of(everything, job["_id"]) == list(range(1, final + 1)), job["_id"]
    assert after[0]["type"] == "progress"


# --- server-sent events ---------------------------------------------------------------------


@dataclass
class SseEvent:
    event: str
    id: str
    data: dict[str, Any]


@asynccontextmanager
async def sse(
    base: str, path: str, api_key: str, headers: dict[str, str] | None = None
) -> AsyncIterator[tuple[httpx.Response, AsyncIterator[SseEvent | str]]]:
    """Yields the response and its items: SseEvent, or the text of a comment line."""
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(30.0)) as client:
        request_headers = {"Authorization": f"Bearer {api_key}", "Accept": "text/event-stream", **(headers or {})}
        async with client.stream("GET", path, headers=request_headers) as response:

            async def items() -> AsyncIterator[SseEvent | str]:
                fields: dict[str, str] = {}
                async for line in response.aiter_lines():
                    if line.startswith(":"):
                        yield line[1:].strip()
                    elif line == "":
                        if "data" in fields:
                            yield SseEvent(
                                fields.get("event", "message"), fields.get("id", ""), json.loads(fields["data"])
                            )
                        fields = {}
                    else:
                        name, _, value = line.partition(":")
                        fields[name] = value.removeprefix(" ")

            yield response, items()


async def test_sse_job_stream_with_ids_heartbeats_resume_and_end(
    start_gateway: StartGateway, api_key: str, store: JobStore, driver: Driver
) -> None:
    gateway = await start_gateway(sse_heartbeat_seconds=0.2)
    job = await new_job(store)
    path = f"/v1/jobs/{job['_id']}/events"
    received: list[SseEvent | str] = []
    async with sse(gateway, path, api_key) as (response, items):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        await driver.claim(job["_id"], Stage.INGEST)
        await driver.progress(job["_id"], Stage.INGEST, 0.1)
        async for item in items:
            received.append(item)
            if isinstance(item, SseEvent) and item.event == "progress" and item.data["seq"] == 2:
                break
    events = [item for item in received if isinstance(item, SseEvent)]
    assert [(e.event, e.id) for e in events] == [("snapshot", "0"), ("progress", "1"), ("progress", "2")]
    assert events[1].data["status"] == "ingesting" and events[1].data["type"] == "progress"

    for step in range(2, 5):  # missed while disconnected
        await driver.progress(job["_id"], Stage.INGEST, step / 10)
    resumed: list[SseEvent | str] = []
    async with sse(gateway, path, api_key, {"Last-Event-ID": "2"}) as (response, items):

        async def finish_later() -> None:
            await asyncio.sleep(0.7)  # quiet: heartbeats flow
            await driver.fail(job["_id"])

        finishing = asyncio.create_task(finish_later())
        async for item in items:  # ends by itself when the job ends
            resumed.append(item)
        await finishing
    resumed_events = [item for item in resumed if isinstance(item, SseEvent)]
    assert [e.id for e in resumed_events] == ["3", "4", "5", "6"]
    assert resumed_events[-1].data["status"] == "failed"
    assert "keep-alive" in resumed, "comment lines keep the connection open while the job is quiet"

    async with httpx.AsyncClient(base_url=gateway, headers={"Authorization": f"Bearer {api_key}"}) as client:
        done = await client.get(path, headers={"Last-Event-ID": "6"})
        bad = await client.get(path, headers={"Last-Event-ID": "six"})
    assert done.status_code == 204, "an EventSource stops reconnecting"
    assert bad.status_code == 400


async def test_sse_tenant_stream_resumes_with_last_event_id(
    start_gateway: StartGateway, api_key: str, store: JobStore, driver: Driver
) -> None:
    gateway = await start_gateway(sse_heartbeat_seconds=0.2)
    job = await new_job(store)
    first: list[SseEvent] = []
    async with sse(gateway, "/v1/events", api_key) as (_, items):
        await driver.claim(job["_id"], Stage.INGEST)
        await driver.progress(job["_id"], Stage.INGEST, 0.1)
        async for item in items:
            if isinstance(item, SseEvent):
                first.append(item)
                if len(first) == 3:
                    break
    assert [e.event for e in first] == ["snapshot", "progress", "progress"]
    assert first[2].id == first[2].data["cursor"]
    for step in range(2, 5):
        await driver.progress(job["_id"], Stage.INGEST, step / 10)
    await driver.fail(job["_id"])
    resumed: list[SseEvent] = []
    async with sse(gateway, "/v1/events", api_key, {"Last-Event-ID": first[2].id}) as (_, items):
        async for item in items:
            if isinstance(item, SseEvent):
                resumed.append(item)
                if item.data["status"] == "failed":
                    break
    assert [e.data["seq"] for e in resumed] == [3, 4, 5, 6]
    async with httpx.AsyncClient(base_url=gateway, headers={"Authorization": f"Bearer {api_key}"}) as client:
        bad = await client.get("/v1/events", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and bad.json()["code"] == "bad_resume_position"


# --- slow clients ---------------------------------------------------------------------------


async def _stalled_socket(url: str) -> websockets.ClientConnection:
    """A WebSocket whose reader never reads: tiny receive buffer, one message queued at most, and no
    compression (which would shrink the padding that fills the buffers)."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, (host, int(port)))
    return await websockets.connect(url, sock=raw, max_queue=1, ping_interval=None, compression=None)


async def test_slow_client_is_closed_1013_and_a_fast_client_on_the_same_job_keeps_up(
    start_gateway: StartGateway, api_key: str, store: JobStore, driver: Driver
) -> None:
    gateway = await start_gateway(websocket_buffer_events=8)
    job = await new_job(store)
    await driver.claim(job["_id"], Stage.INGEST)
    url = ws_url(gateway, f"/v1/jobs/{job['_id']}/events", api_key)
    slow = await _stalled_socket(url)
    fast = await websockets.connect(url)
    await fast.recv()  # snapshot
    count = 300
    first_seq = 2
    sent_at: dict[int, float] = {}
    lags: list[float] = []

    async def read_fast() -> list[int]:
        seqs = []
        while len(seqs) < count:
            message = json.loads(await fast.recv())
            lags.append(time.monotonic() - sent_at[message["seq"]])
            seqs.append(message["seq"])
        return seqs

    reader = asyncio.create_task(read_fast())
    padding = "x" * 20_000  # fills the buffers between the server and the stalled reader quickly
    for step in range(count):
        sent_at[first_seq + step] = time.monotonic()
        await driver.progress(job["_id"], Stage.INGEST, step / count, f"{step} {padding}")
    async with asyncio.timeout(10):
        fast_seqs = await reader
    assert fast_seqs == list(range(first_seq, first_seq + count)), "the fast client got every event, in order"
    lags.sort()
    assert lags[int(len(lags) * 0.99)] < 0.5, f"fast client lagged: p99 {lags[int(len(lags) * 0.99)]:.3f} s"

    # Now the slow client reads: what was buffered before it fell behind, then the close.
    slow_messages = await read_until_closed(slow, timeout=15)
    assert slow.close_code == 1013
    assert 1 < len(slow_messages) < count + 1
    assert seqs_of(slow_messages) == list(range(first_seq, first_seq + len(slow_messages) - 1))
    await fast.close()
    async with httpx.AsyncClient(base_url=gateway) as client:
        for _ in range(50):
            if "clipforge_gateway_websockets 0.0" in (await client.get("/metrics")).text:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("sockets left open in the gateway")


async def test_slow_sse_client_is_cut_off_while_others_keep_up(
    start_gateway: StartGateway, api_key: str, store: JobStore, driver: Driver
) -> None:
    gateway = await start_gateway(websocket_buffer_events=8, live_close_timeout_seconds=1)
    job = await new_job(store)
    await driver.claim(job["_id"], Stage.INGEST)
    host, port = gateway.split("//")[1].split(":")
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect((host, int(port)))
    raw.sendall(
        f"GET /v1/jobs/{job['_id']}/events HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n"
        f"Authorization: Bearer {api_key}\r\n\r\n".encode()
    )
    fast = await websockets.connect(ws_url(gateway, f"/v1/jobs/{job['_id']}/events", api_key))
    await fast.recv()
    count = 300
    for step in range(count):
        await driver.progress(job["_id"], Stage.INGEST, step / count, f"{step} {'y' * 20_000}")
    fast_messages = await read_n(fast, count)
    assert seqs_of(fast_messages) == list(range(2, count + 2))
    await fast.close()

    def drain() -> bytes:
        raw.settimeout(10)
        chunks = []
        while chunk := raw.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)

    body = await asyncio.to_thread(drain)  # returns once the server has closed the connection
    raw.close()
    assert body.startswith(b"HTTP/1.1 200")
    delivered = body.count(b"event: progress")
    assert 0 < delivered < count, "cut off part way, not after the whole stream"


# --- pure helpers ---------------------------------------------------------------------------


def test_cursor_round_trip_and_rejects_garbage() -> None:
    cursor = TenantCursor(since_ms=1_764_000_000_123, jobs={"6742aa": 3, "6742bb": 12})
    assert TenantCursor.decode(cursor.encode()) == cursor
    for garbage in ("", "abc", "eyJ0IjoxfQ", "!!!"):
        with pytest.raises(ValueError):
            TenantCursor.decode(garbage)


def test_job_eta_is_none_without_a_stage_eta_and_zero_at_the_end() -> None:
    base = {"job_id": "j", "tenant_id": "t", "correlation_id": "j", "seq": 1, "message": ""}
    queued = JobProgress(**base, status="queued", stage="queued", percent=0, stage_percent=0)
    rendering = JobProgress(**base, status="rendering", stage="render", percent=82.5, stage_percent=50, eta_seconds=10)
    done = JobProgress(**base, status="completed", stage="completed", percent=100, stage_percent=100)
    assert job_eta_seconds(queued) is None
    assert job_eta_seconds(rendering) == 10.0  # the last stage: nothing after it
    assert job_eta_seconds(done) == 0.0


async def test_api_key_of_another_tenant_sees_only_its_own_tenant_stream(
    start_gateway: StartGateway, store: JobStore, driver: Driver
) -> None:
    gateway = await start_gateway()
    other_key = (await KeyStore(store.db).create("other", "test")).api_key
    mine = await new_job(store)
    async with websockets.connect(ws_url(gateway, "/v1/events", other_key)) as socket_:
        snapshot = json.loads(await socket_.recv())
        await driver.claim(mine["_id"], Stage.INGEST)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.0):
                await socket_.recv()
    assert snapshot["jobs"] == []
