"""Shared by the end-to-end tests: all five services as processes (one stack per test module)
and a loopback HTTP server for source videos."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from clipforge.devstack.httpserve import StaticServer
from clipforge.devstack.rabbit import delete_topology
from clipforge.devstack.samples import SampleVideo
from clipforge.devstack.stack import LocalStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, rabbit_url: str, mongo_url: str) -> Iterator[LocalStack]:
    state = tmp_path_factory.mktemp("stack")
    prefix = f"e2e{uuid.uuid4().hex[:8]}"
    local = LocalStack.with_free_ports(
        state,
        mongo_url=mongo_url,
        amqp_url=rabbit_url,
        topology_prefix=prefix,
        extra_env={"CLIPFORGE_MONGO_DATABASE": f"e2e_{uuid.uuid4().hex[:8]}", "CLIPFORGE_LOG_JSON": "true"},
    )
    local.start()
    try:
        yield local
    finally:
        local.stop()
        delete_topology(rabbit_url, prefix)
        for service in local.services.values():
            print(f"--- {service.name} log tail ---\n{service.log_path.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def media_server(speech_video: SampleVideo) -> Iterator[StaticServer]:
    directory = speech_video.path.parent
    (directory / "page.html").write_text("<html><body><h1>Just a page, no video here</h1></body></html>")
    with StaticServer(directory) as server:
        yield server
