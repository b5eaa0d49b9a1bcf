"""The render worker: highlights.ready → captioned mp4 clips → clips.ready; the job completes.

Beside it, on media.ready, the look ahead (:mod:`clipforge.render.lookahead`) finds the source's
faces and keyframes while the job transcribes, so rendering does not have to look again.
"""

from __future__ import annotations

from pydantic import Field

from clipforge.render.core import RenderConfig, clip_bounds, render_clips
from clipforge.render.lookahead import LookAhead
from clipforge.render.prelook import SourceLook, load_look
from clipforge.shared.events import ClipsReady, HighlightsReady
from clipforge.shared.models import Clip, Stage, Transcript
from clipforge.shared.settings import Settings
from clipforge.shared.worker import StageContext, StageDefinition, StageOutcome, StageWorker


class RenderSettings(Settings):
    http_port: int = 8104
    render_preset: str = Field(default="veryfast", description="x264 preset: speed against size.")
    render_crf: int = Field(default=23, ge=0, le=51)
    render_concurrency: int = Field(default=2, ge=1, description="Clips of one job rendered at the same time.")
    render_prelook: bool = Field(
        default=True, description="Look at a job's source (faces, keyframes) while it transcribes."
    )
    render_prelook_max_seconds: float = Field(
        default=1800.0,
        ge=0.0,
        description="Longer sources get no face look ahead (keyframes only); their clips look for themselves.",
    )

    def render_config(self) -> RenderConfig:
        return RenderConfig(video_preset=self.render_preset, crf=self.render_crf, concurrency=self.render_concurrency)


def build_worker(settings: RenderSettings | None = None) -> StageWorker[HighlightsReady]:
    settings = settings or RenderSettings()
    config = settings.render_config()

    async def handle(event: HighlightsReady, ctx: StageContext) -> StageOutcome:
        transcript = Transcript.model_validate_json(ctx.media.path(event.transcript_key).read_bytes())
        clips_dir = ctx.media.ensure_dir(ctx.job_id, "clips", what="the clips")
        look = load_look(ctx.media.job_dir(ctx.job_id)) if settings.render_prelook else SourceLook()
        rendered = await render_clips(
            ctx.media.path(event.video_key),
            event.highlights,
            transcript,
            event.options,
            event.media,
            clips_dir,
            config,
            ctx.progress,
            look,
        )
        bounds = [clip_bounds(highlight, event.media) for highlight in event.highlights]
        clips = [
            Clip(
                index=index,
                start=start,
                end=end,
                duration_seconds=result.duration_seconds,
                score=highlight.score,
                reason=highlight.reason,
                text=highlight.text,
                title=highlight.title,
                keywords=list(highlight.keywords),
                sub_scores=dict(highlight.sub_scores),
                media_key=ctx.media.key(ctx.job_id, "clips", result.path.name),
                thumbnail_key=ctx.media.key(ctx.job_id, "clips", result.thumbnail_path.name),
                srt_key=ctx.media.key(ctx.job_id, "clips", result.srt_path.name),
                vtt_key=ctx.media.key(ctx.job_id, "clips", result.vtt_path.name),
                size_bytes=result.size_bytes,
                width=result.width,
                height=result.height,
            )
            for index, (highlight, (start, end), result) in enumerate(
                zip(event.highlights, bounds, rendered, strict=True), start=1
            )
        ]
        return StageOutcome(
            event=event.follow_up(ClipsReady, clips=clips),
            record={
                "clips": [clip.model_dump() for clip in clips],
                # Where each clip's faces came from, and whether the copy check read the index.
                "stages.render.look": {
                    "faces": [result.look for result in rendered],
                    "keyframes": "prepass" if look.packets is not None else "probe",
                },
            },
            message=f"{len(clips)} clip(s) ready",
        )

    # Prefetch 1: one job's clips already render side by side (render_concurrency).
    definition = StageDefinition(Stage.RENDER, handle, prefetch=1, final=True)
    worker = StageWorker(definition, settings)
    if settings.render_prelook:
        # Subscribes itself on the worker's broker, which keeps it alive.
        LookAhead(worker, config, settings.render_prelook_max_seconds)
    return worker
