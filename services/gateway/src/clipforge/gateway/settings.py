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

    job_rate_limit: int = Field(
        default=120, ge=0, description="Jobs one tenant may create per window, across all replicas (0: unlimited)."
    )
    job_rate_window_seconds: int = Field(default=60, ge=1, le=3600, description="Length of a rate-limit window.")
    job_rate_limit_overrides: dict[str, int] = Field(
        default_factory=dict, description='Per-tenant limits per window, as JSON: {"acme": 600}.'
    )
