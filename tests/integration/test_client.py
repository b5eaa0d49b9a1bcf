"""``clipforge.client`` against the real gateway, RabbitMQ and SecantusDB: every call, typed
errors, waiting on the live stream (with resume after a dropped connection, and polling when
WebSockets do not get through), transcripts and downloads. Jobs are moved through their stages
the way the workers do it (``Driver``: job store writes and progress events)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from support import Driver, TcpProxy, run_stages, store_results, until

from clipforge.api.models import JobSnapshotMessage, ProgressMessage, TenantSnapshotMessage
from clipforge.client import APIError, AsyncClipForge, ClipForge, ConnectionFailed
from clipforge.devstack.samples import SampleVideo
from clipforge.gateway.keys import KeyStore
from clipforge.shared.jobs import JobStore
from clipforge.shared.models import Stage
from clipforge.shared.settings import Settings

pytestmark = pytest.mark.integration

NOWHERE = "http://127.0.0.1:9/talk.mp4"  # jobs here are driven by the test, never downloaded


@pytest_asyncio.fixture
async def clipforge(gateway: str, api_key: str) -> AsyncIterator[AsyncClipForge]:
    async with AsyncClipForge(gateway, api_key) as client:
        yield client


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def test_create_get_list_iterate_cancel_retry_and_delete(
    clipforge: AsyncClipForge, driver: Driver, store: JobStore
) -> None:
    created = [await clipforge.create(NOWHERE, options={"max_clips": 2}) for _ in range(3)]
    batch = await clipforge.create_job(NOWHERE, priority="batch", callback_url="https://example.com/hook")
    assert all(job.status == "queued" and job.links.self == f"/v1/jobs/{job.id}" for job in [*created, batch])

    view = await clipforge.get_job(batch.id)
    assert view.priority == "batch" and view.callback_url == "https://example.com/hook"
    assert view.options.max_clips == 5 and view.source["kind"] == "url" and view.source["url"] == NOWHERE
    assert (await clipforge.get_job(created[0].id)).options.max_clips == 2

    page = await clipforge.list_jobs(limit=2)
    assert [item.id for item in page.items] == [batch.id, created[2].id] and page.next_cursor is not None
    every = [item.id async for item in clipforge.iter_jobs(page_size=3)]
    assert every == [batch.id, *reversed([job.id for job in created])]

    cancelled = await clipforge.cancel_job(created[0].id)
    assert cancelled.status == "cancelled"
    assert [item.id async for item in clipforge.iter_jobs(status="cancelled")] == [created[0].id]
    with pytest.raises(APIError) as finished:
        await clipforge.cancel_job(created[0].id)
    assert finished.value.status == 409 and finished.value.code == "job_finished"

    with pytest.raises(APIError) as not_failed:
        await clipforge.retry_job(created[1].id)
    assert not_failed.value.status == 409 and not_failed.value.code == "not_failed"
    await driver.claim(created[1].id, Stage.INGEST)
    await driver.fail(created[1].id)
    retried = await clipforge.retry_job(created[1].id)
    assert retried.status == "queued" and retried.retries == 1

    stats = await clipforge.stats()
    assert stats.jobs_by_status["cancelled"] == 1 and stats.queues["ingest"]["interactive"].ready >= 1

    await clipforge.delete_job(created[2].id)
    with pytest.raises(APIError) as gone:
        await clipforge.get_job(created[2].id)
    assert gone.value.status == 404 and gone.value.code == "job_not_found"
    assert await store.get(created[2].id) is None


async def test_upload_starts_a_job_from_a_local_file(clipforge: AsyncClipForge, speech_video: SampleVideo) -> None:
    created = await clipforge.create(speech_video.path, options={"max_clips": 1}, priority="batch")
    view = await clipforge.get_job(created.id)
    assert view.source["kind"] == "upload" and view.source["filename"] == speech_video.path.name
    assert view.options.max_clips == 1 and view.priority == "batch"


async def test_errors_are_typed_problem_details(clipforge: AsyncClipForge, gateway: str, store: JobStore) -> None:
    with pytest.raises(APIError) as invalid:
        await clipforge.create_job("https://example.com/v.mp4", options={"max_clips": 99})
    assert invalid.value.status == 422 and invalid.value.code == "validation_error"
    assert {problem.field for problem in invalid.value.errors} == {"options.max_clips"}
    with pytest.raises(APIError) as refused_url:
        await clipforge.create_job("ftp://example.com/v.mp4")
    assert refused_url.value.status == 422 and refused_url.value.code == "unsupported_url_scheme"
    assert {problem.field for problem in refused_url.value.errors} == {"url"}

    key = await KeyStore(store.db).create("default", "to revoke")
    await KeyStore(store.db).revoke(key.key_id)
    async with AsyncClipForge(gateway, key.api_key) as revoked:
        with pytest.raises(APIError) as unauthorized:
            await revoked.list_jobs()
        assert unauthorized.value.status == 401 and unauthorized.value.code == "unauthorized"
        with pytest.raises(APIError) as stream_unauthorized:
            [message async for message in revoked.events("6742c1f0a9e4b3d2c1f0a9e4")]
        assert stream_unauthorized.value.status == 401

    with pytest.raises(APIError) as unknown:
        [message async for message in clipforge.events("6742c1f0a9e4b3d2c1f0a9e4")]
    assert unknown.value.status == 404 and unknown.value.code == "job_not_found"

    async with AsyncClipForge("http://127.0.0.1:9", "cf_x_y") as nowhere:
        with pytest.raises(ConnectionFailed):
            await nowhere.get_job("6742c1f0a9e4b3d2c1f0a9e4")


async def test_wait_follows_the_live_stream_then_transcript_and_downloads(
    clipforge: AsyncClipForge, driver: Driver, settings: Settings, speech_video: SampleVideo, tmp_path: Path
) -> None:
    job = await clipforge.create(NOWHERE)
    transcribed, rendered = store_results(settings, job.id, speech_video)
    seen: list[JobSnapshotMessage | ProgressMessage] = []
    waiting = asyncio.create_task(clipforge.wait(job.id, timeout=60, on_message=seen.append))
    await until(lambda: bool(seen), what="the snapshot")
    await run_stages(driver, job.id, {Stage.TRANSCRIBE: transcribed, Stage.RENDER: rendered})
    done = await waiting

    assert done.status == "completed" and done.progress == 100.0 and len(done.clips) == 1
    assert isinstance(seen[0], JobSnapshotMessage) and seen[0].job.id == job.id
    progress = [m for m in seen if isinstance(m, ProgressMessage)]
    assert [m.seq for m in progress] == list(range(progress[0].seq, progress[0].seq + 4 * 4))
    assert progress[-1].status == "completed" and progress[-1].job_eta_seconds == 0.0

    transcript = await clipforge.transcript(job.id)
    assert transcript.segments[0].words[0].text == "Welcome."
    assert (await clipforge.transcript_text(job.id, "vtt")).startswith("WEBVTT")

    files = await clipforge.download_clips(done, tmp_path / "clips", thumbnails=True, captions=True)
    assert [path.name for path in files] == [f"{job.id}-clip-01.{ext}" for ext in ("mp4", "jpg", "srt", "vtt")]
    assert files[0].read_bytes() == speech_video.path.read_bytes()
    assert files[1].read_bytes()[:2] == b"\xff\xd8"  # JPEG
    assert files[2].read_text().startswith("1\n00:00:00,000")
    named = await clipforge.download_clip(job.id, 1, tmp_path / "chosen.mp4")
    assert named == tmp_path / "chosen.mp4" and named.stat().st_size == speech_video.path.stat().st_size
    with pytest.raises(APIError) as no_clip:
        await clipforge.download_clip(job.id, 7, tmp_path)
    assert no_clip.value.code == "clip_not_found"
    assert not await asyncio.to_thread(lambda: list(tmp_path.glob("*.part"))), "no partial file left behind"


async def test_events_resume_after_a_dropped_connection_without_gaps_or_duplicates(
    gateway: str, api_key: str, driver: Driver
) -> None:
    async with TcpProxy(port_of(gateway)) as proxy, AsyncClipForge(proxy.url, api_key) as clipforge:
        job = await clipforge.create(NOWHERE)
        seen: list[JobSnapshotMessage | ProgressMessage] = []

        async def follow() -> None:
            async for message in clipforge.events(job.id):
                seen.append(message)

        following = asyncio.create_task(follow())
        await until(lambda: bool(seen), what="the snapshot")
        await driver.claim(job.id, Stage.INGEST)
        last = await driver.progress(job.id, Stage.INGEST, 0.5)
        await until(lambda: seen[-1].seq == last if isinstance(seen[-1], ProgressMessage) else False)

        proxy.cut()  # no close frame: the client only sees the connection die
        await driver.progress(job.id, Stage.INGEST, 0.7)  # while it is away
        await driver.progress(job.id, Stage.INGEST, 0.9)
        await driver.complete(job.id, Stage.INGEST)
        for stage in (Stage.TRANSCRIBE, Stage.ANALYZE, Stage.RENDER):
            await driver.claim(job.id, stage)
            await driver.complete(job.id, stage, final=stage is Stage.RENDER)
        await asyncio.wait_for(following, 60)

    progress = [m.seq for m in seen if isinstance(m, ProgressMessage)]
    assert progress == list(range(progress[0], progress[0] + len(progress))), "no gap, no duplicate"
    assert len(progress) == 2 + 3 + 2 * 3 and seen[-1].status == "completed"  # type: ignore[union-attr]
    assert proxy.websocket_attempts >= 2, "the client reconnected"
    assert sum(isinstance(m, JobSnapshotMessage) for m in seen) == 1, "resumed by seq, not restarted"


async def test_tenant_events_follow_every_job_and_resume_by_cursor_after_a_drop(
    gateway: str, api_key: str, driver: Driver
) -> None:
    async with TcpProxy(port_of(gateway)) as proxy, AsyncClipForge(proxy.url, api_key) as clipforge:
        seen: list[TenantSnapshotMessage | ProgressMessage] = []

        async def follow() -> None:
            async for message in clipforge.tenant_events():
                seen.append(message)

        following = asyncio.create_task(follow())
        try:
            await until(lambda: bool(seen), what="the snapshot")
            jobs = [(await clipforge.create(NOWHERE)).id for _ in range(2)]
            emitted: list[tuple[str, int]] = []
            for job_id in jobs:
                emitted.append((job_id, await driver.claim(job_id, Stage.INGEST)))
            await until(lambda: len(seen) == 1 + len(emitted), what="the first events")

            proxy.cut()
            for step in (0.3, 0.6):
                for job_id in jobs:
                    emitted.append((job_id, await driver.progress(job_id, Stage.INGEST, step)))
            await until(lambda: len(seen) >= 1 + len(emitted), what="the events sent while it was away")
            await asyncio.sleep(0.5)  # anything repeated would arrive now
        finally:
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)

    assert isinstance(seen[0], TenantSnapshotMessage) and seen[0].jobs == []
    received = [(m.job_id, m.seq) for m in seen[1:] if isinstance(m, ProgressMessage)]
    assert len(seen) == 1 + len(emitted) and sorted(received) == sorted(emitted), "each event once"
    assert all(m.cursor for m in seen[1:] if isinstance(m, ProgressMessage))
    assert proxy.websocket_attempts >= 2, "the client reconnected"


async def test_wait_polls_when_websockets_do_not_get_through(gateway: str, api_key: str, driver: Driver) -> None:
    async with TcpProxy(port_of(gateway), refuse_websockets=True) as proxy:
        async with AsyncClipForge(proxy.url, api_key) as clipforge:
            job = await clipforge.create(NOWHERE)
            polled: list[JobSnapshotMessage | ProgressMessage] = []
            waiting = asyncio.create_task(
                clipforge.wait(job.id, timeout=60, on_message=polled.append, poll_interval=0.2, max_reconnects=1)
            )
            await until(lambda: bool(polled), what="a first poll")
            await run_stages(driver, job.id, steps=1)
            done = await waiting
    assert done.status == "completed"
    assert proxy.websocket_attempts == 2 and all(isinstance(m, JobSnapshotMessage) for m in polled)


async def test_sync_client_creates_follows_and_downloads(
    gateway: str, api_key: str, driver: Driver, settings: Settings, speech_video: SampleVideo, tmp_path: Path
) -> None:
    # The blocking client runs on worker threads: the gateway serves on this test's event loop.
    clipforge = await asyncio.to_thread(ClipForge, gateway, api_key)
    try:
        job = await asyncio.to_thread(clipforge.create, NOWHERE, options={"max_clips": 1})
        transcribed, rendered = store_results(settings, job.id, speech_video)
        seen: list[JobSnapshotMessage | ProgressMessage] = []
        waiting = asyncio.create_task(asyncio.to_thread(clipforge.wait, job.id, timeout=60, on_message=seen.append))
        await until(lambda: bool(seen), what="the snapshot")
        await run_stages(driver, job.id, {Stage.TRANSCRIBE: transcribed, Stage.RENDER: rendered}, steps=1)
        done = await waiting
        assert done.status == "completed" and seen[-1].status == "completed"  # type: ignore[union-attr]

        after_end = await asyncio.to_thread(lambda: list(clipforge.events(job.id)))
        assert len(after_end) == 1 and isinstance(after_end[0], JobSnapshotMessage)
        assert after_end[0].job.status == "completed"
        listed = await asyncio.to_thread(lambda: [item.id for item in clipforge.iter_jobs(status=["completed"])])
        assert listed == [job.id]
        files = await asyncio.to_thread(clipforge.download_clips, done, tmp_path)
        assert [path.read_bytes() for path in files] == [speech_video.path.read_bytes()]
        await asyncio.to_thread(clipforge.delete_job, job.id)
        with pytest.raises(APIError) as gone:
            await asyncio.to_thread(clipforge.get_job, job.id)
        assert gone.value.status == 404
    finally:
        await asyncio.to_thread(clipforge.close)
