"""The AsyncAPI 3.0 document of the pipeline, generated from the code.

Message payloads are the JSON schemas of the event models (``clipforge.shared.events``);
exchanges, routing keys and queues come from :class:`~clipforge.shared.topology.Topology`; who
sends and receives what follows the stage order and ``STAGE_INPUT``. The committed copy is
``docs/asyncapi.json``; a unit test regenerates it and fails when it differs, so a change to an
event or the topology cannot land without its contract.

    python -m clipforge.shared.asyncapi docs/asyncapi.json          # write
    python -m clipforge.shared.asyncapi --check docs/asyncapi.json  # exit 1 if out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faststream.rabbit import ExchangeType, RabbitExchange, RabbitQueue
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from clipforge.shared import events as events_module
from clipforge.shared.events import (
    PRIORITIES,
    ClipsReady,
    ControlCommand,
    Event,
    HighlightsReady,
    JobFailed,
    JobProgress,
    JobRequested,
    MediaReady,
    TranscriptionChunk,
    TranscriptReady,
)
from clipforge.shared.models import (
    Clip,
    Highlight,
    JobError,
    JobOptions,
    JobStatus,
    MediaInfo,
    SourceRef,
    Stage,
)
from clipforge.shared.settings import Settings
from clipforge.shared.topology import DELIVERY_LIMIT, RETRY_DELAY_HEADER, STAGE_INPUT, Topology

Document = dict[str, Any]

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING_VERSION = "0.3.0"
SCHEMA_REF = "#/components/schemas/{model}"


def _pipeline_events() -> tuple[type[Event], ...]:
    """Every event type of ``clipforge.shared.events`` that travels on the pipeline exchange, in definition order."""
    found: list[type[Event]] = []
    pending = list(Event.__subclasses__())
    while pending:
        event = pending.pop(0)
        if event.__module__ == events_module.__name__ and event not in found:
            found.append(event)
            pending.extend(event.__subclasses__())
    return tuple(event for event in found if event is not JobProgress)


PIPELINE_EVENTS = _pipeline_events()
ALL_MESSAGES: tuple[type[BaseModel], ...] = (*PIPELINE_EVENTS, JobProgress, ControlCommand)
SERVICES: tuple[str, ...] = (*(stage.value for stage in Stage), "gateway")

DESCRIPTION = """Events between the ClipForge services over RabbitMQ.

