"""Real infrastructure for the integration and end-to-end tests.

- RabbitMQ: the machine's broker, with a fresh virtual host for this test run (deleted after).
- MongoDB: a SecantusDB server in its own process over a temporary directory.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from clipforge.devstack.secantus import SecantusServer

AMQP_HOST = "127.0.0.1:5672"


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def rabbit_url() -> Iterator[str]:
    """An AMQP URL on a virtual host of this test run alone."""
    if shutil.which("rabbitmqctl") is None:
        # Without admin access the tests share "/"; every test still uses its own topology prefix.
        yield f"amqp://guest:guest@{AMQP_HOST}/"
        return
    vhost = f"clipforge-test-{uuid.uuid4().hex[:8]}"
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@{AMQP_HOST}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


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
def topology_prefix() -> str:
    return f"cft{uuid.uuid4().hex[:10]}"


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
