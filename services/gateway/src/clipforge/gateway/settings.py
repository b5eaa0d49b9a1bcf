from __future__ import annotations

from pydantic import Field, model_validator

from clipforge.shared.settings import Settings


class GatewaySettings(Settings):
    http_port: int = 8000
    database_timeout_ms: int = Field(
        default=2000,
        gt=0,
        description="How long a request waits for an unreachable database before the API answers 503.",
    )
    websocket_buffer_events: int = Field(
        default=256, ge=8, description="Events buffered per socket before a too-slow client is disconnected."
    )
    sse_heartbeat_seconds: float = Field(
        default=15.0, gt=0, description="Idle time after which an SSE stream sends a comment line to keep proxies open."
    )
    live_resync_seconds: float = Field(
        default=5.0, gt=0, description="How often open streams are checked against the database for lost events."
    )
    live_cursor_margin_seconds: float = Field(
        default=5.0, gt=0, description="Tolerated lag between logging and fan-out of an event (tenant resume cursor)."
    )
    live_replay_limit: int = Field(
        default=5000, ge=1, description="Most events replayed on resume; beyond it the stream restarts with a snapshot."
    )
    live_close_timeout_seconds: float = Field(
        default=5.0, gt=0, description="How long a too-slow client gets to take its close frame."
    )
    api_key_cache_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How long a replica trusts a key it verified; a revoked key stops working within it (0: off).",
    )
    publish_timeout_seconds: float = Field(default=10.0, gt=0)
    max_upload_bytes: int = Field(default=2 * 1024**3, gt=0, description="Largest upload accepted (413 above).")
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest request body other than an upload (413 above)."
    )

    job_rate_limit: int = Field(
        default=120, ge=0, description="Jobs one tenant may create per window, across all replicas (0: unlimited)."
    )
    job_rate_window_seconds: int = Field(default=60, ge=1, le=3600, description="Length of a rate-limit window.")
    job_rate_limit_overrides: dict[str, int] = Field(
        default_factory=dict, description='Per-tenant limits per window, as JSON: {"acme": 600}.'
    )

    webhook_max_attempts: int = Field(default=8, ge=1, le=50, description="Deliveries tried before giving up.")
    webhook_base_delay_seconds: float = Field(
        default=5.0, gt=0, description="Wait before the 2nd attempt; doubles after each failure."
    )
    webhook_max_delay_seconds: float = Field(default=3600.0, gt=0, description="Cap of the wait between attempts.")
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, description="Time a receiver has to answer.")
    webhook_lease_seconds: float = Field(
        default=60.0, gt=0, description="A claimed delivery is invisible to other replicas this long."
    )
    webhook_poll_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often each replica looks for due deliveries."
    )
    webhook_concurrency: int = Field(default=8, ge=1, description="Deliveries one replica sends at once.")
    webhook_allow_private_targets: bool = Field(
        default=False, description="Allow callback URLs that resolve to loopback or private addresses (dev, tests)."
    )
    webhook_secret_grace_seconds: int = Field(
        default=24 * 3600, ge=0, description="After a rotation, the old secret also signs deliveries this long."
    )

    @model_validator(mode="after")
    def _lease_outlasts_a_delivery(self) -> GatewaySettings:
        # A lease shorter than a request could let a second replica send the same delivery.
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds + 1:
            raise ValueError("webhook_lease_seconds must exceed webhook_timeout_seconds by more than a second")
        return self
