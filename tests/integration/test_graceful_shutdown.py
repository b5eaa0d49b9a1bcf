"""SIGTERM: a worker process stops taking work, finishes what it can within the grace period, and
hands back the rest unacked, so nothing is lost and nothing is acked that was not done."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from stagekit import ProgrammableStage, SlowWorkerProcess, requested, running_worker, wait_for_path
from support import body_of, get_message, new_job, publish_json, queue_depth, wait_for_job

from clipforge.shared.events import MediaReady
from clipforge.shared.jobs import JobStore
from clipforge.shared.settings import Settings
from clipforge.shared.topology import Topology

pytestmark = pytest.mark.integration


async def submit(amqp: aio_pika.abc.AbstractChannel, settings: Settings, job: dict[str, Any]) -> None:
    body = requested(job).model_dump_json().encode()
    await publish_json(amqp, Topology(settings.topology_prefix), "interactive.job.requested", body)


def with_grace(settings: Settings, seconds: float) -> Settings:
    return Settings(**{**settings.model_dump(), "shutdown_grace_seconds": seconds})


async def test_sigterm_hands_back_unfinished_work_and_a_new_worker_completes_it(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel, tmp_path: Path
) -> None:
    settings = with_grace(settings, 1.0)
    stopping = SlowWorkerProcess(settings, tmp_path / "markers", seconds=600)
    try:
        await stopping.wait_ready()
        job = await new_job(store)
        await submit(amqp, settings, job)
        await wait_for_path(stopping.marker(job["_id"], 1, "started"))

        stopping.process.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal once it has shut down cleanly.
        assert await stopping.wait_exit(timeout=120) in (0, -signal.SIGTERM), stopping.log()
        assert "Application shutdown complete" in stopping.log()
        assert not stopping.marker(job["_id"], 1, "finished").exists()

        handed_back = await store.get(job["_id"])
        assert handed_back is not None
        assert handed_back["stages"]["ingest"]["status"] == "retrying"
        assert handed_back["message"] == "The ingest step was handed to another worker (this one is stopping)"
        assert await queue_depth(amqp, f"{settings.topology_prefix}.ingest") == 1  # back in its queue, not lost
    finally:
        stopping.kill()

    successor = ProgrammableStage()
    async with running_worker(settings, successor):
        done = await wait_for_job(store, job["_id"], lambda j: j["stages"]["ingest"]["status"] == "done")
    assert successor.calls == 1
    assert done["stages"]["ingest"]["attempt"] == 2
    assert done["stages"]["ingest"]["tries"] == 1  # a hand-back does not use up an attempt


async def test_sigterm_lets_work_in_flight_finish_and_hands_back_what_never_started(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel, tmp_path: Path
) -> None:
    settings = with_grace(settings, 120.0)
    stopping = SlowWorkerProcess(settings, tmp_path / "markers", seconds=3, prefetch=1)
    try:
        await stopping.wait_ready()
        running = await new_job(store)
        await submit(amqp, settings, running)
        await wait_for_path(stopping.marker(running["_id"], 1, "started"))
        # Prefetched by the worker, waiting for its only slot when the signal comes.
        waiting = await new_job(store)
        await submit(amqp, settings, waiting)
        await wait_for_job(store, running["_id"], lambda j: j["stages"]["ingest"].get("progress", 0) > 0)

        stopping.process.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal once it has shut down cleanly.
        assert await stopping.wait_exit(timeout=120) in (0, -signal.SIGTERM), stopping.log()
        assert "Application shutdown complete" in stopping.log()
    finally:
        stopping.kill()

    assert stopping.marker(running["_id"], 1, "finished").exists()
    assert stopping.log().count(" - Received") == 2, "the waiting job was not prefetched: the test proves nothing"
    finished = await store.get(running["_id"])
    assert finished is not None and finished["stages"]["ingest"]["status"] == "done"
    handed_on = MediaReady.model_validate(body_of(await get_message(amqp, f"{settings.topology_prefix}.transcribe")))
    assert handed_on.job_id == running["_id"]

    untouched = await store.get(waiting["_id"])
    assert untouched is not None and untouched["status"] == "queued"
    assert untouched["stages"]["ingest"]["attempt"] == 0
    assert not stopping.marker(waiting["_id"], 1, "started").exists()
    assert await queue_depth(amqp, f"{settings.topology_prefix}.ingest") == 1
