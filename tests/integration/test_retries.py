"""Retries of a stage: retryable failures come back through a delay queue, permanent ones fail at once.

Real RabbitMQ (delay queues with TTL dead-lettering back to the pipeline) and SecantusDB; delays
are made short through the settings.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from stagekit import ProgrammableStage, media_ready, requested, running_worker
from support import body_of, get_message, new_job, publish_json, wait_for_job

from clipforge.devstack.rabbit import delete_topology
from clipforge.devstack.secantus import SecantusServer
from clipforge.shared.errors import StageError
from clipforge.shared.events import JobRequested, MediaReady
from clipforge.shared.jobs import JobStore, connect
from clipforge.shared.process import run_process
from clipforge.shared.settings import Settings
from clipforge.shared.topology import Topology
from clipforge.shared.worker import StageContext, StageOutcome

pytestmark = pytest.mark.integration


def retry_settings(settings: Settings, *, base: float, attempts: int = 3) -> Settings:
    return Settings(
        **{
            **settings.model_dump(),
            "retry_base_delay_seconds": base,
            "retry_max_delay_seconds": base * 4,
            "stage_max_attempts": attempts,
        }
    )


def drop_delay_queues(settings: Settings) -> None:
    delays = {round(settings.retry_delay_seconds(n) * 1000) for n in range(1, settings.stage_max_attempts + 1)}
    topology = Topology(settings.topology_prefix)
    delete_topology(settings.amqp_url, settings.topology_prefix, [topology.delay_queue(d).name for d in delays])


def pid_in(path: Path) -> int | None:
    text = path.read_text().strip() if path.exists() else ""
    return int(text) if text else None


async def wait_for_pid(path: Path) -> int:
    for _ in range(1200):
        pid = pid_in(path)
        if pid is not None:
            return pid
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{path} was not written")


async def submit(amqp: aio_pika.abc.AbstractChannel, prefix: str, job: dict[str, Any]) -> None:
    await publish_json(amqp, Topology(prefix), "interactive.job.requested", requested(job).model_dump_json().encode())


async def test_retryable_error_comes_back_after_the_delay_and_completes_on_the_second_attempt(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel
) -> None:
    settings = retry_settings(settings, base=1.0)

    async def flaky(event: JobRequested, ctx: StageContext, call: int) -> StageOutcome:
        if call == 1:
            raise StageError("source_unreachable", "The video's site answered 503.", retryable=True)
        return media_ready(event, ctx)

    stage = ProgrammableStage(flaky)
    try:
        async with running_worker(settings, stage) as worker:
            job = await new_job(store)
            await submit(amqp, settings.topology_prefix, job)

            waiting = await wait_for_job(store, job["_id"], lambda j: j["stages"]["ingest"]["status"] == "retrying")
            ingest = waiting["stages"]["ingest"]
            assert ingest["attempt"] == 1
            assert ingest["last_error"]["code"] == "source_unreachable"
            assert ingest["next_retry_at"] > ingest["started_at"]
            assert "trying again in 1 s" in waiting["message"]

            done = await wait_for_job(store, job["_id"], lambda j: j["stages"]["ingest"]["status"] == "done")
            assert done["stages"]["ingest"]["attempt"] == 2
            assert stage.calls == 2
            # It came back through the delay queue, not at once.
            assert stage.started[1] - stage.started[0] >= 1.0
            next_event = MediaReady.model_validate(
                body_of(await get_message(amqp, f"{worker.topology.prefix}.transcribe"))
            )
            assert next_event.job_id == job["_id"]

            # Watchers saw the retry as a progress event.
            messages = [doc["event"]["message"] for doc in await store.events_after(job["_id"], 0)]
            assert any(m.startswith("Attempt 1 of 3 of the ingest step failed") for m in messages), messages
    finally:
        drop_delay_queues(settings)


async def test_permanent_error_fails_at_once_without_a_retry(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel
) -> None:
    settings = retry_settings(settings, base=0.3)

    async def refuse(event: JobRequested, ctx: StageContext, call: int) -> StageOutcome:
        raise StageError("unsupported_url_scheme", "Only http and https links can be used.")

    stage = ProgrammableStage(refuse)
    async with running_worker(settings, stage) as worker:
        job = await new_job(store)
        await submit(amqp, settings.topology_prefix, job)
        failed = await wait_for_job(store, job["_id"], lambda j: j["status"] == "failed")
        assert failed["error"] == {
            "stage": "ingest",
            "code": "unsupported_url_scheme",
            "message": "Only http and https links can be used.",
        }
        dead = await get_message(amqp, f"{worker.topology.prefix}.dead")
        assert dead.headers["x-clipforge-code"] == "unsupported_url_scheme"
        await asyncio.sleep(settings.retry_max_delay_seconds + 0.5)  # longer than any retry could take
        assert stage.calls == 1
        assert (await store.get(job["_id"]))["stages"]["ingest"]["attempt"] == 1  # type: ignore[index]


async def test_exhausted_retries_fail_the_job_and_park_the_message_with_its_reason(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel
) -> None:
    settings = retry_settings(settings, base=0.2, attempts=3)

    async def disk_full(event: JobRequested, ctx: StageContext, call: int) -> StageOutcome:
        raise OSError(errno.ENOSPC, "No space left on device")

    stage = ProgrammableStage(disk_full)
    try:
        async with running_worker(settings, stage) as worker:
            job = await new_job(store)
            await submit(amqp, settings.topology_prefix, job)
            failed = await wait_for_job(store, job["_id"], lambda j: j["status"] == "failed")
            assert failed["error"]["code"] == "storage_full"
            assert failed["error"]["message"].startswith("We gave up after 3 attempts: The media store is out of space")
            assert failed["stages"]["ingest"]["attempt"] == 3
            assert stage.calls == 3
            # Growing delays: 0.2 s, then 0.4 s.
            assert stage.started[2] - stage.started[1] >= 0.4

            dead = await get_message(amqp, f"{worker.topology.prefix}.dead")
            assert dead.headers["x-clipforge-code"] == "storage_full"
            assert dead.headers["x-clipforge-stage"] == "ingest"
            assert dead.headers["x-clipforge-attempts"] == 3
            assert dead.headers["x-clipforge-routing-key"] == "interactive.job.requested"
            assert str(dead.headers["x-clipforge-reason"]).startswith("We gave up after 3 attempts")
            assert body_of(dead)["job_id"] == job["_id"]
            outcome = body_of(await get_message(amqp, f"{worker.topology.prefix}.gateway"))
            assert outcome["error"]["code"] == "storage_full"
    finally:
        drop_delay_queues(settings)


async def test_program_killed_by_a_signal_is_retried(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel, tmp_path: Path
) -> None:
    settings = retry_settings(settings, base=0.3)
    pid_file = tmp_path / "pid"

    async def run_program(event: JobRequested, ctx: StageContext, call: int) -> StageOutcome:
        if call == 1:  # a long program that something outside kills (as the OOM killer would)
            await run_process(["sh", "-c", f"echo $$ > {pid_file}; exec sleep 60"])
        return media_ready(event, ctx)

    stage = ProgrammableStage(run_program)
    try:
        async with running_worker(settings, stage):
            job = await new_job(store)
            await submit(amqp, settings.topology_prefix, job)
            os.kill(await wait_for_pid(pid_file), signal.SIGKILL)
            done = await wait_for_job(store, job["_id"], lambda j: j["stages"]["ingest"]["status"] == "done")
            assert stage.calls == 2
            events = [doc["event"]["message"] for doc in await store.events_after(job["_id"], 0)]
            assert any("was stopped by the system (signal 9)" in message for message in events), events
            assert done["status"] != "failed"
    finally:
        drop_delay_queues(settings)


async def test_database_outage_delays_the_message_instead_of_a_hot_requeue_loop(
    settings: Settings, amqp: aio_pika.abc.AbstractChannel, tmp_path: Path
) -> None:
    # A database of this test's own, so stopping it disturbs no other test.
    database = SecantusServer(tmp_path / "db", log_path=tmp_path / "db.log").start()
    settings = Settings(
        **{
            **retry_settings(settings, base=0.5).model_dump(),
            "mongo_url": database.url,
            "database_timeout_ms": 500,
        }
    )
    client = connect(database.url)
    store = JobStore(client[settings.mongo_database])
    stage = ProgrammableStage()
    try:
        async with running_worker(settings, stage) as worker:
            job = await new_job(store)
            database.stop()
            await submit(amqp, settings.topology_prefix, job)
            delayed = 0.0
            for _ in range(600):
                delayed = (
                    worker.registry.get_sample_value(
                        "clipforge_stage_messages_total", {"stage": "ingest", "result": "delayed"}
                    )
                    or 0.0
                )
                if delayed >= 2:
                    break
                await asyncio.sleep(0.1)
            assert delayed >= 2, "the message did not go through the delay queue while the database was down"
            assert stage.calls == 0
            # Not handed straight back: the message waits in a delay queue, not in its stage queue.
            assert (
                worker.registry.get_sample_value(
                    "clipforge_stage_messages_total", {"stage": "ingest", "result": "requeued"}
                )
                is None
            )

            database.start()
            done = await wait_for_job(store, job["_id"], lambda j: j["stages"]["ingest"]["status"] == "done")
            assert done["stages"]["ingest"]["attempt"] == 1
            assert stage.calls == 1
    finally:
        await client.close()
        database.stop()
        drop_delay_queues(settings)
