"""The job API against the real gateway, RabbitMQ and SecantusDB: keys and tenants, listing,
cancel, retry, delete, statistics and results."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
import pytest_asyncio
from support import body_of, get_message, new_job, serve_gateway

from clipforge.gateway.keys import KeyStore
from clipforge.shared.jobs import JobStore
from clipforge.shared.models import JobError, Segment, Stage, Transcript, Word
from clipforge.shared.settings import Settings

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def client(gateway: str, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway, headers={"Authorization": f"Bearer {api_key}"}) as http:
        yield http


@pytest_asyncio.fixture
async def other_tenant(gateway: str, store: JobStore) -> AsyncIterator[httpx.AsyncClient]:
    key = (await KeyStore(store.db).create("acme", "other tenant")).api_key
    async with httpx.AsyncClient(base_url=gateway, headers={"X-API-Key": key}) as http:
        yield http


async def create(client: httpx.AsyncClient, **body: Any) -> str:
    response = await client.post("/v1/jobs", json={"url": "http://127.0.0.1:9/v.mp4", **body})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def test_missing_bad_and_revoked_keys_are_401(settings: Settings, store: JobStore) -> None:
    keys = KeyStore(store.db)
    issued = await keys.create("default", "soon revoked")
    # Without the per-replica key cache a revocation is seen by the very next request.
    async with serve_gateway(settings, api_key_cache_seconds=0) as gateway, httpx.AsyncClient(base_url=gateway) as http:
        missing = await http.get("/v1/jobs")
        bad = await http.get("/v1/jobs", headers={"Authorization": "Bearer cf_0123456789ab_notthesecretatall"})
        good = await http.get("/v1/jobs", headers={"Authorization": f"Bearer {issued.api_key}"})
        assert await keys.revoke(issued.key_id)
        revoked = await http.get("/v1/jobs", headers={"Authorization": f"Bearer {issued.api_key}"})
    assert good.status_code == 200
    for response in (missing, bad, revoked):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["code"] == "unauthorized"


async def test_verified_keys_are_cached_until_the_ttl_then_revocation_holds(store: JobStore) -> None:
    now = [1000.0]
    keys = KeyStore(store.db, cache_seconds=10, clock=lambda: now[0])
    issued = await keys.create("default", "cached")
    assert await keys.tenant_for(issued.api_key) == "default"
    assert await keys.revoke(issued.key_id)
    now[0] += 9.0
    assert await keys.tenant_for(issued.api_key) == "default"  # still within the replica's TTL
    now[0] += 1.0
    assert await keys.tenant_for(issued.api_key) is None
    wrong_secret = issued.api_key[:-4] + ("AAAA" if not issued.api_key.endswith("AAAA") else "BBBB")
    assert await keys.tenant_for(wrong_secret) is None


async def test_cache_never_remembers_bad_keys_and_stays_bounded(store: JobStore) -> None:
    keys = KeyStore(store.db, cache_seconds=60, cache_size=2)
    issued = [await keys.create("default", f"k{n}") for n in range(3)]
    assert await keys.tenant_for("cf_0123456789ab_notthesecretatall") is None
    for key in issued:
        assert await keys.tenant_for(key.api_key) == "default"
    assert len(keys.cache._entries) == 2


async def test_a_revoked_key_is_refused_by_a_caching_gateway_within_its_ttl(
    settings: Settings, store: JobStore
) -> None:
    keys = KeyStore(store.db)
    issued = await keys.create("default", "revoked while cached")
    headers = {"Authorization": f"Bearer {issued.api_key}"}
    async with serve_gateway(settings, api_key_cache_seconds=1) as gateway, httpx.AsyncClient(base_url=gateway) as http:
        assert (await http.get("/v1/jobs", headers=headers)).status_code == 200
        assert await keys.revoke(issued.key_id)
        statuses = []
        for _ in range(40):  # the TTL is 1 s; 4 s of polling leaves room for a loaded machine
            statuses.append((await http.get("/v1/jobs", headers=headers)).status_code)
            if statuses[-1] == 401:
                break
            await asyncio.sleep(0.1)
    assert statuses[-1] == 401, statuses


async def test_keys_are_stored_hashed(store: JobStore) -> None:
    issued = await KeyStore(store.db).create("default")
    record = await store.db["api_keys"].find_one({"_id": issued.key_id})
    assert record is not None
    secret = issued.api_key.rsplit("_", 1)[1]
    assert secret not in str(record)


async def test_another_tenants_job_is_a_404_everywhere(
    client: httpx.AsyncClient, other_tenant: httpx.AsyncClient
) -> None:
    job_id = await create(client)
    for method, path in [
        ("GET", f"/v1/jobs/{job_id}"),
        ("POST", f"/v1/jobs/{job_id}/cancel"),
        ("POST", f"/v1/jobs/{job_id}/retry"),
        ("DELETE", f"/v1/jobs/{job_id}"),
        ("GET", f"/v1/jobs/{job_id}/transcript"),
        ("GET", f"/v1/jobs/{job_id}/clips/1"),
    ]:
        response = await other_tenant.request(method, path)
        assert response.status_code == 404, (method, path, response.status_code)
    assert (await other_tenant.get("/v1/jobs")).json()["items"] == []
    assert (await client.get(f"/v1/jobs/{job_id}")).status_code == 200


async def test_keys_cli_creates_and_revokes(settings: Settings, store: JobStore) -> None:
    env = {
        **os.environ,
        "CLIPFORGE_MONGO_URL": settings.mongo_url,
        "CLIPFORGE_MONGO_DATABASE": settings.mongo_database,
    }
    cli = [sys.executable, "-m", "clipforge.gateway.keys_cli"]
    created = await asyncio.to_thread(
        subprocess.run, [*cli, "create", "--tenant", "beta", "--json"], env=env, capture_output=True, text=True
    )
    assert created.returncode == 0, created.stderr
    issued = json.loads(created.stdout)
    keys = KeyStore(store.db)
    assert await keys.tenant_for(issued["api_key"]) == "beta"
    revoked = await asyncio.to_thread(
        subprocess.run, [*cli, "revoke", issued["key_id"]], env=env, capture_output=True, text=True
    )
    assert revoked.returncode == 0
    assert await keys.tenant_for(issued["api_key"]) is None
    again = await asyncio.to_thread(
        subprocess.run, [*cli, "revoke", issued["key_id"]], env=env, capture_output=True, text=True
    )
    assert again.returncode == 1


async def test_list_filters_and_cursor_pagination(client: httpx.AsyncClient, store: JobStore) -> None:
    ids = [await create(client) for _ in range(5)]
    await store.fail_job(ids[1], JobError(stage="ingest", code="x", message="x"))
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/jobs", params=params)).json()
        pages.append([item["id"] for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [job_id for page in pages for job_id in page] == list(reversed(ids))
    assert [len(page) for page in pages] == [2, 2, 1]

    failed = (await client.get("/v1/jobs", params={"status": "failed"})).json()["items"]
    assert [item["id"] for item in failed] == [ids[1]]
    queued = (await client.get("/v1/jobs", params=[("status", "queued"), ("status", "failed")])).json()
    assert len(queued["items"]) == 5
    future = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert (await client.get("/v1/jobs", params={"created_after": future})).json()["items"] == []
    bad = await client.get("/v1/jobs", params={"status": "sleeping"})
    assert bad.status_code == 422


async def test_cancel_ends_job_cancelled_and_broadcasts_control(
    client: httpx.AsyncClient, amqp: aio_pika.abc.AbstractChannel, settings: Settings
) -> None:
    control = await amqp.declare_queue(exclusive=True)
    await control.bind(f"{settings.topology_prefix}.control")
    job_id = await create(client)
    response = await client.post(f"/v1/jobs/{job_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    message = await control.get(timeout=10)
    assert body_of(message) == {"command": "cancel", "job_id": job_id}
    again = await client.post(f"/v1/jobs/{job_id}/cancel")
    assert again.status_code == 409 and again.json()["code"] == "job_finished"


async def test_delete_removes_job_events_and_media(
    client: httpx.AsyncClient, store: JobStore, settings: Settings
) -> None:
    job_id = await create(client)
    media_dir = Path(settings.media_root) / "jobs" / job_id
    media_dir.mkdir(parents=True)
    (media_dir / "source.mp4").write_bytes(b"x")
    response = await client.delete(f"/v1/jobs/{job_id}")
    assert response.status_code == 204
    assert not media_dir.exists()
    assert await store.get(job_id) is None
    assert await store.events_after(job_id, 0) == []
    assert (await client.get(f"/v1/jobs/{job_id}")).status_code == 404


async def test_retry_restarts_the_failed_stage_from_the_stored_result_before_it(
    client: httpx.AsyncClient, store: JobStore, amqp: aio_pika.abc.AbstractChannel, settings: Settings
) -> None:
    job = await new_job(store)
    job_id = job["_id"]
    await store.jobs.update_one({"_id": job_id}, {"$set": {"tenant_id": "default"}})
    stored_event = {
        "routing_key": "interactive.transcript.ready",
        "body": {
            "job_id": job_id,
            "tenant_id": "default",
            "correlation_id": "c1",
            "event_id": "first",
            "options": job["options"],
            "media": {"duration_seconds": 9, "size_bytes": 1, "container": "mp4", "has_audio": True, "has_video": True},
            "video_key": f"jobs/{job_id}/source.mp4",
            "transcript_key": f"jobs/{job_id}/transcript.json",
        },
    }
    for stage in (Stage.INGEST, Stage.TRANSCRIBE):
        claim = await store.claim_stage(job_id, stage)
        await store.complete_stage(
            job_id,
            stage,
            claim.attempt,
            record={},
            output_event=stored_event,
            final=False,
            message="ok",
            duration_seconds=1.0,
        )
    await store.claim_stage(job_id, Stage.ANALYZE)
    await store.fail_job(job_id, JobError(stage="analyze", code="internal_error", message="boom"), attempt=1)

    response = await client.post(f"/v1/jobs/{job_id}/retry")
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["status"] == "queued" and view["error"] is None and view["retries"] == 1
    assert view["stages"]["transcribe"]["status"] == "done" and view["stages"]["analyze"]["status"] == "pending"
    resent = body_of(await get_message(amqp, f"{settings.topology_prefix}.analyze"))
    assert resent["transcript_key"] == stored_event["body"]["transcript_key"]
    assert resent["event_id"] != "first" and resent["attempt"] == 2

    not_failed = await client.post(f"/v1/jobs/{job_id}/retry")
    assert not_failed.status_code == 409


async def test_stats_count_jobs_by_status_and_report_queue_depth(client: httpx.AsyncClient) -> None:
    await create(client)
    await create(client, priority="batch")
    stats = (await client.get("/v1/stats")).json()
    assert stats["jobs_by_status"] == {"queued": 2}
    assert stats["queues"]["ingest"]["interactive"]["ready"] == 1
    assert stats["queues"]["ingest"]["batch"]["ready"] == 1
    assert stats["queues"]["render"]["interactive"] == {"ready": 0, "consumers": 0}


async def test_transcript_as_json_srt_and_vtt(client: httpx.AsyncClient, store: JobStore, settings: Settings) -> None:
    job_id = await create(client)
    transcript = Transcript(
        language="en",
        duration_seconds=4.0,
        segments=[
            Segment(start=0.0, end=1.5, text=" Hello there.", words=[Word(start=0.0, end=0.5, text="Hello")]),
            Segment(start=61.25, end=62.0, text=" Second line.", words=[]),
        ],
    )
    key = f"jobs/{job_id}/transcript.json"
    path = Path(settings.media_root) / key
    not_ready = await client.get(f"/v1/jobs/{job_id}/transcript")
    assert not_ready.status_code == 409
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(transcript.model_dump_json())
    await store.jobs.update_one({"_id": job_id}, {"$set": {"transcript": {"key": key}}})

    as_json = await client.get(f"/v1/jobs/{job_id}/transcript")
    srt = await client.get(f"/v1/jobs/{job_id}/transcript", params={"format": "srt"})
    vtt = await client.get(f"/v1/jobs/{job_id}/transcript", params={"format": "vtt"})
    assert as_json.json()["segments"][0]["words"][0]["text"] == "Hello"
    assert srt.headers["content-type"].startswith("application/x-subrip")
    assert srt.text.startswith("1\n00:00:00,000 --> 00:00:01,500\nHello there.\n")
    assert "2\n00:01:01,250 --> 00:01:02,000\nSecond line." in srt.text
    assert vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.")


async def test_clip_thumbnail_and_captions_served_with_types(
    client: httpx.AsyncClient, store: JobStore, settings: Settings
) -> None:
    job_id = await create(client)
    clips_dir = Path(settings.media_root) / "jobs" / job_id / "clips"
    clips_dir.mkdir(parents=True)
    (clips_dir / "clip-01.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"0" * 500)
    (clips_dir / "clip-01.vtt").write_text("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nhi\n")
    clip = {
        "index": 1,
        "start": 0.0,
        "end": 1.0,
        "duration_seconds": 1.0,
        "score": 50.0,
        "reason": "r",
        "text": "t",
        "media_key": f"jobs/{job_id}/clips/clip-01.mp4",
        "thumbnail_key": f"jobs/{job_id}/clips/clip-01.jpg",
        "vtt_key": f"jobs/{job_id}/clips/clip-01.vtt",
        "size_bytes": 1,
        "width": 2,
        "height": 2,
    }
    await store.jobs.update_one({"_id": job_id}, {"$set": {"clips": [clip]}})
    view = (await client.get(f"/v1/jobs/{job_id}")).json()["clips"][0]
    assert view["srt_url"] is None
    thumbnail = await client.get(view["thumbnail_url"], headers={"Range": "bytes=0-3"})
    captions = await client.get(view["vtt_url"])
    gone = await client.get(view["url"])
    assert thumbnail.status_code == 206 and thumbnail.headers["content-type"] == "image/jpeg"
    assert thumbnail.content == b"\xff\xd8\xff\xe0"
    assert captions.status_code == 200 and captions.headers["content-type"].startswith("text/vtt")
    assert gone.status_code == 410
