"""The dead-letter queue for operators: list what is parked there and why, send it back.

Used by the admin API (``routes/admin.py``) and the CLI (``python -m clipforge.gateway.dead_letters``).

``<prefix>.dead`` holds messages a stage could not parse, messages of jobs that failed (with
``x-clipforge-stage/code/reason`` headers, see the stage runner) and messages RabbitMQ
dead-lettered itself after the delivery limit (``x-death`` headers). Reading never loses one:
messages are taken with ``basic.get`` without ack on a channel of their own, and closing that
channel gives back to the queue every message not explicitly acked. Only a message that was
republished to the pipeline with a broker confirm is acked.

Sending back puts a message on the pipeline exchange under its original routing key (its stage
queue). A job that had failed is first reset from that stage, as ``POST /v1/jobs/{id}/retry``
does, so the stage claims it again; a message of a job that completed or was cancelled is left
where it is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from faststream.rabbit import Channel, RabbitBroker
from pydantic import BaseModel, ConfigDict, Field

from clipforge.gateway.settings import GatewaySettings
from clipforge.shared.jobs import JobStore, connect
from clipforge.shared.models import JobStatus, Stage
from clipforge.shared.progress import ProgressEmitter
from clipforge.shared.topology import STAGE_INPUT, Topology

# Headers that said why a message was parked: not carried back into the pipeline.
PARKING_HEADER_PREFIXES = ("x-clipforge-", "x-death", "x-first-death", "x-last-death", "x-delivery-count")
STAGE_OF_EVENT = {event.routing_key: stage for stage, event in STAGE_INPUT.items()}
MAX_SCAN = 10_000

Emit = Callable[[dict[str, Any]], Awaitable[Any]]


class DeadLetter(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "d41f0e7c2a9b4c1e8f3a6b5d",
                    "stage": "ingest",
                    "code": "source_unreachable",
                    "reason": "We gave up after 4 attempts: The video's site did not answer.",
                    "job_id": "6742c1f0a9e4b3d2c1f0a9e4",
                    "routing_key": "interactive.job.requested",
                    "attempts": 4,
                    "dead_at": "2026-11-24T10:15:06Z",
                    "source": "stage",
                }
            ]
        }
    )

    id: str = Field(description="Stable identifier of the parked message; pass it to requeue.")
    stage: str | None = Field(description="The stage (or service) that parked it.")
    code: str | None = Field(description="Why: the job's error code, `unparseable_message`, or `delivery_limit`.")
    reason: str | None = Field(description="Why, for a person.")
    job_id: str | None
    routing_key: str | None = Field(description="Where requeue sends it on the pipeline exchange.")
    attempts: int | None = Field(default=None, description="Attempts the stage made before giving up.")
    dead_at: datetime | None = None
    source: Literal["stage", "broker"] = Field(
        description="`stage`: parked by the stage runner; `broker`: dead-lettered by RabbitMQ (delivery limit)."
    )


class DeadLetterList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": "5c0e3b7a9d1f4e2a8b6c4d0e",
                            "stage": "render",
                            "code": "delivery_limit",
                            "reason": "RabbitMQ dead-lettered it from clipforge.render (delivery_limit).",
                            "job_id": "6742c1f0a9e4b3d2c1f0a9e4",
                            "routing_key": "interactive.highlights.ready",
                            "attempts": None,
                            "dead_at": "2026-11-24T10:15:06Z",
                            "source": "broker",
                        }
                    ],
                    "more": False,
                }
            ]
        }
    )

    items: list[DeadLetter]
    more: bool = Field(description="More messages are parked than were listed (raise `limit`).")


class RequeueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"ids": ["d41f0e7c2a9b4c1e8f3a6b5d"]}]})

    ids: list[str] = Field(default_factory=list, max_length=1000, description="Messages to send back.")
    all: bool = Field(default=False, description="Send back every parked message instead.")


class RequeueOutcome(BaseModel):
    id: str
    job_id: str | None
    outcome: Literal["requeued", "skipped", "not_found"]
    detail: str


class RequeueReport(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "requeued": 1,
                    "outcomes": [
                        {
                            "id": "d41f0e7c2a9b4c1e8f3a6b5d",
                            "job_id": "6742c1f0a9e4b3d2c1f0a9e4",
                            "outcome": "requeued",
                            "detail": "The failed job was reset from ingest and its message sent back.",
                        }
                    ],
                }
            ]
        }
    )

    requeued: int
    outcomes: list[RequeueOutcome]


@dataclass(frozen=True)
class Parked:
    message: AbstractIncomingMessage
    view: DeadLetter


def describe(message: AbstractIncomingMessage) -> DeadLetter:
    headers = dict(message.headers or {})
    deaths = headers.get("x-death") or []
    first_death: dict[str, Any] = dict(deaths[0]) if deaths else {}  # the most recent comes first
    body = _json_body(message.body)
    job_id = body.get("job_id") if isinstance(body.get("job_id"), str) else None
    routing_key = _text(headers.get("x-clipforge-routing-key")) or _first(first_death.get("routing-keys"))
    if routing_key is None and isinstance(body.get("priority"), str) and "x-clipforge-stage" in headers:
        stage_name = _text(headers.get("x-clipforge-stage"))
        if stage_name in {stage.value for stage in Stage}:
            routing_key = f"{body['priority']}.{STAGE_INPUT[Stage(stage_name)].routing_key}"
    parked_by_stage = "x-clipforge-code" in headers
    if parked_by_stage:
        stage, code, reason = (
            _text(headers.get("x-clipforge-stage")),
            _text(headers.get("x-clipforge-code")),
            _text(headers.get("x-clipforge-reason")),
        )
        dead_at = _time(headers.get("x-clipforge-dead-at"))
    else:
        stage = _stage_of(routing_key)
        code = "delivery_limit" if first_death.get("reason") == "delivery_limit" else _text(first_death.get("reason"))
        reason = f"RabbitMQ dead-lettered it from {first_death.get('queue', 'a queue')} ({code})."
        dead_at = _time(first_death.get("time"))
    attempts = headers.get("x-clipforge-attempts")
    return DeadLetter(
        id=_identity(message, headers),
        stage=stage,
        code=code,
        reason=reason,
        job_id=job_id,
        routing_key=routing_key,
        attempts=int(attempts) if isinstance(attempts, int) else None,
        dead_at=dead_at,
        source="stage" if parked_by_stage else "broker",
    )


class DeadLetterQueue:
    def __init__(self, amqp_url: str, topology: Topology, store: JobStore, *, emit: Emit | None = None) -> None:
        self.amqp_url = amqp_url
        self.topology = topology
        self.store = store
        self.emit = emit

    @contextlib.asynccontextmanager
    async def _channel(self) -> AsyncIterator[AbstractChannel]:
        """A channel of its own: closing it returns every message taken and not acked."""
        connection = await aio_pika.connect(self.amqp_url)
        try:
            yield await connection.channel(publisher_confirms=True, on_return_raises=True)
        finally:
            await connection.close()

    async def _take(self, channel: AbstractChannel, limit: int) -> AsyncIterator[Parked]:
        queue = await channel.get_queue(self.topology.dead_queue.name, ensure=False)
        for _ in range(limit):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                return
            yield Parked(message, describe(message))

    async def list(self, limit: int = 100) -> DeadLetterList:
        async with self._channel() as channel:
            items = [parked.view async for parked in self._take(channel, limit + 1)]
        return DeadLetterList(items=items[:limit], more=len(items) > limit)

    async def requeue(self, ids: set[str] | None) -> RequeueReport:
        """Send back the parked messages with these ids (every one when ``ids`` is None)."""
        outcomes: list[RequeueOutcome] = []
        seen: set[str] = set()
        async with self._channel() as channel:
            exchange = await channel.get_exchange(self.topology.pipeline.name, ensure=False)
            async for parked in self._take(channel, MAX_SCAN):
                if ids is not None and parked.view.id not in ids:
                    continue
                if parked.view.id in seen:
                    continue  # the same message parked twice (a redelivery): send it back once
                seen.add(parked.view.id)
                outcome = await self._send_back(exchange, parked)
                outcomes.append(outcome)
                if ids is not None and seen >= ids:
                    break
        for missing in sorted((ids or set()) - seen):
            outcomes.append(RequeueOutcome(id=missing, job_id=None, outcome="not_found", detail="No such message."))
        return RequeueReport(requeued=sum(o.outcome == "requeued" for o in outcomes), outcomes=outcomes)

    async def _send_back(self, exchange: aio_pika.abc.AbstractExchange, parked: Parked) -> RequeueOutcome:
        view, message = parked.view, parked.message
        if not view.routing_key:
            return RequeueOutcome(
                id=view.id, job_id=view.job_id, outcome="skipped", detail="Its original routing key is unknown."
            )
        detail = "Sent back to its queue."
        stage = _stage_of(view.routing_key)
        if view.job_id is not None and stage is not None:
            job = await self.store.get(view.job_id)
            if job is not None and job["status"] in (JobStatus.COMPLETED.value, JobStatus.CANCELLED.value):
                return RequeueOutcome(
                    id=view.id, job_id=view.job_id, outcome="skipped", detail=f"The job is {job['status']}."
                )
            failed_at = ((job or {}).get("error") or {}).get("stage")
            if job is not None and job["status"] == JobStatus.FAILED.value and failed_at != stage:
                return RequeueOutcome(
                    id=view.id,
                    job_id=view.job_id,
                    outcome="skipped",
                    detail=f"The job failed later, at {failed_at}; retry it with POST /v1/jobs/{{id}}/retry.",
                )
            if job is not None and job["status"] == JobStatus.FAILED.value:
                reset = await self.store.reset_for_retry(view.job_id, job["tenant_id"], Stage(stage))
                if reset is not None and self.emit is not None:
                    await self.emit(reset)
                detail = f"The failed job was reset from {stage} and its message sent back."
        headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith(PARKING_HEADER_PREFIXES)}
        await exchange.publish(
            aio_pika.Message(
                message.body,
                headers=headers,
                content_type=message.content_type or "application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message.message_id,
                correlation_id=message.correlation_id,
            ),
            routing_key=view.routing_key,
            mandatory=True,
        )
        await message.ack()  # only now: the broker has confirmed the copy on the pipeline
        return RequeueOutcome(id=view.id, job_id=view.job_id, outcome="requeued", detail=detail)


def _identity(message: AbstractIncomingMessage, headers: dict[str, Any]) -> str:
    parked_id = _text(headers.get("x-clipforge-dead-id"))
    if parked_id:
        return parked_id
    deaths = headers.get("x-death") or [{}]
    seed = repr((message.body, message.message_id, str(dict(deaths[0]).get("time"))))
    return hashlib.sha256(seed.encode()).hexdigest()[:24]


def _stage_of(routing_key: str | None) -> str | None:
    if not routing_key:
        return None
    event = routing_key.split(".", 1)[-1]
    if event in STAGE_OF_EVENT:
        return STAGE_OF_EVENT[event].value
    return "transcribe" if event == "transcribe.chunk" else None


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        decoded = json.loads(body)
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _first(values: Any) -> str | None:
    return _text(values[0]) if isinstance(values, list) and values else None


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str | bytes):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(_text(value) or "")
    return None


# --- the CLI ----------------------------------------------------------------------------


async def _run(args: argparse.Namespace) -> int:
    settings = GatewaySettings()
    topology = Topology(settings.topology_prefix)
    client = connect(settings.mongo_url, settings.database_timeout_ms)
    broker = RabbitBroker(settings.amqp_url, default_channel=Channel(publisher_confirms=True))
    try:
        store = JobStore(client[settings.mongo_database])
        if args.command == "list":
            listing = await DeadLetterQueue(settings.amqp_url, topology, store).list(args.limit)
            if args.json:
                print(listing.model_dump_json(indent=2))
            for item in [] if args.json else listing.items:
                when = item.dead_at.isoformat(timespec="seconds") if item.dead_at else "-"
                print(f"{item.id}  {when:<25} {item.stage or '-':<10} {item.code or '-':<22} job {item.job_id or '-'}")
                print(f"    {item.reason or ''}")
            if listing.more and not args.json:
                print(f"(more than {args.limit} parked; use --limit)")
            return 0
        if not args.all and not args.ids:
            print("name the messages to send back, or --all", file=sys.stderr)
            return 2
        await broker.connect()
        emitter = ProgressEmitter(broker, store, topology)
        queue = DeadLetterQueue(settings.amqp_url, topology, store, emit=emitter.emit)
        report = await queue.requeue(None if args.all else set(args.ids))
        for outcome in report.outcomes:
            print(f"{outcome.id}  {outcome.outcome:<9} job {outcome.job_id or '-'}: {outcome.detail}")
        print(f"{report.requeued} sent back")
        return 0 if all(o.outcome != "not_found" for o in report.outcomes) else 1
    finally:
        await broker.stop()
        await client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m clipforge.gateway.dead_letters",
        description="List the dead-letter queue, or send messages back to their stage. Reads CLIPFORGE_* settings.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="list parked messages with stage, code, reason, job and time")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true")
    requeue = commands.add_parser("requeue", help="send messages back to their stage queue")
    requeue.add_argument("ids", nargs="*", help="ids shown by list")
    requeue.add_argument("--all", action="store_true", help="every parked message")
    return asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
