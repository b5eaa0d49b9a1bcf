"""The transcribe worker: media.ready → faster-whisper with word timestamps → transcript.ready."""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import Field

from clipforge.shared.events import MediaReady, TranscriptReady
from clipforge.shared.models import Stage, TranscriptSummary
from clipforge.shared.settings import Settings
from clipforge.shared.worker import StageContext, StageDefinition, StageOutcome, StageWorker
from clipforge.transcribe.core import WhisperConfig, load_model, transcribe


class TranscribeSettings(Settings):
    http_port: int = 8102
    whisper_model: str | None = Field(
        default=None, description="Path or name of a CTranslate2 Whisper model; the bundled tiny.en when unset."
    )
    whisper_device: Literal["cpu", "cuda", "auto"] = "cpu"
    whisper_compute_type: str | None = Field(default=None, description="int8 on CPU and float16 on CUDA when unset.")
    whisper_beam_size: int = Field(default=5, ge=1, le=10)
    whisper_cpu_threads: int = Field(default=0, ge=0, description="0 lets CTranslate2 decide.")

    def whisper_config(self) -> WhisperConfig:
        return WhisperConfig(
            model=self.whisper_model,
            device=self.whisper_device,
            compute_type=self.whisper_compute_type,
            beam_size=self.whisper_beam_size,
            cpu_threads=self.whisper_cpu_threads,
        )


def build_worker(settings: TranscribeSettings | None = None) -> StageWorker[MediaReady]:
    settings = settings or TranscribeSettings()
    config = settings.whisper_config()

    async def warm_model() -> None:
        await asyncio.to_thread(load_model, config)

    async def handle(event: MediaReady, ctx: StageContext) -> StageOutcome:
        transcript = await transcribe(
            ctx.media.path(event.audio_key), config, language=event.options.language, on_progress=ctx.progress
        )
        transcript_key = ctx.media.key(ctx.job_id, "transcript.json")
        ctx.media.prepare(transcript_key).write_text(transcript.model_dump_json())
        summary = TranscriptSummary.of(transcript)
        return StageOutcome(
            event=event.follow_up(
                TranscriptReady,
                options=event.options,
                media=event.media,
                video_key=event.video_key,
                transcript_key=transcript_key,
            ),
            record={"transcript": {"key": transcript_key, **summary.model_dump()}},
            message=f"Transcribed {summary.word_count} words",
        )

    # Prefetch 1: one transcription at a time per process; scale out with more processes.
    definition = StageDefinition(Stage.TRANSCRIBE, handle, prefetch=1, on_startup=warm_model)
    return StageWorker(definition, settings)
