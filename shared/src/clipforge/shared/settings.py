"""Configuration through environment variables with the ``CLIPFORGE_`` prefix.

Every service reads :class:`Settings`; a service with knobs of its own subclasses it, so one
variable (``CLIPFORGE_AMQP_URL``) means the same thing everywhere.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from clipforge.shared.urlsafety import SourcePolicy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLIPFORGE_", extra="ignore")

    amqp_url: str = Field(default="amqp://guest:guest@127.0.0.1:5672/", description="RabbitMQ URL.")
    mongo_url: str = Field(default="mongodb://127.0.0.1:27017", description="MongoDB URL.")
    mongo_database: str = "clipforge"
    media_root: Path = Field(default=Path(".clipforge/media"), description="Root of the media store.")
    topology_prefix: str = Field(
        default="clipforge",
        pattern=r"^[a-z][a-z0-9_-]*$",
        description="Prefix of every exchange and queue name.",
    )
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True
    default_tenant_id: str = "default"
    progress_interval_seconds: float = Field(
        default=0.25, gt=0, description="Minimum time between two live progress events of one job."
    )
    job_events_ttl_seconds: int = Field(default=7 * 24 * 3600, description="How long job_events are kept.")
    database_timeout_ms: int = 5000

    stage_max_attempts: int = Field(
        default=4, ge=1, le=50, description="Attempts of a stage before a retryable error fails the job."
    )
    retry_base_delay_seconds: float = Field(
        default=5.0, gt=0, description="Wait before the 2nd attempt of a stage; doubles after each failure."
    )
    retry_max_delay_seconds: float = Field(default=300.0, gt=0, description="Cap of the wait between attempts.")
    heartbeat_interval_seconds: float = Field(
        default=10.0, gt=0, description="How often a running stage records that it is alive on the job."
    )
    heartbeat_timeout_seconds: float = Field(
        default=120.0, gt=0, description="A running stage silent this long is taken over by the watchdog."
    )
    watchdog_interval_seconds: float = Field(
        default=15.0, gt=0, description="How often each worker looks for stalled and stuck jobs."
    )
    queued_timeout_seconds: float = Field(
        default=900.0,
        gt=0,
        description="A job waiting this long for a stage whose queue is empty gets its message sent again.",
    )
    shutdown_grace_seconds: float = Field(
        default=30.0, ge=0, description="On SIGTERM, how long work in flight may finish before it is handed back."
    )

    allowed_source_networks: list[str] = Field(
        default_factory=list,
        description='Non-public networks job URLs may reach, as a JSON list of CIDRs: ["127.0.0.0/8"] (dev, tests).',
    )

    @field_validator("allowed_source_networks")
    @classmethod
    def _networks_parse(cls, value: list[str]) -> list[str]:
        SourcePolicy.allowing(value)  # raises ValueError on a bad CIDR
        return value

    @model_validator(mode="after")
    def _heartbeat_fits_its_timeout(self) -> Settings:
        # Two missed beats at least, so one slow database write does not look like a dead worker.
        if self.heartbeat_timeout_seconds < 2 * self.heartbeat_interval_seconds:
            raise ValueError("heartbeat_timeout_seconds must be at least twice heartbeat_interval_seconds")
        if self.retry_max_delay_seconds < self.retry_base_delay_seconds:
            raise ValueError("retry_max_delay_seconds must not be below retry_base_delay_seconds")
        return self

    def retry_delay_seconds(self, attempt: int) -> float:
        """Wait after failed attempt ``attempt`` (1-based): base, 2·base, 4·base... capped."""
        return float(min(self.retry_base_delay_seconds * 2 ** max(attempt - 1, 0), self.retry_max_delay_seconds))

    def source_policy(self) -> SourcePolicy:
        return SourcePolicy.allowing(self.allowed_source_networks)
