"""Real infrastructure for the integration and end-to-end tests.

- RabbitMQ: the machine's broker; each test uses its own exchange and queue name prefix and
  deletes its topology after. (A virtual host per run was tried first: on RabbitMQ 3.10,
  creating and deleting vhosts with quorum queues while other runs are active wedged the broker.)
- MongoDB: a SecantusDB server in its own process over a temporary directory.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from clipforge.devstack.rabbit import delete_topology
from clipforge.devstack.secantus import SecantusServer

# Test sources are served from 127.0.0.1, so loopback (and only loopback) is allowed as a job
# source, for the settings made here and for every service process the tests start.
os.environ.setdefault("CLIPFORGE_ALLOWED_SOURCE_NETWORKS", '["127.0.0.0/8"]')

AMQP_URL = os.environ.get("CLIPFORGE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


@pytest.fixture(scope="session")
def rabbit_url() -> str:
    """The machine's RabbitMQ. Tests isolate themselves by topology prefix (see ``topology_prefix``)."""
    return AMQP_URL


@pytest.fixture(scope="session")
def secantus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecantusServer]:
    root = tmp_path_factory.mktemp("secantus")
    server = SecantusServer(root / "data", log_path=root / "secantus.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mongo_url(secantus: SecantusServer) -> str:
    return secantus.url


@pytest.fixture
def topology_prefix(rabbit_url: str) -> Iterator[str]:
    """A fresh exchange/queue name prefix on the shared broker, removed after the test."""
    prefix = f"cft{uuid.uuid4().hex[:10]}"
    yield prefix
    delete_topology(rabbit_url, prefix)


@pytest.fixture
def database_name() -> str:
    return f"clipforge_test_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def speech_video(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A short real video of known spoken sentences (H.264 + AAC), made once per run."""
    from clipforge.devstack.samples import make_speech_video

    sentences = (
        "Welcome to the ClipForge test video.",
        "The quick brown fox jumps over the lazy dog near the river bank.",
        "Engineers measure everything before they change anything.",
        "A good test fails when the behaviour it names is broken.",
        "Rabbits and databases work together to finish every job.",
        "Thank you for watching this short test video today.",
    )
    directory: Path = tmp_path_factory.mktemp("media")
    return make_speech_video(directory / "speech.mp4", sentences)
