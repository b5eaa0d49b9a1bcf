"""Limits the ingest stage enforces on what it downloads and accepts."""

from __future__ import annotations

from pydantic import BaseModel, Field

from clipforge.shared.urlsafety import SourcePolicy


class IngestConfig(BaseModel):
    max_duration_seconds: float = Field(default=4 * 3600, gt=0)
    max_download_bytes: int = Field(default=4 * 1024**3, gt=0)
    download_timeout_seconds: float = Field(default=3600, gt=0)
    socket_timeout_seconds: float = Field(default=30, gt=0)
    allowed_source_networks: tuple[str, ...] = Field(
        default=(), description="Non-public networks (CIDRs) sources may come from; none by default."
    )

    @property
    def source_policy(self) -> SourcePolicy:
        return SourcePolicy.allowing(self.allowed_source_networks)
