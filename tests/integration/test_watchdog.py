"""Nothing stuck: heartbeats, the watchdog, and readiness that notices a consumer is gone.

A worker "vanishes" the way a frozen or partitioned one does: its process is stopped (SIGSTOP),
so its broker connection stays open and its message stays unacked, but it beats no more.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aio_pika
import httpx
import pytest
from stagekit import ProgrammableStage, SlowWorkerProcess, requested, running_worker, served_worker, wait_for_path
from support import body_of, get_message, publish_json, wait_for_job

from clipforge.shared.events import JobRequested
from clipforge.shared.jobs import JobStore
from clipforge.shared.models import JobOptions, SourceRef, Stage
from clipforge.shared.settings import Settings
from clipforge.shared.topology import Topology
from clipforge.shared.worker import StageDefinition, StageWorker

pytestmark = pytest.mark.integration


def watchdog_settings(settings: Settings, **overrides: float) -> Settings:
    return Settings(
        **{
            **settings.model_dump(),
            "heartbeat_interval_seconds": 0.5,
            "heartbeat_timeout_seconds": 3.0,
            "watchdog_interval_seconds": 0.5,
            "stage_max_attempts": 3,
            **overrides,
        }
    )


async def batch_job(store: JobStore) -> dict:  # type: ignore[type-arg]
    # Batch: the stopped worker's batch channel (prefetch 1) is full, so a resent message goes elsewhere.
    return await store.create(
        tenant_id="default", source=SourceRef(url="http://127.0.0.1:9/v.mp4"), options=JobOptions(), priority="batch"
    )


async def test_watchdog_rescues_a_job_whose_worker_stopped_beating(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel, tmp_path: Path
) -> None:
    settings = watchdog_settings(settings)
    frozen = SlowWorkerProcess(settings, tmp_path / "markers", seconds=600)
    try:
        await frozen.wait_ready()
        job = await batch_job(store)
        body = requested(job).model_dump_json().encode()
        await publish_json(amqp, Topology(settings.topology_prefix), "batch.job.requested", body)
        await wait_for_path(frozen.marker(job["_id"], 1, "started"))
        os.kill(frozen.process.pid, signal.SIGSTOP)

        rescuer = ProgrammableStage()
        async with running_worker(settings, rescuer) as worker:
            done = await wait_for_job(
                store, job["_id"], lambda j: j["stages"]["ingest"]["status"] == "done", timeout=120
            )
            actions = worker.registry.get_sample_value("clipforge_watchdog_actions_total", {"action": "retried"})
            assert actions == 1
        assert done["stages"]["ingest"]["attempt"] == 2
        assert rescuer.calls == 1
        messages = [doc["event"]["message"] for doc in await store.events_after(job["_id"], 0)]
        assert "The ingest step stopped responding; handing it to another worker" in messages

        # The frozen worker wakes up, learns at its next beat that it was taken over, and stops.
        os.kill(frozen.process.pid, signal.SIGCONT)
        for _ in range(600):
            if "a newer attempt took over" in frozen.log():
                break
            await asyncio.sleep(0.1)
        assert "stage stopped: a newer attempt took over" in frozen.log()
        assert not frozen.marker(job["_id"], 1, "finished").exists()
        after = await store.get(job["_id"])
        assert after is not None and after["stages"]["ingest"]["status"] == "done"
        assert after["stages"]["ingest"]["attempt"] == 2
    finally:
        frozen.kill()


async def test_watchdog_fails_a_stage_that_stalled_on_its_last_attempt(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel, tmp_path: Path
) -> None:
    settings = watchdog_settings(settings, stage_max_attempts=1)
    frozen = SlowWorkerProcess(settings, tmp_path / "markers", seconds=600)
    try:
        await frozen.wait_ready()
        job = await batch_job(store)
        body = requested(job).model_dump_json().encode()
        await publish_json(amqp, Topology(settings.topology_prefix), "batch.job.requested", body)
        await wait_for_path(frozen.marker(job["_id"], 1, "started"))
        os.kill(frozen.process.pid, signal.SIGSTOP)

        bystander = ProgrammableStage()
        async with running_worker(settings, bystander):
            failed = await wait_for_job(store, job["_id"], lambda j: j["status"] == "failed", timeout=120)
            dead = await get_message(amqp, f"{settings.topology_prefix}.dead")
        assert failed["error"]["code"] == "stage_stalled"
        assert failed["error"]["message"].startswith(
            "We gave up after 1 attempt: the ingest step stopped responding each time"
        )
        assert bystander.calls == 0
        assert dead.headers["x-clipforge-code"] == "stage_stalled"
        assert dead.headers["x-clipforge-routing-key"] == "batch.job.requested"
        assert JobRequested.model_validate(body_of(dead)).job_id == job["_id"]
    finally:
        frozen.kill()


async def test_watchdog_resends_a_job_whose_request_never_reached_its_queue(
    settings: Settings, store: JobStore
) -> None:
    settings = watchdog_settings(settings, queued_timeout_seconds=1.0)
    job = await store.create(
        tenant_id="default", source=SourceRef(url="http://127.0.0.1:9/v.mp4"), options=JobOptions()
    )
    stage = ProgrammableStage()
    async with running_worker(settings, stage):  # nothing was published for this job
        done = await wait_for_job(store, job["_id"], lambda j: j["stages"]["ingest"]["status"] == "done", timeout=60)
    assert stage.calls == 1
    assert done["stages"]["ingest"]["attempt"] == 1


async def test_heartbeat_is_recorded_while_the_stage_runs(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel, tmp_path: Path
) -> None:
    settings = watchdog_settings(settings)
    worker = SlowWorkerProcess(settings, tmp_path / "markers", seconds=4)
    try:
        await worker.wait_ready()
        job = await batch_job(store)
        body = requested(job).model_dump_json().encode()
        await publish_json(amqp, Topology(settings.topology_prefix), "batch.job.requested", body)
        first = await wait_for_job(store, job["_id"], lambda j: j["stages"]["ingest"].get("heartbeat_at") is not None)
        beat = first["stages"]["ingest"]["heartbeat_at"]
        later = await wait_for_job(
            store,
            job["_id"],
            lambda j: (
                (j["stages"]["ingest"].get("heartbeat_at") or beat) > beat or j["stages"]["ingest"]["status"] == "done"
            ),
        )
        assert later["stages"]["ingest"]["status"] == "running", "the stage ended before a second beat"
        assert later["stages"]["ingest"]["input_event"]["routing_key"] == "batch.job.requested"
    finally:
        worker.kill()


async def test_readiness_fails_when_the_consumer_channel_is_closed(settings: Settings, store: JobStore) -> None:
    worker: StageWorker[JobRequested] = StageWorker(StageDefinition(Stage.INGEST, ProgrammableStage()), settings)
    async with served_worker(worker) as url, httpx.AsyncClient() as client:
        ready = await client.get(f"{url}/readyz")
        for _ in range(600):  # the broker starts after the HTTP side (FastStream's ASGI lifespan)
            if ready.status_code == 200:
                break
            await asyncio.sleep(0.1)
            ready = await client.get(f"{url}/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"broker": True, "database": True, "consumer": True}

        # The consumer's channel goes away while the connection and the database stay up.
        await worker.subscribers["interactive"]._queue_obj.channel.close()  # type: ignore[union-attr]
        gone = await client.get(f"{url}/readyz")
        assert gone.status_code == 503
        assert gone.json()["checks"] == {"broker": True, "database": True, "consumer": False}


async def test_readiness_notices_a_consumer_the_broker_cancelled_until_it_is_restored(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel
) -> None:
    stage = ProgrammableStage()
    async with running_worker(settings, stage) as worker:
        assert (await worker.is_ready())["consumer"] is True
        # Deleting the queue makes the broker cancel the consumer while channel and connection stay open.
        await amqp.queue_delete(worker.topology.stage_queue(Stage.INGEST).name)
        states = [(await worker.is_ready())["consumer"]]
        for _ in range(100):
            if not states[-1]:
                break
            await asyncio.sleep(0.05)
            states.append((await worker.is_ready())["consumer"])
        assert states[-1] is False, "readiness never noticed the cancelled consumer"
        # aio-pika's recovery declares the queue again and consumes under the same tag.
        for _ in range(600):
            if (await worker.is_ready())["consumer"]:
                break
            await asyncio.sleep(0.1)
        assert (await worker.is_ready())["consumer"] is True
        job = await store.create(
            tenant_id="default", source=SourceRef(url="http://127.0.0.1:9/v.mp4"), options=JobOptions()
        )
        body = requested(job).model_dump_json().encode()
        await publish_json(amqp, worker.topology, "interactive.job.requested", body)
        await wait_for_job(store, job["_id"], lambda j: j["stages"]["ingest"]["status"] == "done")