Every pipeline event is published persistent, `mandatory` and with a publisher confirm on the
`{pipeline}` topic exchange with the routing key `<priority>.<event type>`; each stage consumes
its own quorum queues (one per priority class), acks only after its next event is confirmed, and
dead-letters what it cannot handle to `{dead}`. Live progress is transient on the `{progress}`
fanout exchange (one exclusive queue per gateway replica); cancellation is broadcast on
`{control}` (one exclusive queue per worker process). A stage attempt that failed for a reason
that may pass goes through `{retry}` to a delay queue and back to its stage queue. Events keep
unknown fields, so an older
service passes on what a newer one added. Generated from the code by `clipforge.shared.asyncapi`.
"""


# --- examples -----------------------------------------------------------------------------

_JOB = {
    "job_id": "6742c1f0a9e4b3d2c1f0a9e4",
    "tenant_id": "acme",
    "event_id": "0b6f3c1e9d2a4f7e8c5b1a3d6e9f2c4b",
    "correlation_id": "5d1e8a7c3b9f4e2d8a6c1b7e3f9d2a5c",
    "emitted_at": datetime(2026, 11, 24, 10, 15, 6, tzinfo=UTC),
}
_OPTIONS = JobOptions(max_clips=3, aspect="9:16")
_MEDIA = MediaInfo(
    duration_seconds=1312.5,
    size_bytes=187_220_114,
    container="mov,mp4,m4a,3gp,3g2,mj2",
    video_codec="h264",
    audio_codec="aac",
    width=1920,
    height=1080,
    fps=30.0,
    has_audio=True,
    has_video=True,
)
_KEYS = {"video_key": "jobs/6742c1f0a9e4b3d2c1f0a9e4/source.mp4"}
_TRANSCRIPT_KEY = "jobs/6742c1f0a9e4b3d2c1f0a9e4/transcript.json"
_HIGHLIGHT = Highlight(
    start=62.4,
    end=98.1,
    score=87.5,
    reason="A complete answer with a clear hook and a strong finish.",
    text="Engineers measure everything before they change anything...",
    title="Measure before you change",
    keywords=["measure", "engineers"],
)


def _examples() -> dict[str, BaseModel]:
    """One example per message, built through the models so it always matches its schema."""
    return {
        "JobRequested": JobRequested(
            **_JOB, source=SourceRef(url="https://www.youtube.com/watch?v=dQw4w9WgXcQ"), options=_OPTIONS
        ),
        "MediaReady": MediaReady(
            **_JOB, options=_OPTIONS, media=_MEDIA, audio_key="jobs/6742c1f0a9e4b3d2c1f0a9e4/audio.wav", **_KEYS
        ),
        "TranscriptReady": TranscriptReady(
            **_JOB, options=_OPTIONS, media=_MEDIA, transcript_key=_TRANSCRIPT_KEY, **_KEYS
        ),
        "HighlightsReady": HighlightsReady(
            **_JOB,
            options=_OPTIONS,
            media=_MEDIA,
            transcript_key=_TRANSCRIPT_KEY,
            highlights=[_HIGHLIGHT],
            **_KEYS,
        ),
        "ClipsReady": ClipsReady(
            **_JOB,
            clips=[
                Clip(
                    index=1,
                    start=_HIGHLIGHT.start,
                    end=_HIGHLIGHT.end,
                    duration_seconds=35.7,
                    score=_HIGHLIGHT.score,
                    reason=_HIGHLIGHT.reason,
                    text=_HIGHLIGHT.text,
                    title=_HIGHLIGHT.title,
                    media_key="jobs/6742c1f0a9e4b3d2c1f0a9e4/clips/clip-01.mp4",
                    size_bytes=4_812_337,
                    width=1080,
                    height=1920,
                )
            ],
        ),
        "JobFailed": JobFailed(
            **_JOB,
            error=JobError(stage="ingest", code="no_media_found", message="The link does not lead to a video."),
        ),
        "JobProgress": JobProgress(
            **_JOB,
            seq=17,
            status=JobStatus.TRANSCRIBING,
            stage="transcribe",
            percent=41.2,
            stage_percent=53.0,
            message="Transcribing: 11:35 of 21:52",
            eta_seconds=24.0,
        ),
        "TranscriptionChunk": TranscriptionChunk(
            **_JOB,
            plan_id="c41f0b2e",
            index=2,
            count=5,
            audio_key="jobs/6742c1f0a9e4b3d2c1f0a9e4/audio.wav",
            start_seconds=524.8,
            end_seconds=791.2,
            language="en",
            result_key="jobs/6742c1f0a9e4b3d2c1f0a9e4/chunks/c41f0b2e-2.json",
        ),
        "ControlCommand": ControlCommand(job_id=_JOB["job_id"]),
    }


# --- building blocks ----------------------------------------------------------------------


def _ref(section: str, name: str) -> Document:
    return {"$ref": f"#/{section}/{name}"}


def _exchange_binding(exchange: RabbitExchange) -> Document:
    return {
        "name": exchange.name,
        "type": ExchangeType(exchange.type).value,
        "durable": exchange.durable,
        "autoDelete": exchange.auto_delete,
        "vhost": "/",
    }


def _routing_key_binding(exchange: RabbitExchange) -> Document:
    return {"is": "routingKey", "exchange": _exchange_binding(exchange), "bindingVersion": AMQP_BINDING_VERSION}


def _queue_binding(queue: RabbitQueue, name: str) -> Document:
    return {
        "name": name,
        "durable": queue.durable,
        "exclusive": queue.exclusive,
        "autoDelete": queue.auto_delete,
        "vhost": "/",
    }


def _message_name(message: type[BaseModel]) -> str:
    return message.__name__


def _routing_key(event: type[Event]) -> str:
    return event.routing_key


def _event_channel_id(event: type[Event]) -> str:
    return f"pipeline.{_routing_key(event)}"


def _queue_channel_id(queue_name: str, prefix: str) -> str:
    return "queue." + queue_name.removeprefix(prefix + ".").replace("{replica}", "replica")


def _topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: ``*`` is one word, ``#`` zero or more."""

    def match(words: list[str], parts: list[str]) -> bool:
        if not words:
            return not parts
        if words[0] == "#":
            return any(match(words[1:], parts[start:]) for start in range(len(parts) + 1))
        return bool(parts) and words[0] in ("*", parts[0]) and match(words[1:], parts[1:])

    return match(pattern.split("."), key.split("."))


def _routed(binding_key: str) -> tuple[type[Event], ...]:
    """The pipeline events a binding delivers, whatever their priority class."""
    return tuple(
        event
        for event in PIPELINE_EVENTS
        if any(_topic_matches(binding_key, f"{priority}.{event.routing_key}") for priority in PRIORITIES)
    )


