from __future__ import annotations

from pydantic import Field

from clipforge.shared.settings import Settings


class GatewaySettings(Settings):
    http_port: int = 8000
    websocket_buffer_events: int = Field(
        default=256, ge=8, description="Events buffered per socket before a too-slow client is disconnected."
    )
    publish_timeout_seconds: float = Field(default=10.0, gt=0)
    max_upload_bytes: int = Field(default=2 * 1024**3, gt=0, description="Largest upload accepted (413 above).")
