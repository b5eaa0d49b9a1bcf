"""Fixtures shared by unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clipforge.devstack.httpserve import StaticServer


@pytest.fixture(scope="session")
def http_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory ``http_server`` serves; tests put files in it."""
    return tmp_path_factory.mktemp("www")


@pytest.fixture(scope="session")
def http_server(http_root: Path) -> Iterator[str]:
    """Serves ``http_root`` on 127.0.0.1 at a free port; yields the base URL (no trailing slash)."""
    with StaticServer(http_root) as server:
        yield server.base_url
