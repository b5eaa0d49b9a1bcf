"""Where the gateway is and which API key to use: explicit values, else the environment, else the
local stack's development key file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_API_URL = "http://127.0.0.1:8000"
URL_ENV = "CLIPFORGE_API_URL"
KEY_ENV = "CLIPFORGE_API_KEY"
STATE_DIR_ENV = "CLIPFORGE_STATE_DIR"
DEV_KEY_FILE = "dev-api-key"  # written by `clipforge up` (the local stack) under its state folder


class MissingAPIKey(ValueError):
    pass


@dataclass(frozen=True)
class Connection:
    base_url: str
    api_key: str


def dev_key_path(state_dir: Path | None = None) -> Path:
    return (state_dir or Path(os.environ.get(STATE_DIR_ENV, ".clipforge"))) / DEV_KEY_FILE


def resolve(base_url: str | None = None, api_key: str | None = None) -> Connection:
    """``base_url``: argument, ``$CLIPFORGE_API_URL``, http://127.0.0.1:8000. ``api_key``: argument,
    ``$CLIPFORGE_API_KEY``, the local stack's ``.clipforge/dev-api-key`` (``$CLIPFORGE_STATE_DIR``)."""
    url = (base_url or os.environ.get(URL_ENV) or DEFAULT_API_URL).rstrip("/")
    key = api_key or os.environ.get(KEY_ENV)
    if not key:
        path = dev_key_path()
        if path.is_file():
            key = path.read_text().strip()
    if not key:
        raise MissingAPIKey(
            f"No API key: pass one, set {KEY_ENV}, or start the local stack (`clipforge up`), "
            f"which writes {dev_key_path()}."
        )
    return Connection(url, key)
