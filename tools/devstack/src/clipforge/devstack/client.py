"""A minimal HTTP + WebSocket client of the gateway, for the demo and the end-to-end tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from websockets.sync.client import connect

Message = dict[str, Any]


def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def submit_job(gateway_url: str, api_key: str, url: str, options: dict[str, Any] | None = None) -> str:
    response = httpx.post(
        f"{gateway_url}/v1/jobs", json={"url": url, "options": options or {}}, headers=auth(api_key), timeout=30
    )
    response.raise_for_status()
    return str(response.json()["id"])


def follow_job(
    gateway_url: str,
    api_key: str,
    job_id: str,
    on_message: Callable[[Message], None] | None = None,
    timeout_seconds: float = 900,
) -> list[Message]:
    """Read the job's WebSocket until the server closes it; return every message received."""
    ws_url = gateway_url.replace("http://", "ws://", 1) + f"/v1/jobs/{job_id}/events?api_key={api_key}"
    messages: list[Message] = []
    with connect(ws_url, open_timeout=30, close_timeout=5) as socket:
        while True:
            try:
                raw = socket.recv(timeout=timeout_seconds)
            except TimeoutError:
                raise TimeoutError(f"no event for job {job_id} within {timeout_seconds} s") from None
            except Exception as exc:  # the server closed the stream: the job ended
                if type(exc).__name__.startswith("ConnectionClosed"):
                    break
                raise
            message = json.loads(raw)
            messages.append(message)
            if on_message is not None:
                on_message(message)
    return messages


def get_job(gateway_url: str, api_key: str, job_id: str) -> Message:
    response = httpx.get(f"{gateway_url}/v1/jobs/{job_id}", headers=auth(api_key), timeout=30)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]
