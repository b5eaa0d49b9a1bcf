"""The gateway served by uvicorn on loopback, against the real RabbitMQ and SecantusDB."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
import websockets
from support import body_of, get_message, new_job

from clipforge.devstack.samples import make_silent_video
from clipforge.shared.events import JobRequested
from clipforge.shared.jobs import JobStore
from clipforge.shared.models import JobError, Stage
from clipforge.shared.progress import ProgressEmitter
from clipforge.shared.settings import Settings

pytestmark = pytest.mark.integration


async def test_create_job_stores_queued_job_and_publishes_request(
    gateway: str, api_key: str, store: JobStore, amqp: aio_pika.abc.AbstractChannel, settings: Settings
) -> None:
    async with httpx.AsyncClient(base_url=gateway, headers={"Authorization": f"Bearer {api_key}"}) as client:
        response = await client.post(
            "/v1/jobs", json={"url": "http://127.0.0.1:9/talk.mp4", "options": {"max_clips": 2}}
        )
    assert response.status_code == 202
    created = response.json()
    assert created["status"] == "queued"
    assert created["links"]["events"] == f"/v1/jobs/{created['id']}/events"

    job = await store.get(created["id"])
    assert job is not None
    assert job["tenant_id"] == "default" and job["status"] == "queued" and job["options"]["max_clips"] == 2

    request = JobRequested.model_validate(body_of(await get_message(amqp, f"{settings.topology_prefix}.ingest")))
    assert request.job_id == created["id"] and request.source.url == "http://127.0.0.1:9/talk.mp4"


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({"url": "ftp://example.org/video.mp4"}, "url", "unsupported_url_scheme"),
        ({"url": "file:///etc/passwd"}, "url", "unsupported_url_scheme"),
        (
            {"url": "http://example.org/v.mp4", "options": {"min_clip_seconds": 50, "max_clip_seconds": 20}},
            "options",
            "validation_error",
        ),
        ({"url": "http://example.org/v.mp4", "options": {"aspect": "4:3"}}, "options.aspect", "validation_error"),
        ({"url": "http://example.org/v.mp4", "surprise": 1}, "surprise", "validation_error"),
        ({}, "url", "validation_error"),
    ],
)
async def test_invalid_requests_get_problem_details_naming_the_field(
    gateway: str, api_key: str, payload: dict[str, Any], field: str, code: str
) -> None:
    async with httpx.AsyncClient(base_url=gateway, headers={"Authorization": f"Bearer {api_key}"}) as client:
        response = await client.post("/v1/jobs", json=payload)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 422 and problem["code"] == code
    assert any(error["field"].startswith(field) for error in problem["errors"]), problem


async def test_unknown_job_is_a_404_problem(gateway: str, api_key: str) -> None:
    async with httpx.AsyncClient(base_url=gateway, headers={"Authorization": f"Bearer {api_key}"}) as client:
        response = await client.get("/v1/jobs/0123456789abcdef01234567")
        clip = await client.get("/v1/jobs/0123456789abcdef01234567/clips/1")
    assert response.status_code == 404 and response.json()["code"] == "job_not_found"
    assert clip.status_code == 404


async def test_websocket_sends_snapshot_then_every_event_in_order_and_closes_at_the_end(
    gateway: str, api_key: str, store: JobStore, emitter: ProgressEmitter
) -> None:
    job = await new_job(store)
    ws_url = gateway.replace("http", "ws") + f"/v1/jobs/{job['_id']}/events?api_key={api_key}"
    async with websockets.connect(ws_url) as socket:
        snapshot = json.loads(await socket.recv())
        assert snapshot["type"] == "snapshot" and snapshot["job"]["status"] == "queued"

        claim = await store.claim_stage(job["_id"], Stage.INGEST)
        assert claim.job is not None
        await emitter.emit(claim.job)
        for fraction in (0.25, 0.5):
            updated = await store.record_progress(
                job["_id"], Stage.INGEST, claim.attempt, stage_fraction=fraction, message=f"at {fraction}"
            )
            assert updated is not None
            if fraction == 0.25:
                await _record_only(store, updated)  # recorded, never fanned out: a lost transient message
            else:
                await emitter.emit(updated)
        failed = await store.fail_job(job["_id"], JobError(stage="ingest", code="no_audio_stream", message="No sound"))
        assert failed is not None
        await emitter.emit(failed)

        received = [json.loads(message) async for message in socket]
    seqs = [message["seq"] for message in received]
    assert seqs == list(range(snapshot["job"]["seq"] + 1, failed["seq"] + 1)), seqs
    assert [m["message"] for m in received[1:3]] == ["at 0.25", "at 0.5"]
    assert received[-1]["status"] == "failed" and received[-1]["message"] == "No sound"
    assert socket.close_code == 1000


async def _record_only(store: JobStore, job: dict[str, Any]) -> None:
    from clipforge.shared.progress import progress_event_from_job

    event = progress_event_from_job(job)
    await store.append_event(job["_id"], event.seq, event.model_dump(mode="json"))


async def test_websocket_for_finished_job_sends_snapshot_and_closes(
    gateway: str, api_key: str, store: JobStore
) -> None:
    job = await new_job(store)
    await store.fail_job(job["_id"], JobError(stage="ingest", code="x", message="gone"))
    async with websockets.connect(
        gateway.replace("http", "ws") + f"/v1/jobs/{job['_id']}/events?api_key={api_key}"
    ) as socket:
        messages = [json.loads(message) async for message in socket]
    assert [m["type"] for m in messages] == ["snapshot"]
    assert messages[0]["job"]["error"]["code"] == "x"


async def test_websocket_for_unknown_job_closes_with_not_found(gateway: str, api_key: str) -> None:
    async with websockets.connect(
        gateway.replace("http", "ws") + f"/v1/jobs/0123456789abcdef01234567/events?api_key={api_key}"
    ) as s:
        with pytest.raises(websockets.ConnectionClosed):
            await s.recv()
    assert s.close_code == 4404


async def test_clip_download_streams_mp4_with_range_support(
    gateway: str, api_key: str, store: JobStore, settings: Settings
) -> None:
    job = await new_job(store)
    clip_path = Path(settings.media_root) / "jobs" / job["_id"] / "clips" / "clip-01.mp4"
    make_silent_video(clip_path, seconds=1.0)
    clip = {
        "index": 1,
        "start": 0.0,
        "end": 1.0,
        "duration_seconds": 1.0,
        "score": 80.0,
        "reason": "r",
        "text": "t",
        "media_key": f"jobs/{job['_id']}/clips/clip-01.mp4",
        "size_bytes": clip_path.stat().st_size,
        "width": 320,
        "height": 240,
    }
    await store.jobs.update_one({"_id": job["_id"]}, {"$set": {"clips": [clip]}})
    async with httpx.AsyncClient(base_url=gateway, headers={"Authorization": f"Bearer {api_key}"}) as client:
        view = (await client.get(f"/v1/jobs/{job['_id']}")).json()
        full = await client.get(view["clips"][0]["url"])
        part = await client.get(view["clips"][0]["url"], headers={"Range": "bytes=0-99"})
        missing = await client.get(f"/v1/jobs/{job['_id']}/clips/2")
    assert full.status_code == 200 and full.headers["content-type"] == "video/mp4"
    assert full.content == clip_path.read_bytes()
    assert part.status_code == 206 and len(part.content) == 100
    assert missing.status_code == 404 and missing.json()["code"] == "clip_not_found"


async def test_health_readiness_and_metrics(gateway: str, api_key: str) -> None:
    async with httpx.AsyncClient(base_url=gateway, headers={"Authorization": f"Bearer {api_key}"}) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        await client.post("/v1/jobs", json={"url": "http://127.0.0.1:9/a.mp4"})
        metrics = (await client.get("/metrics")).text
    assert ready.status_code == 200 and ready.json()["checks"] == {"broker": True, "database": True}
    assert "clipforge_gateway_websockets" in metrics
    assert "faststream_published_messages_total" in metrics
