"""The dead-letter queue for operators: the admin API and the CLI list parked messages and send them back."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import aio_pika
import httpx
import pytest
from stagekit import ProgrammableStage, media_ready, requested, running_worker, settings_env
from support import publish_json, queue_depth, serve_gateway, wait_for_job

from clipforge.devstack.rabbit import delete_topology
from clipforge.gateway.dead_letters import DeadLetterQueue
from clipforge.gateway.keys import KeyStore
from clipforge.shared.errors import StageError
from clipforge.shared.events import JobRequested
from clipforge.shared.jobs import JobStore
from clipforge.shared.models import JobOptions, SourceRef, Stage
from clipforge.shared.settings import Settings
from clipforge.shared.topology import DELIVERY_LIMIT, Topology
from clipforge.shared.worker import StageContext, StageOutcome

pytestmark = pytest.mark.integration


def fast_retries(settings: Settings) -> Settings:
    return Settings(
        **{
            **settings.model_dump(),
            "retry_base_delay_seconds": 0.2,
            "retry_max_delay_seconds": 0.2,
            "stage_max_attempts": 2,
        }
    )


async def dead_letters(client: httpx.AsyncClient, key: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/admin/dead-letters", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def test_admin_lists_an_exhausted_message_and_requeue_completes_the_job(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel, api_key: str
) -> None:
    settings = fast_retries(settings)
    source_is_up = asyncio.Event()

    async def until_the_source_is_back(event: JobRequested, ctx: StageContext, call: int) -> StageOutcome:
        if not source_is_up.is_set():
            raise StageError("source_unreachable", "The video's site did not answer.", retryable=True)
        return media_ready(event, ctx)

    stage = ProgrammableStage(until_the_source_is_back)
    admin_key = (await KeyStore(store.db).create("ops", "on call", admin=True)).api_key
    try:
        async with running_worker(settings, stage), serve_gateway(settings) as url:
            job = await store.create(
                tenant_id="default", source=SourceRef(url="http://127.0.0.1:9/v.mp4"), options=JobOptions()
            )
            body = requested(job).model_dump_json().encode()
            await publish_json(amqp, Topology(settings.topology_prefix), "interactive.job.requested", body)
            failed = await wait_for_job(store, job["_id"], lambda j: j["status"] == "failed")
            assert failed["error"]["message"].startswith("We gave up after 2 attempts")

            async with httpx.AsyncClient(base_url=url) as client:
                anonymous = await client.get("/v1/admin/dead-letters")
                assert anonymous.status_code == 401
                tenant_only = await client.get("/v1/admin/dead-letters", headers={"Authorization": f"Bearer {api_key}"})
                assert tenant_only.status_code == 403
                assert tenant_only.json()["code"] == "admin_required"

                listed = await dead_letters(client, admin_key)
                assert len(listed) == 1
                parked = listed[0]
                assert parked["job_id"] == job["_id"]
                assert parked["stage"] == "ingest"
                assert parked["code"] == "source_unreachable"
                assert parked["reason"].startswith("We gave up after 2 attempts: The video's site did not answer.")
                assert parked["routing_key"] == "interactive.job.requested"
                assert parked["attempts"] == 2
                assert parked["dead_at"] is not None and parked["source"] == "stage"
                assert await dead_letters(client, admin_key) == listed  # listing took nothing away

                refused = await client.post(
                    "/v1/admin/dead-letters/requeue", json={}, headers={"Authorization": f"Bearer {admin_key}"}
                )
                assert refused.status_code == 422

                source_is_up.set()
                requeued = await client.post(
                    "/v1/admin/dead-letters/requeue",
                    json={"ids": [parked["id"]]},
                    headers={"Authorization": f"Bearer {admin_key}"},
                )
                assert requeued.status_code == 200, requeued.text
                report = requeued.json()
                assert report["requeued"] == 1
                assert (
                    report["outcomes"][0]["detail"] == "The failed job was reset from ingest and its message sent back."
                )

                done = await wait_for_job(store, job["_id"], lambda j: j["stages"]["ingest"]["status"] == "done")
                assert done["status"] == "ingesting" and done["error"] is None
                assert stage.calls == 3
                assert await dead_letters(client, admin_key) == []
    finally:
        delete_topology(
            settings.amqp_url, settings.topology_prefix, [Topology(settings.topology_prefix).delay_queue(200).name]
        )


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **settings_env(settings)}
    return subprocess.run(
        [sys.executable, "-m", "clipforge.gateway.dead_letters", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_cli_lists_an_unparseable_message_and_sends_it_back_to_its_queue(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel
) -> None:
    topology = Topology(settings.topology_prefix)
    stage = ProgrammableStage()
    async with running_worker(settings, stage):
        await publish_json(amqp, topology, "interactive.job.requested", b'{"job_id": 42')
        for _ in range(300):
            if await queue_depth(amqp, topology.dead_queue.name) == 1:
                break
            await asyncio.sleep(0.1)
    assert stage.calls == 0

    listing = await asyncio.to_thread(run_cli, settings, "list")
    assert listing.returncode == 0, listing.stderr
    assert "unparseable_message" in listing.stdout
    assert " ingest " in listing.stdout
    message_id = listing.stdout.split()[0]

    requeue = await asyncio.to_thread(run_cli, settings, "requeue", message_id)
    assert requeue.returncode == 0, requeue.stderr
    assert f"{message_id}  requeued" in requeue.stdout
    assert await queue_depth(amqp, topology.dead_queue.name) == 0
    assert await queue_depth(amqp, f"{settings.topology_prefix}.ingest") == 1  # back where it came from

    missing = await asyncio.to_thread(run_cli, settings, "requeue", "0" * 24)
    assert missing.returncode == 1 and "not_found" in missing.stdout


async def test_a_message_the_broker_dead_lettered_after_its_delivery_limit_is_listed_and_sent_back(
    settings: Settings, store: JobStore, amqp: aio_pika.abc.AbstractChannel
) -> None:
    topology = Topology(settings.topology_prefix)
    async with running_worker(settings, ProgrammableStage()):
        pass  # declares the topology, then stops consuming
    job = await store.create(
        tenant_id="default", source=SourceRef(url="http://127.0.0.1:9/v.mp4"), options=JobOptions()
    )
    await publish_json(amqp, topology, "batch.job.requested", requested(job).model_dump_json().encode())
    # A consumer that keeps crashing on it: handed back until RabbitMQ's delivery limit parks it.
    queue = await amqp.get_queue(topology.stage_queue(Stage.INGEST, "batch").name, ensure=False)
    for _ in range(DELIVERY_LIMIT + 1):
        message = None
        for _ in range(100):
            message = await queue.get(no_ack=False, fail=False)
            if message is not None:
                break
            await asyncio.sleep(0.05)
        if message is None:
            break
        await message.nack(requeue=True)

    dead_letters = DeadLetterQueue(settings.amqp_url, topology, store)
    listing = await dead_letters.list()
    for _ in range(100):
        if listing.items:
            break
        await asyncio.sleep(0.1)
        listing = await dead_letters.list()
    (parked,) = listing.items
    assert parked.source == "broker" and parked.code == "delivery_limit"
    assert parked.stage == "ingest" and parked.job_id == job["_id"]
    assert parked.routing_key == "batch.job.requested"
    assert parked.reason == f"RabbitMQ dead-lettered it from {queue.name} (delivery_limit)."

    report = await dead_letters.requeue({parked.id})
    assert report.requeued == 1 and report.outcomes[0].detail == "Sent back to its queue."
    assert await queue_depth(amqp, queue.name) == 1
    assert (await dead_letters.list()).items == []


async def test_keys_cli_admin_flag_makes_a_key_that_may_use_the_admin_routes(
    settings: Settings, store: JobStore
) -> None:
    env = {**os.environ, **settings_env(settings)}
    cli = [sys.executable, "-m", "clipforge.gateway.keys_cli", "create", "--tenant", "ops", "--json"]
    admin = await asyncio.to_thread(subprocess.run, [*cli, "--admin"], env=env, capture_output=True, text=True)
    plain = await asyncio.to_thread(subprocess.run, cli, env=env, capture_output=True, text=True)
    assert admin.returncode == 0 and plain.returncode == 0, admin.stderr + plain.stderr
    admin_key, plain_key = json.loads(admin.stdout), json.loads(plain.stdout)
    assert admin_key["admin"] is True and plain_key["admin"] is False
    async with serve_gateway(settings) as url, httpx.AsyncClient(base_url=url) as client:
        allowed = await client.get("/v1/admin/dead-letters", headers={"X-API-Key": admin_key["api_key"]})
        refused = await client.get("/v1/admin/dead-letters", headers={"X-API-Key": plain_key["api_key"]})
    assert allowed.status_code == 200 and allowed.json() == {"items": [], "more": False}
    assert refused.status_code == 403
