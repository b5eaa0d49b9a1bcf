"""The ingest worker: job.requested → download, probe, extract audio → media.ready."""

from __future__ import annotations

from pydantic import Field

from clipforge.ingest.core import IngestConfig, ingest, ingest_file
from clipforge.shared.events import JobRequested, MediaReady
from clipforge.shared.models import Stage
from clipforge.shared.settings import Settings
from clipforge.shared.worker import StageContext, StageDefinition, StageOutcome, StageWorker


class IngestSettings(Settings):
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
        )


def build_worker(settings: IngestSettings | None = None) -> StageWorker[JobRequested]:
    settings = settings or IngestSettings()
    config = settings.ingest_config()

    async def handle(event: JobRequested, ctx: StageContext) -> StageOutcome:
        workdir = ctx.media.ensure_dir(ctx.job_id, what="the downloaded video")
        source = event.source
        if source.media_key is not None:
            result = await ingest_file(ctx.media.path(source.media_key), workdir, config, ctx.progress)
        else:
            assert source.url is not None
            result = await ingest(source.url, workdir, config, ctx.progress)
        media = result.media
        return StageOutcome(
            event=event.follow_up(
                MediaReady,
                options=event.options,
                media=media,
                video_key=ctx.media.key(ctx.job_id, result.video_path.name),
                audio_key=ctx.media.key(ctx.job_id, result.audio_path.name),
            ),
            record={"media": media.model_dump()},
            message=f"Got {media.duration_seconds:.0f} s of {media.width}x{media.height} video",
        )

    definition = StageDefinition(Stage.INGEST, handle, prefetch=settings.ingest_concurrency)
    return StageWorker(definition, settings)