def _messages(*messages: type[BaseModel]) -> Document:
    return {_message_name(m): _ref("components/messages", _message_name(m)) for m in messages}


def _channel_messages(channel_id: str, *messages: type[BaseModel]) -> list[Document]:
    return [_ref(f"channels/{channel_id}/messages", _message_name(m)) for m in messages]


# --- the document -------------------------------------------------------------------------


class _Builder:
    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.channels: Document = {}
        self.operations: Document = {}
        self.consumers: dict[str, list[type[Event]]] = {}

    def pipeline_channels(self) -> None:
        for event in PIPELINE_EVENTS:
            self.channels[_event_channel_id(event)] = {
                "address": "{priority}." + _routing_key(event),
                "title": f"{_routing_key(event)} on {self.topology.pipeline.name}",
                "description": (event.__doc__ or event.__name__).strip().splitlines()[0],
                "parameters": {"priority": _ref("components/parameters", "priority")},
                "messages": _messages(event),
                "bindings": {"amqp": _routing_key_binding(self.topology.pipeline)},
            }

    def _queue_channel(
        self,
        queue: RabbitQueue,
        messages: tuple[type[BaseModel], ...],
        bound_to: list[tuple[RabbitExchange, str]],
        *,
        name: str | None = None,
        description: str,
    ) -> str:
        queue_name = name or queue.name
        channel_id = _queue_channel_id(queue_name, self.topology.prefix)
        channel: Document = {
            "address": queue_name,
            "title": f"queue {queue_name}",
            "description": description,
            "messages": _messages(*messages),
            "bindings": {
                "amqp": {
                    "is": "queue",
                    "queue": _queue_binding(queue, queue_name),
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
            "x-clipforge-bindings": [{"exchange": exchange.name, "routingKey": key} for exchange, key in bound_to],
        }
        if queue.arguments:
            channel["x-clipforge-queue-arguments"] = dict(sorted(queue.arguments.items()))
        parameters = {
            name: _ref("components/parameters", name) for name in ("replica", "delay") if f"{{{name}}}" in queue_name
        }
        if parameters:
            channel["parameters"] = parameters
        self.channels[channel_id] = channel
        return channel_id

    def fanout_channel(self, channel_id: str, exchange: RabbitExchange, message: type[BaseModel], text: str) -> None:
        self.channels[channel_id] = {
            "address": None,  # fanout: every bound queue gets every message, whatever the routing key
            "title": f"the {exchange.name} fanout exchange",
            "description": text,
            "messages": _messages(message),
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": _exchange_binding(exchange),
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
        }

    def send(
        self, operation_id: str, channel_id: str, message: type[BaseModel], text: str, *, persistent: bool
    ) -> None:
        self.operations[operation_id] = {
            "action": "send",
            "channel": _ref("channels", channel_id),
            "summary": text,
            "messages": _channel_messages(channel_id, message),
            "bindings": {
                "amqp": {
                    "deliveryMode": 2 if persistent else 1,
                    "mandatory": persistent,
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
        }

    def receive(self, operation_id: str, channel_id: str, messages: tuple[type[BaseModel], ...], text: str) -> None:
        self.operations[operation_id] = {
            "action": "receive",
            "channel": _ref("channels", channel_id),
            "summary": text,
            "messages": _channel_messages(channel_id, *messages),
            "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING_VERSION}},
        }

    def _service_of(self, queue_name: str) -> str:
        """The service a work queue belongs to: its name after the prefix starts with the service."""
        first = queue_name.removeprefix(self.topology.prefix + ".").split(".")[0]
        return first if first in SERVICES else "any"

    def work_queues(self) -> None:
        """A channel and a consumer for every queue the topology binds to the pipeline exchange."""
        bound: dict[str, tuple[RabbitQueue, list[str]]] = {}
        for queue, key in self.topology.bindings():
            bound.setdefault(queue.name, (queue, []))[1].append(key)
        for name, (queue, keys) in bound.items():
            routed = tuple(dict.fromkeys(event for key in keys for event in _routed(key)))
            service = self._service_of(name)
            types = ", ".join(_routing_key(event) for event in routed)
            channel_id = self._queue_channel(
                queue,
                routed,
                [(self.topology.pipeline, key) for key in keys],
                description=f"Quorum work queue of {service}: {types}.",
            )
            self.consumers.setdefault(service, []).extend(routed)
            self.receive(
                f"{service}.consume.{channel_id.removeprefix('queue.')}",
                channel_id,
                routed,
                f"{service} takes {types}; acks only once what it sends next is confirmed.",
            )

    def internal_work(self) -> None:
        """Events no stage hands on (work a service splits off for itself): sent by the service consuming them."""
        sent = {
            message["$ref"].rsplit("/", 1)[-1]
            for operation in self.operations.values()
            if operation["action"] == "send"
            for message in operation["messages"]
        }
        for event in PIPELINE_EVENTS:
            if _message_name(event) in sent:
                continue
            service = next((name for name, routed in self.consumers.items() if event in routed), "any")
            summary = (event.__doc__ or _message_name(event)).strip().splitlines()[0]
            self.send(
                f"{service}.publish.{_routing_key(event)}", _event_channel_id(event), event, summary, persistent=True
            )

    def build(self) -> Document:
        topology = self.topology
        self.pipeline_channels()
        self.fanout_channel(
            "progress", topology.progress, JobProgress, "Live progress of every job, to every gateway replica."
        )
        self.fanout_channel("control", topology.control, ControlCommand, "Commands to every worker process.")
        progress_queue = self._queue_channel(
            topology.progress_queue(),
            (JobProgress,),
            [(topology.progress, "")],
            name=f"{topology.prefix}.progress.{{replica}}",
            description="One exclusive, auto-delete queue per gateway replica, feeding its WebSockets and SSE streams.",
        )
        control_queue = self._queue_channel(
            topology.control_queue(),
            (ControlCommand,),
            [(topology.control, "")],
            name=f"{topology.prefix}.control.{{replica}}",
            description="One exclusive, auto-delete queue per worker process: cancel a running job.",
        )
        dead_queue = self._queue_channel(
            topology.dead_queue,
            PIPELINE_EVENTS,
            [(topology.dead_exchange, "")],
            description=(
                "Messages of failed jobs (headers x-clipforge-stage, x-clipforge-code, x-clipforge-reason) and "
                f"messages dead-lettered after {DELIVERY_LIMIT} deliveries. Listed and sent back by "
                "GET /v1/admin/dead-letters, POST /v1/admin/dead-letters/requeue and "
                "python -m clipforge.gateway.dead_letters."
            ),
        )
        self.channels[dead_queue]["x-clipforge-dead-letter-headers"] = [
            "x-clipforge-stage",
            "x-clipforge-code",
            "x-clipforge-reason",
            "x-clipforge-routing-key",
            "x-clipforge-attempts",
            "x-clipforge-dead-at",
            "x-clipforge-dead-id",
        ]

        stage_inputs = tuple(STAGE_INPUT[stage] for stage in Stage)
        self.channels["retry"] = {
            "address": None,  # a headers exchange: routed by the delay header, the routing key is kept
            "title": f"the {topology.retry_exchange.name} headers exchange",
            "description": (
                f"A stage attempt that failed for a reason that may pass, republished as it came with the header "
                f"{RETRY_DELAY_HEADER}: <delay in ms>; the delay doubles per attempt (CLIPFORGE_RETRY_*)."
            ),
            "messages": _messages(*stage_inputs),
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": _exchange_binding(topology.retry_exchange),
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
        }
        default_delay_ms = round(Settings.model_fields["retry_base_delay_seconds"].default * 1000)
        delay_queue = topology.delay_queue(default_delay_ms)
        self._queue_channel(
            delay_queue,
            stage_inputs,
            [(topology.retry_exchange, f"x-match=all, {RETRY_DELAY_HEADER}={{delay}}")],
            name=f"{topology.prefix}.retry.{{delay}}ms",
            description=(
                "One quorum queue per delay, consumed by nobody: each message waits x-message-ttl (the delay; "
                f"arguments shown for {default_delay_ms} ms) and is then dead-lettered, at least once, back to "
                f"{topology.pipeline.name} under its original routing key, into its stage queue. Declared on first "
                "use; x-expires removes it an hour after its last use."
            ),
        )

        self.work_queues()
        stages = list(Stage)
        for position, stage in enumerate(stages):
            output = STAGE_INPUT[stages[position + 1]] if position + 1 < len(stages) else ClipsReady
            self.send(
                f"{stage.value}.publish.{_routing_key(output)}",
                _event_channel_id(output),
                output,
                f"{stage.value} hands its result on (same priority class as its input).",
                persistent=True,
            )
            self.send(
                f"{stage.value}.publish.job.failed",
                _event_channel_id(JobFailed),
                JobFailed,
                f"{stage.value} ends a job failed, with stage, code and message.",
                persistent=True,
            )
            self.send(
                f"{stage.value}.publish.progress",
                "progress",
                JobProgress,
                f"{stage.value} reports progress (at most every CLIPFORGE_PROGRESS_INTERVAL_SECONDS).",
                persistent=False,
            )
            self.receive(f"{stage.value}.consume.control", control_queue, (ControlCommand,), "Cancel a running job.")
            self.send(
                f"{stage.value}.publish.retry",
                "retry",
                STAGE_INPUT[stage],
                f"{stage.value} retries a failed attempt after a delay (up to CLIPFORGE_STAGE_MAX_ATTEMPTS).",
                persistent=True,
            )

        self.send(
            "gateway.publish.job.requested",
            _event_channel_id(JobRequested),
            JobRequested,
            "A job was created (POST /v1/jobs or /v1/jobs/upload).",
            persistent=True,
        )
        for stage in stages[1:]:
            event = STAGE_INPUT[stage]
            self.send(
                f"gateway.retry.{_routing_key(event)}",
                _event_channel_id(event),
                event,
                f"A failed job is retried from {stage.value}: the stored input of that stage, republished.",
                persistent=True,
            )
        self.receive("gateway.consume.progress", progress_queue, (JobProgress,), "Fan out to live clients.")
        self.send(
            "gateway.publish.progress",
            "progress",
            JobProgress,
            "Cancel and retry are visible changes too.",
            persistent=False,
        )
        self.send("gateway.publish.control", "control", ControlCommand, "A job was cancelled.", persistent=False)
        self.internal_work()
        return self._document()

    def _document(self) -> Document:
        schemas = _schemas()
        examples = {name: example.model_dump(mode="json") for name, example in _examples().items()}
        messages = {_message_name(model): _message(model, examples.get(_message_name(model))) for model in ALL_MESSAGES}
        names = {"pipeline": self.topology.pipeline.name, "dead": self.topology.dead_exchange.name}
        names |= {"progress": self.topology.progress.name, "control": self.topology.control.name}
        names["retry"] = self.topology.retry_exchange.name
        return {
            "asyncapi": ASYNCAPI_VERSION,
            "info": {
                "title": "ClipForge pipeline events",
                "version": str(Event.model_fields["schema_version"].default),
                "description": DESCRIPTION.format(**names),
            },
            "defaultContentType": "application/json",
            "servers": {
                "rabbitmq": {
                    "host": "127.0.0.1:5672",
                    "protocol": "amqp",
                    "protocolVersion": "0.9.1",
                    "description": "CLIPFORGE_AMQP_URL; names start with CLIPFORGE_TOPOLOGY_PREFIX (here the default).",
                }
            },
            "channels": self.channels,
            "operations": self.operations,
            "components": {
                "schemas": schemas,
                "messages": messages,
                "parameters": {
                    "priority": {
                        "enum": list(PRIORITIES),
                        "default": PRIORITIES[0],
                        "description": "Priority class: workers take interactive work first.",
                    },
                    "replica": {"description": "A random suffix per process."},
                    "delay": {"description": "The retry delay in milliseconds."},
                },
            },
        }


def _message(model: type[BaseModel], example: Document | None) -> Document:
    name = _message_name(model)
    message: Document = {
        "name": name,
        "title": name,
        "summary": (model.__doc__ or name).strip().splitlines()[0],
        "contentType": "application/json",
        "payload": _ref("components/schemas", name),
    }
    if issubclass(model, Event):
        message["correlationId"] = {"location": "$message.payload#/correlation_id"}
    message["bindings"] = {
        "amqp": {"messageType": getattr(model, "routing_key", "control"), "bindingVersion": AMQP_BINDING_VERSION}
    }
    if example is not None:
        message["examples"] = [{"name": "example", "payload": example}]
    return message


def _schemas() -> Document:
    _, top = models_json_schema([(model, "validation") for model in ALL_MESSAGES], ref_template=SCHEMA_REF)
    return dict(sorted(top.get("$defs", {}).items()))


def build_document(topology: Topology | None = None) -> Document:
    return _Builder(topology or Topology()).build()


def render(document: Document | None = None) -> str:
    return json.dumps(document or build_document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write or check the AsyncAPI document of the pipeline.")
    parser.add_argument("path", type=Path, nargs="?", default=Path("docs/asyncapi.json"))
    parser.add_argument("--check", action="store_true", help="exit 1 when the file differs from the code")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.path.read_text() if args.path.exists() else ""
        if current != text:
            print(f"{args.path} is out of date: run python -m clipforge.shared.asyncapi {args.path}", file=sys.stderr)
            return 1
        return 0
    args.path.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
