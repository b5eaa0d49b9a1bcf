"""The analyze worker: transcript.ready → scored highlight candidates → highlights.ready."""

from __future__ import annotations

import asyncio

from clipforge.analyze.core import find_highlights
from clipforge.shared.events import HighlightsReady, TranscriptReady
from clipforge.shared.models import Stage, Transcript
from clipforge.shared.settings import Settings
from clipforge.shared.worker import StageContext, StageDefinition, StageOutcome, StageWorker


class AnalyzeSettings(Settings):
    http_port: int = 8103


def build_worker(settings: AnalyzeSettings | None = None) -> StageWorker[TranscriptReady]:
    settings = settings or AnalyzeSettings()

    async def handle(event: TranscriptReady, ctx: StageContext) -> StageOutcome:
        transcript = Transcript.model_validate_json(ctx.media.path(event.transcript_key).read_bytes())
        ctx.progress(0.1, "Looking for self-contained moments")
        highlights = await asyncio.to_thread(find_highlights, transcript, event.options)
        return StageOutcome(
            event=event.follow_up(
                HighlightsReady,
                options=event.options,
                media=event.media,
                video_key=event.video_key,
                transcript_key=event.transcript_key,
                highlights=highlights,
            ),
            record={"highlights": [highlight.model_dump() for highlight in highlights]},
            message=f"Found {len(highlights)} highlight(s)",
        )

    return StageWorker(StageDefinition(Stage.ANALYZE, handle, prefetch=4), settings)
