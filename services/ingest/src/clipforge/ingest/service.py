"""The ingest worker: job.requested → download, probe, extract audio → media.ready."""

from __future__ import annotations

from pydantic import Field

from clipforge.ingest.cached import REUSED_MESSAGE, ingest_source
from clipforge.ingest.core import IngestConfig
from clipforge.shared.cache import COLLECTION, CacheSettings, SourceCache
from clipforge.shared.events import JobRequested, MediaReady
from clipforge.shared.models import Stage
from clipforge.shared.worker import StageContext, StageDefinition, StageOutcome, StageWorker


class IngestSettings(CacheSettings):
    http_port: int = 8101
    max_duration_seconds: float = Field(default=4 * 3600, gt=0, description="Longest source accepted.")
    max_download_bytes: int = Field(default=4 * 1024**3, gt=0, description="Largest download accepted.")
    download_timeout_seconds: float = Field(default=3600, gt=0)
    ingest_concurrency: int = Field(default=2, ge=1, description="Jobs one ingest process works on at once.")

    def ingest_config(self) -> IngestConfig:
        return IngestConfig(
            max_duration_seconds=self.max_duration_seconds,
            max_download_bytes=self.max_download_bytes,
            download_timeout_seconds=self.download_timeout_seconds,
            allowed_source_networks=tuple(self.allowed_source_networks),
        )


def build_worker(settings: IngestSettings | None = None) -> StageWorker[JobRequested]:
    settings = settings or IngestSettings()
    config = settings.ingest_config()
    cache: SourceCache | None = None

    async def open_cache() -> None:
        nonlocal cache
        if settings.cache_enabled:
            assert worker.store is not None
            cache = SourceCache(worker.store.db[COLLECTION], settings.media_root, settings)
            await cache.ensure_indexes()

    async def handle(event: JobRequested, ctx: StageContext) -> StageOutcome:
        workdir = ctx.media.ensure_dir(ctx.job_id, what="the downloaded video")
        done = await ingest_source(
            event.source, workdir, config, ctx.progress, media=ctx.media, cache=cache, tenant_id=ctx.tenant_id
        )
        result, media = done.result, done.result.media
        record: dict[str, object] = {"media": media.model_dump()}
        if done.cache is not None:
            record["cache.source"] = done.cache
        got = f"{media.duration_seconds:.0f} s of {media.width}x{media.height} video"
        return StageOutcome(
            event=event.follow_up(
                MediaReady,
                options=event.options,
                media=media,
                video_key=ctx.media.key(ctx.job_id, result.video_path.name),
                audio_key=ctx.media.key(ctx.job_id, result.audio_path.name),
            ),
            record=record,
            message=f"{REUSED_MESSAGE}: {got}" if done.cache == "hit" else f"Got {got}",
        )

    definition = StageDefinition(Stage.INGEST, handle, prefetch=settings.ingest_concurrency, on_startup=open_cache)
    worker = StageWorker(definition, settings)
    return worker
