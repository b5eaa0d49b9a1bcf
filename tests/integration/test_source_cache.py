"""The source cache with the real stage services, RabbitMQ, SecantusDB, ffmpeg and faster-whisper:
a repeated link or upload reuses the download and transcript, options that change neither still
hit, a different language misses the transcript only, concurrent jobs stay consistent, the size
limit evicts, and deleting a job leaves the cache and other jobs alone."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from support import wait_for_job
from test_services import running, send, stage_settings

from clipforge.analyze.service import AnalyzeSettings
from clipforge.analyze.service import build_worker as build_analyze
from clipforge.devstack.samples import SampleVideo
from clipforge.ingest.service import IngestSettings
from clipforge.ingest.service import build_worker as build_ingest
from clipforge.render.service import RenderSettings
from clipforge.render.service import build_worker as build_render
from clipforge.shared.cache import CACHE_FOLDER, COLLECTION
from clipforge.shared.events import JobRequested
from clipforge.shared.jobs import JobStore
from clipforge.shared.models import JobOptions, SourceRef
from clipforge.shared.settings import Settings
from clipforge.transcribe.service import TranscribeSettings
from clipforge.transcribe.service import build_worker as build_transcribe

pytestmark = pytest.mark.integration

OPTIONS = {"max_clips": 1, "min_clip_seconds": 5, "max_clip_seconds": 15}


class CountingServer:
    """A loopback static file server that counts the GET requests for each path."""

    def __init__(self, directory: Path) -> None:
        counts: Counter[str] = Counter()
        lock = threading.Lock()

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                with lock:
                    counts[self.path] += 1
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.counts = counts
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(directory)))
        self.httpd.daemon_threads = True

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    @contextmanager
    def serving(self) -> Iterator[CountingServer]:
        thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()


@asynccontextmanager
async def stages(settings: Settings, *, whole_pipeline: bool, **cache: Any) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(running(build_ingest(stage_settings(IngestSettings, settings, **cache))))
        await stack.enter_async_context(
            running(build_transcribe(stage_settings(TranscribeSettings, settings, **cache)))
        )
        if whole_pipeline:
            await stack.enter_async_context(running(build_analyze(stage_settings(AnalyzeSettings, settings))))
            await stack.enter_async_context(running(build_render(stage_settings(RenderSettings, settings))))
        yield


def transcribed(job: dict[str, Any]) -> bool:
    return job["status"] == "failed" or job["stages"]["transcribe"]["status"] == "done"


async def run_until_transcribed(
    store: JobStore, amqp: aio_pika.abc.AbstractChannel, settings: Settings, url: str, **options: Any
) -> dict[str, Any]:
    job = await store.create(tenant_id="default", source=SourceRef(url=url), options=JobOptions(**options))
    request = JobRequested(
        job_id=job["_id"], tenant_id="default", correlation_id=job["_id"], source=job["source"], options=job["options"]
    )
    await send(amqp, settings, request)
    done = await wait_for_job(store, job["_id"], transcribed, timeout=180)
    assert done["status"] != "failed", done["error"]
    return done


def file_of(settings: Settings, key: str) -> Path:
    return Path(settings.media_root) / key


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_the_same_link_twice_reuses_the_download_and_transcript_and_deleting_a_job_keeps_them(
    settings: Settings, store: JobStore, gateway: str, api_key: str, speech_video: SampleVideo, tmp_path: Path
) -> None:
    (tmp_path / "talk.mp4").write_bytes(speech_video.path.read_bytes())
    headers = {"Authorization": f"Bearer {api_key}"}
    async with (
        stages(settings, whole_pipeline=True),
        httpx.AsyncClient(base_url=gateway, headers=headers, timeout=60) as http,
    ):
        with CountingServer(tmp_path).serving() as files:

            async def complete(url: str) -> dict[str, Any]:
                created = await http.post("/v1/jobs", json={"url": url, "options": OPTIONS})
                assert created.status_code == 202, created.text
                job_id = created.json()["id"]
                await wait_for_job(store, job_id, lambda j: j["status"] in {"completed", "failed"}, timeout=300)
                view = (await http.get(f"/v1/jobs/{job_id}")).json()
                assert view["status"] == "completed", view["error"]
                return view  # type: ignore[no-any-return]

            first = await complete(files.url("talk.mp4"))
            downloads = files.counts["/talk.mp4"]
            # Written differently (host case, default port, fragment): the same source.
            port = files.httpd.server_address[1]
            second = await complete(f"HTTP://127.0.0.1:{port}/talk.mp4#t=3")
            assert files.counts["/talk.mp4"] == downloads >= 1

        assert first["cache"] == {"source": "miss", "transcript": "miss"}
        assert second["cache"] == {"source": "hit", "transcript": "hit"}
        assert second["stages"]["ingest"]["status"] == "done" and second["clips"]
        assert second["media"] == first["media"] and second["transcript"] == first["transcript"]
        events = await store.events_after(second["id"], 0)
        assert any("Reused the cached download" in e["event"]["message"] for e in events)
        assert any("Reused the cached transcript" in e["event"]["message"] for e in events)

        entries = [doc async for doc in store.db[COLLECTION].find({})]
        assert sorted(doc["kind"] for doc in entries) == ["source", "transcript"]
        cache_root = Path(settings.media_root) / CACHE_FOLDER
        cached = {path.name: sha256(path) for path in cache_root.glob("*/*")}
        second_dir = Path(settings.media_root) / "jobs" / second["id"]
        second_files = {path.name: sha256(path) for path in second_dir.glob("*") if path.is_file()}

        deleted = await http.delete(f"/v1/jobs/{first['id']}")
        assert deleted.status_code == 204
        assert not (Path(settings.media_root) / "jobs" / first["id"]).exists()
        assert {path.name: sha256(path) for path in cache_root.glob("*/*")} == cached
        assert {path.name: sha256(path) for path in second_dir.glob("*") if path.is_file()} == second_files
        transcript = await http.get(f"/v1/jobs/{second['id']}/transcript")
        assert transcript.status_code == 200 and "fox" in transcript.text.lower()
        clip = await http.get(second["clips"][0]["url"])
        assert clip.status_code == 200 and len(clip.content) > 1000


async def test_the_same_upload_twice_reuses_the_speech_track_and_transcript(
    settings: Settings, store: JobStore, gateway: str, api_key: str, speech_video: SampleVideo
) -> None:
    headers = {"Authorization": f"Bearer {api_key}"}
    async with (
        stages(settings, whole_pipeline=False),
        httpx.AsyncClient(base_url=gateway, headers=headers, timeout=60) as http,
    ):
        jobs = []
        uploads = [("a.mp4", {"aspect": "9:16"}), ("renamed.mp4", {"aspect": "original", "captions": False})]
        for name, options in uploads:
            with speech_video.path.open("rb") as video:
                response = await http.post(
                    "/v1/jobs/upload", files={"file": (name, video)}, data={"options": json.dumps(options)}
                )
            assert response.status_code == 202, response.text
            jobs.append(await wait_for_job(store, response.json()["id"], transcribed, timeout=180))
    first, second = jobs
    assert first["source"]["sha256"] == second["source"]["sha256"] == sha256(speech_video.path)
    assert first["cache"] == {"source": "miss", "transcript": "miss"}
    assert second["cache"] == {"source": "hit", "transcript": "hit"}
    assert second["media"] == first["media"]
    first_audio = file_of(settings, first["stages"]["ingest"]["output_event"]["body"]["audio_key"])
    second_audio = file_of(settings, second["stages"]["ingest"]["output_event"]["body"]["audio_key"])
    assert sha256(first_audio) == sha256(second_audio)


async def test_options_that_do_not_shape_the_transcript_hit_and_another_language_misses_only_the_transcript(
    settings: Settings,
    store: JobStore,
    amqp: aio_pika.abc.AbstractChannel,
    speech_video: SampleVideo,
    tmp_path: Path,
) -> None:
    (tmp_path / "talk.mp4").write_bytes(speech_video.path.read_bytes())
    async with stages(settings, whole_pipeline=False):
        with CountingServer(tmp_path).serving() as files:
            url = files.url("talk.mp4")
            first = await run_until_transcribed(store, amqp, settings, url)
            clip_options = await run_until_transcribed(
                store, amqp, settings, url, max_clips=7, aspect="1:1", captions=False, caption_style="karaoke"
            )
            english = await run_until_transcribed(store, amqp, settings, url, language="en")
            english_again = await run_until_transcribed(store, amqp, settings, url, language="en", max_clips=2)
    assert first["cache"] == {"source": "miss", "transcript": "miss"}
    assert clip_options["cache"] == {"source": "hit", "transcript": "hit"}
    assert english["cache"] == {"source": "hit", "transcript": "miss"}
    assert english_again["cache"] == {"source": "hit", "transcript": "hit"}
    assert english["transcript"]["language"] == "en"


async def test_two_identical_jobs_at_once_both_complete_with_one_consistent_entry(
    settings: Settings,
    store: JobStore,
    amqp: aio_pika.abc.AbstractChannel,
    speech_video: SampleVideo,
    tmp_path: Path,
) -> None:
    (tmp_path / "talk.mp4").write_bytes(speech_video.path.read_bytes())
    async with stages(settings, whole_pipeline=False):
        with CountingServer(tmp_path).serving() as files:
            url = files.url("talk.mp4")
            both = await asyncio.gather(*(run_until_transcribed(store, amqp, settings, url) for _ in range(2)))
            third = await run_until_transcribed(store, amqp, settings, url)
    audio = [file_of(settings, job["stages"]["ingest"]["output_event"]["body"]["audio_key"]) for job in both]
    assert sha256(audio[0]) == sha256(audio[1])
    sources = [doc async for doc in store.db[COLLECTION].find({"kind": "source"})]
    assert len(sources) == 1
    entry_dir = Path(settings.media_root) / CACHE_FOLDER / sources[0]["directory"]
    assert sha256(entry_dir / "audio.wav") == sha256(audio[0])
    assert sum(path.stat().st_size for path in entry_dir.iterdir()) == sources[0]["size_bytes"]
    # The loser of the race removed its copy: only committed entries have folders.
    committed = {doc["directory"] async for doc in store.db[COLLECTION].find({})}
    assert {path.name for path in (Path(settings.media_root) / CACHE_FOLDER).iterdir()} == committed
    assert third["cache"] == {"source": "hit", "transcript": "hit"}


async def test_the_size_limit_evicts_the_least_recently_used_source(
    settings: Settings,
    store: JobStore,
    amqp: aio_pika.abc.AbstractChannel,
    speech_video: SampleVideo,
    tmp_path: Path,
) -> None:
    # Two copies of the talk under different names are two sources of the same size.
    for name in ("one.mp4", "two.mp4"):
        (tmp_path / name).write_bytes(speech_video.path.read_bytes())
    with CountingServer(tmp_path).serving() as files:
        async with stages(settings, whole_pipeline=False):
            first = await run_until_transcribed(store, amqp, settings, files.url("one.mp4"))
        sources = [doc async for doc in store.db[COLLECTION].find({"kind": "source"})]
        transcripts = [doc async for doc in store.db[COLLECTION].find({"kind": "transcript"})]
        one_source = sources[0]["size_bytes"]
        # Room for one source and the transcript (both links carry the same audio), not for two sources.
        limit = one_source + transcripts[0]["size_bytes"] + one_source // 2
        async with stages(settings, whole_pipeline=False, cache_max_bytes=limit):
            downloads = files.counts["/one.mp4"]
            second = await run_until_transcribed(store, amqp, settings, files.url("two.mp4"))
            again = await run_until_transcribed(store, amqp, settings, files.url("one.mp4"))
            assert files.counts["/one.mp4"] > downloads  # fetched again: it had been evicted
    assert first["cache"]["source"] == second["cache"]["source"] == again["cache"]["source"] == "miss"
    # Same audio bytes under another link: the transcript entry is shared (it is content-addressed).
    assert second["cache"]["transcript"] == "hit"
    entries = [doc async for doc in store.db[COLLECTION].find({})]
    assert sum(doc["size_bytes"] for doc in entries) <= limit
    on_disk = sum(path.stat().st_size for path in (Path(settings.media_root) / CACHE_FOLDER).glob("*/*"))
    assert on_disk == sum(doc["size_bytes"] for doc in entries)
    assert [doc["meta"]["source"].rsplit("/", 1)[-1] for doc in entries if doc["kind"] == "source"] == ["one.mp4"]


async def test_with_the_cache_off_nothing_is_kept_or_reported(
    settings: Settings,
    store: JobStore,
    amqp: aio_pika.abc.AbstractChannel,
    speech_video: SampleVideo,
    tmp_path: Path,
) -> None:
    (tmp_path / "talk.mp4").write_bytes(speech_video.path.read_bytes())
    async with stages(settings, whole_pipeline=False, cache_enabled=False):
        with CountingServer(tmp_path).serving() as files:
            jobs = [await run_until_transcribed(store, amqp, settings, files.url("talk.mp4")) for _ in range(2)]
    assert all("cache" not in job for job in jobs)
    assert await store.db[COLLECTION].count_documents({}) == 0
    assert not (Path(settings.media_root) / CACHE_FOLDER).exists()
