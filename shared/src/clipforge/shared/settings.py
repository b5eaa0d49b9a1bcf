"""Configuration through environment variables with the ``CLIPFORGE_`` prefix.

Every service reads :class:`Settings`; a service with knobs of its own subclasses it, so one
variable (``CLIPFORGE_AMQP_URL``) means the same thing everywhere.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
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
    allowed_source_networks: list[str] = Field(
        default_factory=list,
        description='Non-public networks job URLs may reach, as a JSON list of CIDRs: ["127.0.0.0/8"] (dev, tests).',
    )

    @field_validator("allowed_source_networks")
    @classmethod
    def _networks_parse(cls, value: list[str]) -> list[str]:
        SourcePolicy.allowing(value)  # raises ValueError on a bad CIDR
        return value

    def source_policy(self) -> SourcePolicy:
        return SourcePolicy.allowing(self.allowed_source_networks)
