"""The analyze worker: transcript.ready → scored highlight candidates → highlights.ready."""

from __future__ import annotations

import asyncio

from pydantic import Field, SecretStr

from clipforge.analyze.core import Analysis, analyze
from clipforge.analyze.embeddings import load_embedder
from clipforge.analyze.llm import LLMConfig, LLMScorer, LLMUnavailable
from clipforge.shared.events import HighlightsReady, TranscriptReady
from clipforge.shared.models import AnalysisInfo, Highlight, JobOptions, Stage, Transcript
from clipforge.shared.settings import Settings
from clipforge.shared.worker import StageContext, StageDefinition, StageOutcome, StageWorker

# The LLM re-ranks this many local candidates per clip asked for (at most MAX_POOL).
POOL_PER_CLIP = 2
MAX_POOL = 30
AUDIO_NAME = "audio.wav"  # as ingest names the speech track


class AnalyzeSettings(Settings):
    http_port: int = 8103
    llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint (e.g. http://host:8080/v1); unset: local scoring only."
    )
    llm_api_key: SecretStr | None = None
    llm_model: str | None = None
    llm_timeout_seconds: float = Field(default=30.0, gt=0)
    llm_retries: int = Field(default=2, ge=0, le=10)

    def llm_config(self) -> LLMConfig | None:
        if not self.llm_base_url:
            return None
        return LLMConfig(
            base_url=self.llm_base_url,
            model=self.llm_model or "",
            api_key=self.llm_api_key,
            timeout_seconds=self.llm_timeout_seconds,
            retries=self.llm_retries,
        )


def build_worker(settings: AnalyzeSettings | None = None) -> StageWorker[TranscriptReady]:
    settings = settings or AnalyzeSettings()
    llm_config = settings.llm_config()

    async def warm_model() -> None:
        await asyncio.to_thread(load_embedder)

    async def handle(event: TranscriptReady, ctx: StageContext) -> StageOutcome:
        transcript = Transcript.model_validate_json(ctx.media.path(event.transcript_key).read_bytes())
        ctx.progress(0.1, "Looking for self-contained moments")
        embedder = await asyncio.to_thread(load_embedder)
        audio_path = ctx.media.path(ctx.media.key(ctx.job_id, AUDIO_NAME))
        if not audio_path.is_file():
            ctx.log.warning("no audio track at %s: clips are scored without energy", audio_path)
        analysis = await asyncio.to_thread(analyze, transcript, event.options, audio_path=audio_path, embedder=embedder)
        ctx.progress(0.7, "Scoring the candidates")
        highlights, info = await choose_highlights(analysis, event.options, llm_config)
        if info.degraded:
            ctx.log.warning("analysis degraded: %s", info.detail)
        return StageOutcome(
            event=event.follow_up(
                HighlightsReady,
                options=event.options,
                media=event.media,
                video_key=event.video_key,
                transcript_key=event.transcript_key,
                highlights=highlights,
            ),
            record={
                "highlights": [highlight.model_dump() for highlight in highlights],
                "analysis": info.model_dump(),
            },
            message=f"Found {len(highlights)} highlight(s)"
            + (" (LLM scorer unavailable: local scores used)" if info.degraded else ""),
        )

    definition = StageDefinition(Stage.ANALYZE, handle, prefetch=4, on_startup=warm_model)
    return StageWorker(definition, settings)


async def choose_highlights(
    analysis: Analysis, options: JobOptions, llm_config: LLMConfig | None
) -> tuple[list[Highlight], AnalysisInfo]:
    """The final clips, and how they were scored. A configured LLM that fails leaves the local
    choice in place and marks the analysis degraded, saying why."""
    if llm_config is None:
        return analysis.highlights(options.max_clips), AnalysisInfo(scorer="local")
    if not llm_config.model:
        return analysis.highlights(options.max_clips), _degraded("CLIPFORGE_LLM_MODEL is not set")
    pool_size = max(options.max_clips, min(POOL_PER_CLIP * options.max_clips, MAX_POOL))
    pool = [analysis.highlight(candidate) for candidate in analysis.pick(pool_size)]
    scorer = LLMScorer(llm_config)
    try:
        rescored = await scorer.rescore(pool)
    except LLMUnavailable as error:
        return pool[: options.max_clips], _degraded(str(error))
    return rescored[: options.max_clips], AnalysisInfo(scorer=scorer.name)


def _degraded(why: str) -> AnalysisInfo:
    return AnalysisInfo(scorer="local", degraded=True, detail=f"LLM scorer unavailable: {why}")
