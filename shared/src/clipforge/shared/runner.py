"""Serving a service's ASGI app (broker consumers plus HTTP) with uvicorn."""

from __future__ import annotations

from typing import Any

import uvicorn

from clipforge.shared.observability import configure_logging
from clipforge.shared.settings import Settings


def serve(app: Any, settings: Settings, service: str) -> None:
    configure_logging(service, level=settings.log_level, json_lines=settings.log_json)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        # Open HTTP connections (SSE streams on the gateway) get the same grace as work in flight.
        timeout_graceful_shutdown=max(round(settings.shutdown_grace_seconds), 1),
    )
