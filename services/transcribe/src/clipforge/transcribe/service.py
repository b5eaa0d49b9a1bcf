"""The transcribe worker: media.ready → faster-whisper with word timestamps → transcript.ready."""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from prometheus_client import Histogram
from pydantic import Field

from clipforge.shared.events import MediaReady, TranscriptReady
from clipforge.shared.models import Stage, TranscriptSummary
from clipforge.shared.settings import Settings
from clipforge.shared.worker import StageContext, StageDefinition, StageOutcome, StageWorker
from clipforge.transcribe.core import WhisperConfig, load_model, transcribe

REALTIME_FACTOR_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)


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
        started = time.monotonic()
        transcript = await transcribe(
            ctx.media.path(event.audio_key), config, language=event.options.language, on_progress=ctx.progress
        )
        if transcript.duration_seconds > 0:
            realtime_factor.labels(settings.whisper_device).observe(
                (time.monotonic() - started) / transcript.duration_seconds
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
    worker = StageWorker(definition, settings)
    # Seconds of processing per second of audio: below 1 is faster than real time. Dashboards and
    # capacity planning (how many jobs one GPU pod clears per hour) read it per device.
    realtime_factor = Histogram(
        "clipforge_transcription_realtime_factor",
        "Transcription processing time divided by the audio's duration, per job.",
        ["device"],
        buckets=REALTIME_FACTOR_BUCKETS,
        registry=worker.registry,
    )
    return worker
