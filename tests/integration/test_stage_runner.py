"""The one stage runner against the real RabbitMQ and SecantusDB, with a small test stage.

The stage work here is a test double on purpose: these tests are about delivery (ack after
the next event is confirmed, failures, dead letters, redelivery), not about the work itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aio_pika
import pytest
import pytest_asyncio
from aio_pika.exceptions import DeliveryError
from support import body_of, get_message, new_job, publish_json, queue_depth, wait_for_job

from clipforge.shared.errors import StageError
from clipforge.shared.events import JobRequested, MediaReady
from clipforge.shared.jobs import JobStore
from clipforge.shared.models import JobOptions, MediaInfo, SourceRef, Stage
from clipforge.shared.settings import Settings
from clipforge.shared.worker import StageContext, StageDefinition, StageOutcome, StageWorker

pytestmark = pytest.mark.integration

MEDIA = MediaInfo(duration_seconds=10, size_bytes=1000, container="mp4", has_audio=True, has_video=True)
Handler = Callable[[JobRequested, StageContext], Awaitable[StageOutcome]]


class RecordingStage:
    """Counts calls and behaves as the test says."""

    def __init__(self) -> None:
        self.calls = 0
        self.behaviour: Handler = self.succeed

    async def succeed(self, event: JobRequested, ctx: StageContext) -> StageOutcome:
        ctx.progress(0.5, "halfway")
        await asyncio.sleep(0.2)
        return StageOutcome(
            event=event.follow_up(
                MediaReady,
                options=event.options,
                media=MEDIA,
                video_key=ctx.media.key(ctx.job_id, "source.mp4"),
                audio_key=ctx.media.key(ctx.job_id, "audio.wav"),
            ),
            record={"media": MEDIA.model_dump()},
        )

    async def __call__(self, event: JobRequested, ctx: StageContext) -> StageOutcome:
        self.calls += 1
        return await self.behaviour(event, ctx)


@pytest_asyncio.fixture
async def running_stage(settings: Settings) -> AsyncIterator[tuple[StageWorker[JobRequested], RecordingStage]]:
    stage = RecordingStage()
    worker = StageWorker(StageDefinition(Stage.INGEST, stage, prefetch=2), settings)
    await worker.start_dependencies()
    await worker.broker.start()
    try:
        yield worker, stage
    finally:
        await worker.broker.stop()
        await worker.stop_dependencies()


def requested(job: dict[str, Any]) -> JobRequested:
    return JobRequested(
        job_id=job["_id"],
        tenant_id="default",
        correlation_id="corr-1",
        source=SourceRef(url=job["source"]["url"]),
        options=JobOptions(),
    )


async def test_success_records_result_publishes_next_event_then_acks(
    running_stage: tuple[StageWorker[JobRequested], RecordingStage],
    store: JobStore,
    amqp: aio_pika.abc.AbstractChannel,
) -> None:
    worker, _stage = running_stage
    job = await new_job(store)
    await publish_json(amqp, worker.topology, "interactive.job.requested", requested(job).model_dump_json().encode())

    done = await wait_for_job(store, job["_id"], lambda j: j["stages"]["ingest"]["status"] == "done")
    assert done["status"] == "ingesting"  # the next stage has not claimed it yet
    assert done["media"]["duration_seconds"] == 10
    assert done["progress"] == 20.0
    assert done["stages"]["ingest"]["duration_seconds"] >= 0.2

    next_event = MediaReady.model_validate(body_of(await get_message(amqp, f"{worker.topology.prefix}.transcribe")))
    assert next_event.job_id == job["_id"] and next_event.correlation_id == "corr-1"
    await asyncio.sleep(0.3)
    assert await queue_depth(amqp, f"{worker.topology.prefix}.ingest") == 0

    events = await store.events_after(job["_id"], 0)
    seqs = [doc["seq"] for doc in events]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)) and len(seqs) >= 2
    assert any(doc["event"]["message"] == "halfway" for doc in events)


async def test_stage_error_fails_job_and_dead_letters_with_reason(
    running_stage: tuple[StageWorker[JobRequested], RecordingStage],
    store: JobStore,
    amqp: aio_pika.abc.AbstractChannel,
) -> None:
    worker, stage = running_stage

    async def refuse(event: JobRequested, ctx: StageContext) -> StageOutcome:
        raise StageError("media_too_long", "The video is 5 hours long; the limit is 4 hours.")

    stage.behaviour = refuse
    job = await new_job(store)
    await publish_json(amqp, worker.topology, "interactive.job.requested", requested(job).model_dump_json().encode())

    failed = await wait_for_job(store, job["_id"], lambda j: j["status"] == "failed")
    assert failed["error"] == {
        "stage": "ingest",
        "code": "media_too_long",
        "message": "The video is 5 hours long; the limit is 4 hours.",
    }
    assert failed["stages"]["ingest"]["status"] == "failed"

    outcome = body_of(await get_message(amqp, f"{worker.topology.prefix}.gateway"))
    assert outcome["error"]["code"] == "media_too_long"
    dead = await get_message(amqp, f"{worker.topology.prefix}.dead")
    assert dead.headers["x-clipforge-code"] == "media_too_long"
    assert body_of(dead)["job_id"] == job["_id"]


async def test_unexpected_exception_fails_job_as_internal_error(
    running_stage: tuple[StageWorker[JobRequested], RecordingStage],
    store: JobStore,
    amqp: aio_pika.abc.AbstractChannel,
) -> None:
    worker, stage = running_stage

    async def crash(event: JobRequested, ctx: StageContext) -> StageOutcome:
        raise ZeroDivisionError("boom")

    stage.behaviour = crash
    job = await new_job(store)
    await publish_json(amqp, worker.topology, "interactive.job.requested", requested(job).model_dump_json().encode())
    failed = await wait_for_job(store, job["_id"], lambda j: j["status"] == "failed")
    assert failed["error"]["code"] == "internal_error"
    assert "ZeroDivisionError" in failed["error"]["message"]


async def test_unparseable_message_goes_to_dead_letter_queue(
    running_stage: tuple[StageWorker[JobRequested], RecordingStage],
    amqp: aio_pika.abc.AbstractChannel,
) -> None:
    worker, stage = running_stage
    await publish_json(amqp, worker.topology, "interactive.job.requested", b"{not json")
    dead = await get_message(amqp, f"{worker.topology.prefix}.dead")
    assert dead.body == b"{not json"
    assert dead.headers["x-clipforge-code"] == "unparseable_message"
    assert stage.calls == 0
    await asyncio.sleep(0.3)
    assert await queue_depth(amqp, f"{worker.topology.prefix}.ingest") == 0


async def test_redelivery_of_finished_stage_republishes_without_redoing_work(
    running_stage: tuple[StageWorker[JobRequested], RecordingStage],
    store: JobStore,
    amqp: aio_pika.abc.AbstractChannel,
) -> None:
    worker, stage = running_stage
    job = await new_job(store)
    body = requested(job).model_dump_json().encode()
    await publish_json(amqp, worker.topology, "interactive.job.requested", body)
    first = MediaReady.model_validate(body_of(await get_message(amqp, f"{worker.topology.prefix}.transcribe")))

    await publish_json(amqp, worker.topology, "interactive.job.requested", body)  # as if redelivered after a crash
    second = MediaReady.model_validate(body_of(await get_message(amqp, f"{worker.topology.prefix}.transcribe")))
    assert stage.calls == 1
    assert second.event_id == first.event_id
    job_after = await store.get(job["_id"])
    assert job_after is not None and job_after["stages"]["ingest"]["attempt"] == 1


async def test_message_for_finished_job_is_acked_and_ignored(
    running_stage: tuple[StageWorker[JobRequested], RecordingStage],
    store: JobStore,
    amqp: aio_pika.abc.AbstractChannel,
) -> None:
    worker, stage = running_stage
    job = await new_job(store)
    from clipforge.shared.models import JobError

    await store.fail_job(job["_id"], JobError(stage="queued", code="x", message="x"))
    await publish_json(amqp, worker.topology, "interactive.job.requested", requested(job).model_dump_json().encode())
    await asyncio.sleep(1.0)
    assert stage.calls == 0
    assert await queue_depth(amqp, f"{worker.topology.prefix}.ingest") == 0
    final = await store.get(job["_id"])
    assert final is not None and final["status"] == "failed"


async def test_unroutable_publish_raises(running_stage: tuple[StageWorker[JobRequested], RecordingStage]) -> None:
    worker, _stage = running_stage
    with pytest.raises(DeliveryError):
        await worker.publish_raw("nobody.listens", {"x": 1}, "id", "corr")


async def test_readiness_reports_broker_database_and_consumer(
    running_stage: tuple[StageWorker[JobRequested], RecordingStage],
) -> None:
    worker, _stage = running_stage
    assert await worker.is_ready() == {"broker": True, "database": True, "consumer": True}
