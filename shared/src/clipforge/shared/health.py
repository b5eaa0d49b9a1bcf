"""``/healthz``, ``/readyz`` and ``/metrics`` as plain ASGI apps for the workers' HTTP side."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, make_asgi_app

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]


async def _send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def liveness_app() -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await _send_json(send, 200, {"status": "ok"})

    return app


def readiness_app(check: ReadinessCheck) -> ASGIApp:
    """200 when every dependency answers, 503 naming the ones that do not."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        checks = await check()
        ready = all(checks.values())
        await _send_json(send, 200 if ready else 503, {"status": "ready" if ready else "not ready", "checks": checks})

    return app


def health_routes(registry: CollectorRegistry, check: ReadinessCheck) -> list[tuple[str, ASGIApp]]:
    return [
        ("/healthz", liveness_app()),
        ("/readyz", readiness_app(check)),
        ("/metrics", make_asgi_app(registry=registry)),
    ]
