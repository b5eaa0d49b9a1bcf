"""The committed AsyncAPI document matches the code, is valid AsyncAPI 3.0, and says what the topology does.

``data/asyncapi-3.0.0.schema.json`` is the official AsyncAPI 3.0.0 JSON schema (npm package
``@asyncapi/specs`` 6.11.1, ``schemas/3.0.0-without-$id.json``, Apache-2.0), minified.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from clipforge.shared.asyncapi import build_document, render
from clipforge.shared.events import PRIORITIES
from clipforge.shared.models import Stage
from clipforge.shared.topology import STAGE_INPUT, Topology

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.json"
ASYNCAPI_SCHEMA = Path(__file__).parent / "data" / "asyncapi-3.0.0.schema.json"
BASE = "urn:clipforge-asyncapi"

Document = dict[str, Any]


@pytest.fixture(scope="module")
def document() -> Document:
    return build_document()


def test_the_committed_document_is_what_the_code_generates() -> None:
    assert COMMITTED.read_text() == render(), (
        "docs/asyncapi.json is out of date with the events or the topology: "
        "run `python -m clipforge.shared.asyncapi docs/asyncapi.json` (make asyncapi) and commit it"
    )


def test_the_check_command_fails_on_a_stale_file_and_passes_on_a_fresh_one(tmp_path: Path) -> None:
    stale = tmp_path / "asyncapi.json"
    stale.write_text(render().replace('"job.requested"', '"job.wanted"', 1))
    command = [sys.executable, "-m", "clipforge.shared.asyncapi", "--check", str(stale)]
    assert subprocess.run(command, capture_output=True).returncode == 1
    subprocess.run([sys.executable, "-m", "clipforge.shared.asyncapi", str(stale)], check=True)
    assert subprocess.run(command, capture_output=True).returncode == 0


def test_it_is_a_valid_asyncapi_3_document(document: Document) -> None:
    validator = Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text()))
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]]
    broken = {
        "asyncapi": "3.0.0",
        "info": {"title": "x", "version": "1"},
        "channels": {"c": {"bindings": {"amqp": {"is": "x"}}}},
    }
    assert list(validator.iter_errors(broken)), "the schema check must be able to fail"


def test_every_message_example_matches_its_payload_schema(document: Document) -> None:
    absolute = json.loads(json.dumps(document).replace('"#/components/', f'"{BASE}#/components/'))
    registry: Registry = Registry().with_resource(BASE, Resource.from_contents(absolute, DRAFT202012))
    messages = document["components"]["messages"]
    assert set(messages) >= {event.__name__ for event in STAGE_INPUT.values()} | {"ClipsReady", "JobFailed"}
    for name, message in messages.items():
        validator = Draft202012Validator({"$ref": f"{BASE}#/components/schemas/{name}"}, registry=registry)
        assert message["payload"] == {"$ref": f"#/components/schemas/{name}"}
        for example in message["examples"]:
            errors = list(validator.iter_errors(example["payload"]))
            assert not errors, f"{name}: {errors[0].message}"


def test_queues_and_bindings_are_the_topology(document: Document) -> None:
    topology = Topology()
    documented = {
        (channel["address"], binding["routingKey"])
        for channel in document["channels"].values()
        if channel["bindings"]["amqp"]["is"] == "queue"
        for binding in channel["x-clipforge-bindings"]
        if binding["exchange"] == topology.pipeline.name
    }
    assert documented == {(queue.name, key) for queue, key in topology.bindings()}
    for queue, _ in topology.bindings():
        channel = next(c for c in document["channels"].values() if c["address"] == queue.name)
        assert channel["bindings"]["amqp"]["queue"]["durable"] is True
        assert channel["x-clipforge-queue-arguments"] == dict(sorted((queue.arguments or {}).items()))


def _channel_of(document: Document, operation: Document) -> Document:
    return document["channels"][operation["channel"]["$ref"].rsplit("/", 1)[-1]]


def test_each_stage_consumes_both_priority_classes_and_publishes_the_next_event(document: Document) -> None:
    operations = document["operations"]
    stages = list(Stage)
    for position, stage in enumerate(stages):
        event = STAGE_INPUT[stage].__name__
        for priority in PRIORITIES:
            address = Topology().stage_queue(stage, priority).name
            [consume] = [o for o in operations.values() if _channel_of(document, o)["address"] == address]
            assert consume["action"] == "receive" and list(_channel_of(document, consume)["messages"]) == [event]
        following = STAGE_INPUT[stages[position + 1]] if position + 1 < len(stages) else None
        key = following.routing_key if following else "clips.ready"
        publish = operations[f"{stage.value}.publish.{key}"]
        assert publish["action"] == "send" and publish["bindings"]["amqp"]["deliveryMode"] == 2


def test_every_pipeline_event_is_sent_by_someone_and_reaches_a_queue(document: Document) -> None:
    sent: set[str] = set()
    received: set[str] = set()
    for operation in document["operations"].values():
        names = {message["$ref"].rsplit("/", 1)[-1] for message in operation["messages"]}
        if _channel_of(document, operation)["address"] == Topology().dead_queue.name:
            continue
        (sent if operation["action"] == "send" else received).update(names)
    events = [name for name in document["components"]["messages"] if name not in ("JobProgress", "ControlCommand")]
    assert set(events) <= sent and set(events) <= received, (set(events) - sent, set(events) - received)


def test_operation_messages_belong_to_their_channel(document: Document) -> None:
    for operation_id, operation in document["operations"].items():
        channel_id = operation["channel"]["$ref"].rsplit("/", 1)[-1]
        for message in operation["messages"]:
            prefix = f"#/channels/{channel_id}/messages/"
            assert message["$ref"].startswith(prefix), operation_id
            assert message["$ref"].removeprefix(prefix) in document["channels"][channel_id]["messages"], operation_id
