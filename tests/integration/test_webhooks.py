"""Signed job notifications, retried with backoff, durable across gateway restarts.

A real HTTP receiver on 127.0.0.1 answers each attempt as its script says; outcomes reach the
gateway as ``clips.ready`` / ``job.failed`` messages on the real broker, as the workers send them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import httpx
import pytest
import uvicorn
from support import publish_json

from clipforge.devstack.ports import free_port
from clipforge.gateway.app import create_app
from clipforge.gateway.settings import GatewaySettings
from clipforge.gateway.webhooks import DeliveryQueue, WebhookPayload, verify
from clipforge.shared.events import ClipsReady, JobFailed, new_event_id
from clipforge.shared.jobs import JobStore
from clipforge.shared.models import Clip, JobError, JobOptions, SourceRef
from clipforge.shared.settings import Settings
from clipforge.shared.topology import Topology

pytestmark = pytest.mark.integration

FAST = {
    "webhook_allow_private_targets": True,
    "webhook_base_delay_seconds": 0.3,
    "webhook_max_attempts": 5,
    "webhook_timeout_seconds": 0.5,
    "webhook_lease_seconds": 2.0,
    "webhook_poll_interval_seconds": 0.1,
}

Action = int | float  # an HTTP status to answer, or seconds to stay silent (a timeout)


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    at: float


@dataclass
class Receiver:
    """A loopback HTTP server that answers attempt n with ``script[n]`` (then 200) and records each."""

    script: list[Action] = field(default_factory=list)
    delay_seconds: float = 0.0
    received: list[Received] = field(default_factory=list)
    url: str = ""

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        action = self.script[len(self.received)] if len(self.received) < len(self.script) else 200
        self.received.append(
            Received(body, {k.decode().lower(): v.decode() for k, v in scope["headers"]}, time.monotonic())
        )
        if isinstance(action, float):
            await asyncio.sleep(action)
            action = 200
        await asyncio.sleep(self.delay_seconds)
        await send({"type": "http.response.start", "status": action, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"thanks"})

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(request.body) for request in self.received]


@asynccontextmanager
async def serving(app: Any, port: int) -> AsyncIterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="auto")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[Receiver]:
    async with serving(receiver, free_port()) as url:
        receiver.url = url + "/hooks/clipforge"
        yield receiver


def gateway(settings: Settings, **overrides: Any) -> Any:
    port = free_port()
    gateway_settings = GatewaySettings(**{**settings.model_dump(), "http_port": port, **FAST, **overrides})
    return serving(create_app(gateway_settings), port)


def client(url: str, api_key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {api_key}"})


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.05)


def clip() -> Clip:
    return Clip(
        index=1,
        start=1.0,
        end=16.0,
        duration_seconds=15.0,
        score=80.0,
        reason="r",
        text="t",
        media_key="jobs/x/clips/clip-01.mp4",
        size_bytes=1000,
        width=320,
        height=240,
    )


async def complete(store: JobStore, amqp: aio_pika.abc.AbstractChannel, settings: Settings, job_id: str) -> str:
    """What render does at the end: the job completed with its clips, then ``clips.ready``."""
    await store.jobs.update_one(
        {"_id": job_id}, {"$set": {"status": "completed", "clips": [clip().model_dump()], "progress": 100.0}}
    )
    event = ClipsReady(job_id=job_id, tenant_id="default", correlation_id=new_event_id(), clips=[clip()])
    await publish_json(amqp, Topology(settings.topology_prefix), event.topic, event.model_dump_json().encode())
    return event.event_id


async def fail(store: JobStore, amqp: aio_pika.abc.AbstractChannel, settings: Settings, job_id: str) -> JobFailed:
    error = JobError(stage="ingest", code="no_media_found", message="The link does not lead to a video.")
    await store.fail_job(job_id, error)
    event = JobFailed(job_id=job_id, tenant_id="default", correlation_id=new_event_id(), error=error)
    await publish_json(amqp, Topology(settings.topology_prefix), event.topic, event.model_dump_json().encode())
    return event


async def job_with_callback(store: JobStore, url: str) -> str:
    job = await store.create(
        tenant_id="default",
        source=SourceRef(url="http://127.0.0.1:9/talk.mp4"),
        options=JobOptions(),
        extra={"callback_url": url},
    )
    return str(job["_id"])


async def log_of(store: JobStore, job_id: str) -> list[dict[str, Any]]:
    job = await store.get(job_id)
    return list((job or {}).get("webhooks") or [])


async def test_completion_is_signed_and_retried_with_backoff_until_delivered(
    settings: Settings, store: JobStore, api_key: str, amqp: aio_pika.abc.AbstractChannel
) -> None:
    async with receiving(Receiver(script=[500, 2.0, 503])) as receiver, gateway(settings) as url:
        async with client(url, api_key) as http:
            created = await http.post(
                "/v1/jobs", json={"url": "http://127.0.0.1:9/a.mp4", "callback_url": receiver.url}
            )
            job_id = created.json()["id"]
            event_id = await complete(store, amqp, settings, job_id)
            log = await eventually(lambda: _last_outcome_is(store, job_id, "delivered"), timeout=30)
            secret = (await http.get("/v1/webhooks/secret")).json()["secret"]
            view = (await http.get(f"/v1/jobs/{job_id}")).json()

    assert len(receiver.received) == 4
    bodies = {request.body for request in receiver.received}
    assert len(bodies) == 1, "every retry sends the same body"
    for request in receiver.received:
        assert verify(secret, request.headers["x-clipforge-signature"], request.body)
        assert not verify(secret, request.headers["x-clipforge-signature"], request.body + b" ")
        assert not verify("whsec_someone-else", request.headers["x-clipforge-signature"], request.body)
        assert request.headers["x-clipforge-event"] == "job.completed"
        assert request.headers["x-clipforge-delivery"] == event_id
    payload = WebhookPayload.model_validate_json(receiver.received[0].body)
    assert (payload.type, payload.job_id, payload.status, payload.id) == (
        "job.completed",
        job_id,
        "completed",
        event_id,
    )
    assert payload.clips[0].url == f"/v1/jobs/{job_id}/clips/1" and payload.error is None

    gaps = [later.at - earlier.at for earlier, later in zip(receiver.received, receiver.received[1:], strict=False)]
    base, timeout = FAST["webhook_base_delay_seconds"], FAST["webhook_timeout_seconds"]
    assert gaps[0] >= base and gaps[1] >= 2 * base + timeout and gaps[2] >= 4 * base, gaps

    assert [(e["attempt"], e["status_code"], e["outcome"]) for e in log] == [
        (1, 500, "retrying"),
        (2, None, "retrying"),
        (3, 503, "retrying"),
        (4, 200, "delivered"),
    ]
    assert log[1]["error"].startswith("no answer within")
    assert [e["attempt"] for e in view["webhooks"]] == [1, 2, 3, 4]
    assert view["webhooks"][-1]["outcome"] == "delivered" and view["callback_url"] == receiver.url
    assert await store.db["webhook_deliveries"].count_documents({}) == 0


async def _last_outcome_is(store: JobStore, job_id: str, outcome: str) -> list[dict[str, Any]] | None:
    log = await log_of(store, job_id)
    return log if log and log[-1]["outcome"] == outcome else None


async def test_failure_notification_carries_the_error(
    settings: Settings, store: JobStore, api_key: str, amqp: aio_pika.abc.AbstractChannel
) -> None:
    async with receiving(Receiver()) as receiver, gateway(settings) as url:
        job_id = await job_with_callback(store, receiver.url)
        event = await fail(store, amqp, settings, job_id)
        await eventually(lambda: _last_outcome_is(store, job_id, "delivered"))
        async with client(url, api_key) as http:
            secret = (await http.get("/v1/webhooks/secret")).json()["secret"]
    [request] = receiver.received
    assert verify(secret, request.headers["x-clipforge-signature"], request.body)
    payload = json.loads(request.body)
    assert payload["type"] == "job.failed" and payload["status"] == "failed" and payload["clips"] == []
    assert payload["error"] == event.error.model_dump()


async def test_a_receiver_that_never_accepts_gets_max_attempts_then_the_delivery_is_dropped(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel
) -> None:
    async with receiving(Receiver(script=[500] * 10)) as receiver, gateway(settings, webhook_max_attempts=3):
        job_id = await job_with_callback(store, receiver.url)
        await complete(store, amqp, settings, job_id)
        log = await eventually(lambda: _last_outcome_is(store, job_id, "failed"))
        await asyncio.sleep(1.0)  # nothing more arrives after the last attempt
    assert [(e["attempt"], e["outcome"]) for e in log] == [(1, "retrying"), (2, "retrying"), (3, "failed")]
    assert len(receiver.received) == 3 and log[-1]["next_attempt_at"] is None
    assert await store.db["webhook_deliveries"].count_documents({}) == 0


async def test_callbacks_to_private_addresses_are_refused_unless_allowed(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel
) -> None:
    async with receiving(Receiver()) as receiver, gateway(settings, webhook_allow_private_targets=False):
        job_id = await job_with_callback(store, receiver.url)
        await complete(store, amqp, settings, job_id)
        log = await eventually(lambda: _last_outcome_is(store, job_id, "failed"))
    assert receiver.received == []
    assert len(log) == 1 and "127.0.0.1" in log[0]["error"] and "not a public address" in log[0]["error"]


async def test_a_pending_retry_survives_a_gateway_restart(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel
) -> None:
    slow = {"webhook_base_delay_seconds": 1.5}
    async with receiving(Receiver(script=[500])) as receiver:
        async with gateway(settings, **slow):
            job_id = await job_with_callback(store, receiver.url)
            await complete(store, amqp, settings, job_id)
            await eventually(lambda: _last_outcome_is(store, job_id, "retrying"))
        # The only gateway is gone with the retry still due; the queue keeps it.
        pending = await store.db["webhook_deliveries"].find_one({"job_id": job_id})
        assert pending is not None and pending["attempts"] == 1
        assert len(receiver.received) == 1
        async with gateway(settings):
            log = await eventually(lambda: _last_outcome_is(store, job_id, "delivered"))
    assert [e["attempt"] for e in log] == [1, 2] and len(receiver.received) == 2


async def test_a_delivery_claimed_by_a_replica_that_died_is_sent_once_its_lease_ends(
    settings: Settings, store: JobStore
) -> None:
    queue = DeliveryQueue(store.db)
    async with receiving(Receiver()) as receiver:
        job_id = await job_with_callback(store, receiver.url)
        payload = WebhookPayload(
            id=new_event_id(),
            type="job.failed",
            created_at=datetime.now(UTC),
            job_id=job_id,
            status="failed",
            error=JobError(stage="render", code="render_failed", message="x"),
            links={"self": f"/v1/jobs/{job_id}", "events": f"/v1/jobs/{job_id}/events"},
        )
        await queue.enqueue(payload, tenant_id="default", url=receiver.url)
        assert len(await queue.claim_due(1, lease_seconds=1.5)) == 1  # ...and then this "replica" dies
        claimed_at = time.monotonic()
        async with gateway(settings):
            await eventually(lambda: _last_outcome_is(store, job_id, "delivered"))
    [request] = receiver.received
    assert request.at - claimed_at >= 1.4, "nobody may send it while the lease holds"
    assert json.loads(request.body)["id"] == payload.id
    assert (await log_of(store, job_id))[0]["attempt"] == 2


async def test_two_replicas_deliver_every_notification_exactly_once(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel
) -> None:
    async with (
        receiving(Receiver(delay_seconds=0.05)) as receiver,
        gateway(settings, webhook_concurrency=4),
        gateway(settings, webhook_concurrency=4),
    ):
        job_ids = [await job_with_callback(store, receiver.url) for _ in range(24)]
        for job_id in job_ids:
            await fail(store, amqp, settings, job_id)

        async def all_delivered() -> bool:
            return all([await _last_outcome_is(store, job_id, "delivered") for job_id in job_ids])

        await eventually(all_delivered, timeout=40)
        await asyncio.sleep(0.5)
    ids = [payload["id"] for payload in receiver.payloads()]
    assert len(ids) == 24 and len(set(ids)) == 24, "each notification exactly once"
    assert sorted(payload["job_id"] for payload in receiver.payloads()) == sorted(job_ids)


async def test_a_redelivered_outcome_event_is_not_notified_twice(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel
) -> None:
    async with receiving(Receiver(script=[500])) as receiver, gateway(settings):
        job_id = await job_with_callback(store, receiver.url)
        error = JobError(stage="ingest", code="no_media_found", message="x")
        event = JobFailed(job_id=job_id, tenant_id="default", correlation_id=new_event_id(), error=error)
        for _ in range(2):  # the same event twice, as after a crash before the ack
            await publish_json(amqp, Topology(settings.topology_prefix), event.topic, event.model_dump_json().encode())
        await eventually(lambda: _last_outcome_is(store, job_id, "delivered"))
        await asyncio.sleep(1.0)
    assert len(receiver.received) == 2  # one failed attempt, one retry: one notification
    assert {json.loads(r.body)["id"] for r in receiver.received} == {event.event_id}


async def test_rotation_signs_with_both_secrets_during_the_grace_period(
    settings: Settings, store: JobStore, api_key: str, amqp: aio_pika.abc.AbstractChannel
) -> None:
    from clipforge.gateway.keys import KeyStore

    other_key = (await KeyStore(store.db).create("other", "test")).api_key
    async with receiving(Receiver()) as receiver, gateway(settings) as url:
        async with client(url, api_key) as http, client(url, other_key) as other:
            first = (await http.get("/v1/webhooks/secret")).json()
            again = (await http.get("/v1/webhooks/secret")).json()
            rotated = (await http.post("/v1/webhooks/secret/rotate")).json()
            neighbour = (await other.get("/v1/webhooks/secret")).json()
        job_id = await job_with_callback(store, receiver.url)
        await complete(store, amqp, settings, job_id)
        await eventually(lambda: _last_outcome_is(store, job_id, "delivered"))
    assert first["secret"] == again["secret"] and first["secret"].startswith("whsec_")
    assert rotated["secret"] != first["secret"] and neighbour["secret"] not in (first["secret"], rotated["secret"])
    valid_until = datetime.fromisoformat(rotated["previous_valid_until"])
    assert valid_until > datetime.now(UTC) + timedelta(hours=23)
    [request] = receiver.received
    header = request.headers["x-clipforge-signature"]
    assert header.count("v1=") == 2
    assert verify(rotated["secret"], header, request.body) and verify(first["secret"], header, request.body)
    assert not verify(neighbour["secret"], header, request.body)


def test_signatures_expire_and_are_bound_to_the_timestamp() -> None:
    from clipforge.gateway.webhooks import sign

    body = b'{"id": "x"}'
    header = sign(["whsec_a"], body, timestamp=1_000_000)
    assert verify("whsec_a", header, body, now=1_000_000 + 299)
    assert not verify("whsec_a", header, body, now=1_000_000 + 301), "too old: a replay"
    forged = header.replace("t=1000000", "t=1000300")
    assert not verify("whsec_a", forged, body, now=1_000_300), "the timestamp is signed"
