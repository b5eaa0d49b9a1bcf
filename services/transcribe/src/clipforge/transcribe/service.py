"""The transcribe worker: media.ready → faster-whisper with word timestamps → transcript.ready.

Audio longer than ``CLIPFORGE_TRANSCRIBE_CHUNK_SECONDS`` is split at pauses into parts that every
transcribe process works on in parallel (``parallel.py``); shorter audio is transcribed in one pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from faststream import AckPolicy
from faststream.message import StreamMessage
from faststream.rabbit import Channel
from faststream.rabbit.annotations import RabbitMessage
from prometheus_client import Counter, Histogram
from pydantic import Field, ValidationError

from clipforge.shared.cache import COLLECTION, CacheResult, CacheSettings, SourceCache
from clipforge.shared.consumers import consumes
from clipforge.shared.errors import StageCancelled, StageError
from clipforge.shared.events import ControlCommand, MediaReady, TranscriptionChunk, TranscriptReady
from clipforge.shared.models import JobStatus, Stage, Transcript, TranscriptSummary, ignore_progress
from clipforge.shared.worker import (
    StageContext,
    StageDefinition,
    StageOutcome,
    StageWorker,
)
from clipforge.transcribe.cached import REUSED_MESSAGE, transcript_entry_id, transcript_settings
from clipforge.transcribe.chunking import (
    VAD_FRAME_SAMPLES,
    ChunkPlan,
    chunk_count,
    join_transcripts,
    plan_chunks,
    silero_speech_probabilities,
)
from clipforge.transcribe.core import WhisperConfig, check_language, load_model, transcribe
from clipforge.transcribe.parallel import ChunkLedger, is_live_for, wait_for_chunks, worker_identity, write_atomically
from clipforge.transcribe.wav import SAMPLE_RATE, WavFormatError, read_wav_seconds, wav_info

REALTIME_FACTOR_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)
# How often a process working on a part checks that its job still wants it (cancel, failure).
CHUNK_WATCH_SECONDS = 2.0
LANGUAGE_SAMPLE_SECONDS = 60.0

log = logging.getLogger(__name__)


class TranscribeSettings(CacheSettings):
    http_port: int = 8102
    whisper_model: str | None = Field(
        default=None, description="Path or name of a CTranslate2 Whisper model; the bundled tiny.en when unset."
    )
    whisper_device: Literal["cpu", "cuda", "auto"] = "cpu"
    whisper_compute_type: str | None = Field(default=None, description="int8 on CPU and float16 on CUDA when unset.")
    whisper_beam_size: int = Field(default=5, ge=1, le=10)
    whisper_cpu_threads: int = Field(default=0, ge=0, description="0 lets CTranslate2 decide.")
    transcribe_chunk_seconds: float = Field(
        default=600.0,
        ge=0,
        description="Audio longer than this is split at pauses into parts of about this length, transcribed "
        "in parallel by every transcribe process; 0 never splits.",
    )
    transcribe_chunk_timeout_seconds: float = Field(
        default=1800.0,
        gt=0,
        description="A split transcription fails when no part finished for this long.",
    )

    def whisper_config(self) -> WhisperConfig:
        return WhisperConfig(
            model=self.whisper_model,
            device=self.whisper_device,
            compute_type=self.whisper_compute_type,
            beam_size=self.whisper_beam_size,
            cpu_threads=self.whisper_cpu_threads,
        )


async def _raw_body(message: StreamMessage[Any]) -> bytes:
    return bytes(message.body)


class TranscribeWorker(StageWorker[MediaReady]):
    """The stage runner plus a consumer of the parts of long audio (any job's, in any process)."""

    def __init__(self, settings: TranscribeSettings) -> None:
        self.transcribe_settings = settings
        self.config = settings.whisper_config()
        # Prefetch 1: one job at a time per process; scale out with more processes.
        super().__init__(StageDefinition(Stage.TRANSCRIBE, self.handle, prefetch=1, on_startup=self.start_up), settings)
        self.cache: SourceCache | None = None
        self.worker_id = worker_identity()
        # Seconds of processing per second of audio: below 1 is faster than real time. Dashboards and
        # capacity planning (how many jobs one GPU pod clears per hour) read it per device.
        self.realtime_factor = Histogram(
            "clipforge_transcription_realtime_factor",
            "Transcription processing time divided by the audio's duration, per job.",
            ["device"],
            buckets=REALTIME_FACTOR_BUCKETS,
            registry=self.registry,
        )
        self.chunk_results = Counter(
            "clipforge_transcription_chunks",
            "Parts of long audio this process handled, by result (done, duplicate, stale, cancelled, failed, "
            "requeued, unparseable).",
            ["result"],
            registry=self.registry,
        )
        self.chunks_published = Counter(
            "clipforge_transcription_chunks_published",
            "Parts of long audio this process sent to the fleet as coordinator.",
            registry=self.registry,
        )
        self.chunk_stops: dict[str, set[threading.Event]] = {}
        # The second subscriber: its own channel and prefetch, independent of the stage's slot.
        self.chunk_subscriber = self.broker.subscriber(
            self.topology.transcribe_chunk_queue,
            self.topology.pipeline,
            channel=Channel(prefetch_count=1),
            ack_policy=AckPolicy.MANUAL,
            decoder=_raw_body,
            title="transcribe-chunks",
        )
        self.chunk_subscriber(self._on_chunk_message)

    @property
    def ledger(self) -> ChunkLedger:
        assert self.store is not None, "the worker has not started"
        return ChunkLedger(self.store.jobs)

    async def start_up(self) -> None:
        if self.transcribe_settings.cache_enabled:
            assert self.store is not None
            self.cache = SourceCache(
                self.store.db[COLLECTION], self.transcribe_settings.media_root, self.transcribe_settings
            )
            await self.cache.ensure_indexes()
        await self.warm_model()

    async def warm_model(self) -> None:
        await asyncio.to_thread(_warm_up, self.config)

    async def is_ready(self) -> dict[str, bool]:
        ready = await super().is_ready()
        ready["consumer"] = ready["consumer"] and consumes(self.chunk_subscriber)
        return ready

    async def _on_control(self, command: ControlCommand) -> None:
        await super()._on_control(command)
        if command.command == "cancel":
            for stop in self.chunk_stops.get(command.job_id, ()):
                stop.set()

    # --- the stage: one job's media.ready -------------------------------------------------

    async def handle(self, event: MediaReady, ctx: StageContext) -> StageOutcome:
        started = time.monotonic()
        audio_path = ctx.media.path(event.audio_key)
        transcript_key = ctx.media.key(ctx.job_id, "transcript.json")
        next_event = event.follow_up(
            TranscriptReady,
            options=event.options,
            media=event.media,
            video_key=event.video_key,
            transcript_key=transcript_key,
        )
        cache_id = await self._cache_id(event, ctx, audio_path)
        if cache_id is not None and (reused := await self._reuse(cache_id, ctx, transcript_key)) is not None:
            ctx.progress(1.0, REUSED_MESSAGE)
            return self._outcome(next_event, transcript_key, reused, "hit")
        parts = await asyncio.to_thread(self._planned_parts, audio_path)
        if parts > 1:
            transcript = await self._transcribe_in_parts(event, ctx, audio_path)
        else:
            transcript = await transcribe(
                audio_path, self.config, language=event.options.language, on_progress=ctx.progress
            )
        if transcript is None:
            # The job ended (cancelled, failed elsewhere) or a newer attempt took over while this one
            # waited: the runner's conditional write refuses this outcome, so nothing is published.
            return StageOutcome(event=next_event, message="Transcription abandoned: the job moved on")
        if transcript.duration_seconds > 0:
            self.realtime_factor.labels(self.transcribe_settings.whisper_device).observe(
                (time.monotonic() - started) / transcript.duration_seconds
            )
        transcript_path = ctx.media.prepare(transcript_key)
        write_atomically(transcript_path, transcript.model_dump_json())
        if cache_id is not None:
            await self._keep(cache_id, ctx, transcript_path)
        return self._outcome(next_event, transcript_key, transcript, None if cache_id is None else "miss")

    @staticmethod
    def _outcome(
        next_event: TranscriptReady, transcript_key: str, transcript: Transcript, cache: CacheResult | None
    ) -> StageOutcome:
        summary = TranscriptSummary.of(transcript)
        record: dict[str, Any] = {"transcript": {"key": transcript_key, **summary.model_dump()}}
        if cache is not None:
            record["cache.transcript"] = cache
        words = f"{summary.word_count} words"
        message = f"{REUSED_MESSAGE}: {words}" if cache == "hit" else f"Transcribed {words}"
        return StageOutcome(event=next_event, record=record, message=message)

    # --- the transcript cache -----------------------------------------------------------------

    async def _cache_id(self, event: MediaReady, ctx: StageContext, audio_path: Path) -> str | None:
        if self.cache is None:
            return None
        settings = transcript_settings(
            self.config, event.options.language, self.transcribe_settings.transcribe_chunk_seconds
        )
        try:
            return await transcript_entry_id(self.cache.scope_for(ctx.tenant_id), audio_path, settings)
        except FileNotFoundError:
            return None  # transcribe() reports the missing audio

    async def _reuse(self, cache_id: str, ctx: StageContext, transcript_key: str) -> Transcript | None:
        assert self.cache is not None
        try:
            entry = await self.cache.lookup(cache_id)
            target = ctx.media.prepare(transcript_key)
            if entry is None or not await self.cache.link_into(entry, {"transcript": target}):
                return None
            return Transcript.model_validate_json(await asyncio.to_thread(target.read_bytes))
        except Exception:  # a shortcut only: when the cache cannot be read, transcribe
            ctx.log.exception("could not reuse the cached transcript")
            return None

    async def _keep(self, cache_id: str, ctx: StageContext, transcript_path: Path) -> None:
        assert self.cache is not None
        try:
            await self.cache.store(
                cache_id,
                kind="transcript",
                scope=self.cache.scope_for(ctx.tenant_id),
                files={"transcript": transcript_path},
                meta={},
            )
        except Exception:  # the job has its transcript; failing to keep a copy must not fail it
            ctx.log.exception("could not keep the transcript in the cache")

    def _planned_parts(self, audio_path: Any) -> int:
        try:
            info = wav_info(audio_path)
        except (WavFormatError, OSError):
            return 1  # not the WAV ingest writes: one pass decodes anything
        return chunk_count(info.duration_seconds, self.transcribe_settings.transcribe_chunk_seconds)

    async def _transcribe_in_parts(self, event: MediaReady, ctx: StageContext, audio_path: Any) -> Transcript | None:
        model = await asyncio.to_thread(load_model, self.config)
        language = check_language(model, event.options.language)
        if language is None and model.model.is_multilingual:
            # Decided once for the whole audio, as one pass would, so the parts agree.
            sample = await asyncio.to_thread(read_wav_seconds, audio_path, 0.0, LANGUAGE_SAMPLE_SECONDS)
            language = await asyncio.to_thread(_detect_language, model, sample)
        ctx.progress(0.0, "Finding pauses to split the audio at")
        plan = await asyncio.to_thread(plan_chunks, audio_path, self.transcribe_settings.transcribe_chunk_seconds)

        def result_key(index: int) -> str:
            return ctx.media.key(ctx.job_id, "chunks", f"{plan.plan_id}-{index:03d}.json")

        done = await self.ledger.open(
            ctx.job_id, plan, result_exists=lambda index: ctx.media.path(result_key(index)).is_file()
        )
        if done is None:
            return None
        ctx.log.info(
            "split %.0f s of audio into %d parts (%d cuts outside a pause); %d already done",
            plan.duration_seconds,
            len(plan.spans),
            plan.forced_cuts,
            len(done),
        )
        for span in plan.spans:
            if span.index in done:
                continue
            task = event.follow_up(
                TranscriptionChunk,
                plan_id=plan.plan_id,
                index=span.index,
                count=len(plan.spans),
                audio_key=event.audio_key,
                start_seconds=span.start,
                end_seconds=span.end,
                language=language,
                result_key=result_key(span.index),
            )
            await self._publish(task)
            self.chunks_published.inc()
        complete = await wait_for_chunks(
            self.ledger,
            ctx.job_id,
            plan,
            on_progress=ctx.progress,
            timeout_seconds=self.transcribe_settings.transcribe_chunk_timeout_seconds,
        )
        if not complete:
            return None
        return await asyncio.to_thread(self._join, ctx, plan, result_key, language)

    @staticmethod
    def _join(ctx: StageContext, plan: ChunkPlan, result_key: Any, language: str | None) -> Transcript:
        parts = [
            (span, Transcript.model_validate_json(ctx.media.path(result_key(span.index)).read_bytes()))
            for span in plan.spans
        ]
        return join_transcripts(parts, duration_seconds=plan.duration_seconds, language=language)

    # --- a part of some job's audio ---------------------------------------------------------

    async def _on_chunk_message(self, body: bytes, message: RabbitMessage) -> None:
        try:
            task = TranscriptionChunk.model_validate_json(body)
        except ValidationError as exc:
            log.error("unparseable transcription part dead-lettered: %s", exc.errors()[:3])
            await self._dead_letter(body, message, code="unparseable_message", detail=str(exc)[:500])
            self.chunk_results.labels("unparseable").inc()
            return
        try:
            result = await self.work_on_chunk(task)
        except Exception as exc:
            log.exception("infrastructure error on part %d of job %s; retrying it later", task.index, task.job_id)
            self.chunk_results.labels("requeued").inc()
            await self._retry_without_database(task, body, message, exc)  # via a delay queue, as stages do
            return
        await message.ack()
        self.chunk_results.labels(result).inc()

    async def work_on_chunk(self, task: TranscriptionChunk) -> str:
        """Transcribe one part and record it; returns what happened (the metric's result label)."""
        job_log = logging.LoggerAdapter(
            log,
            {
                "job_id": task.job_id,
                "tenant_id": task.tenant_id,
                "stage": "transcribe",
                "correlation_id": task.correlation_id,
            },
        )
        ledger = self.ledger
        job = await ledger.state(task.job_id)
        if not is_live_for(job, task.plan_id):
            job_log.info("skipping part %d of %d: the job no longer needs it", task.index + 1, task.count)
            return "stale"
        assert job is not None
        result_path = self.media.path(task.result_key)
        if task.index in job["transcribe_chunks"].get("done", []) and result_path.is_file():
            return "duplicate"
        stop = threading.Event()
        self.chunk_stops.setdefault(task.job_id, set()).add(stop)
        watcher = asyncio.create_task(self._watch_chunk(task, stop))
        started = time.monotonic()
        try:
            part = await transcribe(
                self.media.path(task.audio_key),
                self.config,
                language=task.language,
                on_progress=ignore_progress,
                stop=stop,
                span=(task.start_seconds, task.end_seconds),
            )
        except StageCancelled:
            job_log.info("part %d of %d stopped: the job no longer needs it", task.index + 1, task.count)
            return "cancelled"
        except StageError as error:
            job_log.warning(
                "part %d of %d failed: %s", task.index + 1, task.count, error.code, extra={"code": error.code}
            )
            await ledger.mark_failed(task.job_id, task.plan_id, task.index, error)
            return "failed"
        except Exception as exc:
            job_log.exception("part %d of %d crashed", task.index + 1, task.count)
            error = StageError(
                "internal_error",
                f"The transcribe step hit an unexpected problem ({type(exc).__name__}). "
                "It has been logged; please try again or contact support if it persists.",
            )
            await ledger.mark_failed(task.job_id, task.plan_id, task.index, error)
            return "failed"
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            stops = self.chunk_stops.get(task.job_id, set())
            stops.discard(stop)
            if not stops:
                self.chunk_stops.pop(task.job_id, None)
        if not is_live_for(await ledger.state(task.job_id), task.plan_id):
            return "cancelled"  # ended while this part ran
        await asyncio.to_thread(write_atomically, result_path, part.model_dump_json())
        job = await ledger.state(task.job_id)
        if not is_live_for(job, task.plan_id):
            # Ended while the file was written: a cancelled job's media is removed (as the stage
            # runner does), so the part written just now does not outlive it.
            if job is not None and job.get("status") == JobStatus.CANCELLED.value:
                await asyncio.to_thread(self.media.delete_job, task.job_id)
            return "cancelled"
        newly = await ledger.mark_done(task.job_id, task.plan_id, task.index, self.worker_id)
        job_log.info(
            "part %d of %d (%.0f s of audio) transcribed in %.1f s",
            task.index + 1,
            task.count,
            task.end_seconds - task.start_seconds,
            time.monotonic() - started,
        )
        return "done" if newly else "duplicate"

    async def _watch_chunk(self, task: TranscriptionChunk, stop: threading.Event) -> None:
        """Stop the part's transcription once its job ended (cancelled, failed) or was re-planned."""
        while not stop.is_set():
            await asyncio.sleep(CHUNK_WATCH_SECONDS)
            try:
                job = await self.ledger.state(task.job_id)
            except Exception:
                continue  # a database blip: the next look decides
            if not is_live_for(job, task.plan_id):
                stop.set()


def _warm_up(config: WhisperConfig) -> None:
    """Load the models and run them once, so a pod's first job (or first part) is not the slow one.

    The first decode allocates CTranslate2's buffers and faster-whisper loads its Silero VAD model
    on first use; both cost seconds that a freshly scaled-up pod would otherwise add to a part.
    """
    model = load_model(config)
    silero_speech_probabilities(np.zeros(VAD_FRAME_SAMPLES * 4, dtype=np.float32))
    segments, _info = model.transcribe(
        np.zeros(SAMPLE_RATE, dtype=np.float32), language="en", beam_size=config.beam_size, vad_filter=False
    )
    for _segment in segments:
        pass


def _detect_language(model: Any, sample: np.ndarray) -> str:
    language, _probability, _all = model.detect_language(audio=sample, vad_filter=True)
    return str(language)


def build_worker(settings: TranscribeSettings | None = None) -> TranscribeWorker:
    return TranscribeWorker(settings or TranscribeSettings())
