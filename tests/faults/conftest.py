"""One stack for every fault test: the five services as processes on a PRIVATE RabbitMQ node
(the machine's shared broker is never restarted) and their own SecantusDB, both of which the
tests stop, kill and start again on the same data."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from faultkit import WatchedPipeline

from clipforge.devstack.httpserve import StaticServer
from clipforge.devstack.rabbitnode import RabbitNode
from clipforge.devstack.samples import SampleVideo
from clipforge.devstack.secantus import SecantusServer
from clipforge.devstack.stack import LocalStack


@pytest.fixture(scope="package")
def rabbit_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitNode]:
    node = RabbitNode(tmp_path_factory.mktemp("rabbit"))
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="package")
def fault_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecantusServer]:
    root = tmp_path_factory.mktemp("faultdb")
    server = SecantusServer(root / "data", log_path=root / "secantus.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def fault_stack(
    tmp_path_factory: pytest.TempPathFactory, rabbit_node: RabbitNode, fault_database: SecantusServer
) -> Iterator[LocalStack]:
    stack = LocalStack.with_free_ports(
        tmp_path_factory.mktemp("faultstack"),
        mongo_url=fault_database.url,
        amqp_url=rabbit_node.url,
        topology_prefix=f"flt{uuid.uuid4().hex[:8]}",
        extra_env={
            "CLIPFORGE_MONGO_DATABASE": f"faults_{uuid.uuid4().hex[:8]}",
            "CLIPFORGE_LOG_JSON": "true",
            # Every job fetches the same video: with the source cache, later jobs would skip the
            # download and transcription that the tests kill workers in the middle of.
            "CLIPFORGE_CACHE_ENABLED": "false",
        },
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
        for service in stack.services.values():
            print(f"--- {service.name} log tail ---\n{service.log_path.read_text()[-3000:]}")


@pytest.fixture(scope="package")
def pipeline(fault_stack: LocalStack, fault_database: SecantusServer) -> Iterator[WatchedPipeline]:
    watched = WatchedPipeline(fault_stack, fault_database.url, fault_stack.database_name)
    try:
        yield watched
    finally:
        watched.close()


@pytest.fixture(scope="package")
def video_url(speech_video: SampleVideo) -> Iterator[str]:
    with StaticServer(speech_video.path.parent) as server:
        yield f"{server.base_url}/{speech_video.path.name}"
