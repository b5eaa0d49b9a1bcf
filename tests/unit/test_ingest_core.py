"""Ingest core against real media, real yt-dlp, real ffmpeg, served from 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from clipforge.devstack import samples
from clipforge.ingest.core import (
    IngestConfig,
    check_media,
    download,
    extract_audio,
    ingest,
    ingest_file,
    probe,
    validate_source_url,
)
from clipforge.ingest.download import _PROGRESS_MARK, _DownloadWatcher, classify_failure
from clipforge.shared.errors import StageError
from clipforge.shared.models import MediaInfo, ignore_progress

SENTENCES = samples.DEMO_SENTENCES[:2]
LOOPBACK = ("127.0.0.0/8",)


def local_config(**limits: float) -> IngestConfig:
    """Limits for tests, whose sources are on 127.0.0.1: loopback is allowed, nothing else private."""
    return IngestConfig(allowed_source_networks=LOOPBACK, **limits)


class ProgressLog:
    def __init__(self) -> None:
        self.events: list[tuple[float, str]] = []

    def __call__(self, fraction: float, message: str) -> None:
        self.events.append((fraction, message))

    @property
    def fractions(self) -> list[float]:
        return [fraction for fraction, _ in self.events]


@pytest.fixture(scope="module")
def talk(http_root: Path) -> samples.SampleVideo:
    return samples.make_speech_video(http_root / "talk.mp4", SENTENCES)


@pytest.fixture(scope="module")
def silent(http_root: Path) -> Path:
    return samples.make_silent_video(http_root / "silent.mp4", seconds=2.0)


# --- a real download, end to end ----------------------------------------------------------


async def test_ingest_downloads_probes_and_extracts_speech(
    http_server: str, talk: samples.SampleVideo, tmp_path: Path
) -> None:
    progress = ProgressLog()

    result = await ingest(f"{http_server}/talk.mp4", tmp_path, local_config(), progress)

    assert result.video_path == tmp_path / "source.mp4"
    assert result.video_path.read_bytes() == talk.path.read_bytes()
    media = result.media
    assert media.duration_seconds == pytest.approx(talk.duration_seconds, abs=0.1)
    assert media.size_bytes == talk.path.stat().st_size
    assert "mp4" in media.container
    assert (media.video_codec, media.audio_codec) == ("h264", "aac")
    assert (media.width, media.height) == (640, 360)
    assert media.fps == pytest.approx(25.0)
    assert media.has_audio and media.has_video

    with wave.open(str(result.audio_path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        assert wav.getnframes() / 16000 == pytest.approx(talk.duration_seconds, abs=0.2)

    fractions = progress.fractions
    assert fractions == sorted(fractions), "progress never moves backwards"
    assert fractions[-1] == 1.0
    assert any(0.0 < f <= 0.7 and m.startswith("Downloading ") and m.endswith(" MB") for f, m in progress.events)
    assert any(0.7 < f < 1.0 for f in fractions), "audio extraction reports its own progress"


@pytest.fixture(scope="module")
def dash_manifest(http_root: Path, talk: samples.SampleVideo) -> str:
    """``talk`` as a DASH manifest listing picture and sound separately, as most video sites do."""
    dash = http_root / "dash"
    dash.mkdir(exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-i", str(talk.path), "-map", "0:v", "-map", "0:a", "-c", "copy",
         "-f", "dash", str(dash / "talk.mpd")],
        check=True,
    )  # fmt: skip
    return "dash/talk.mpd"


async def test_separate_video_and_audio_are_merged_into_one_mp4(
    http_server: str, dash_manifest: str, talk: samples.SampleVideo, tmp_path: Path
) -> None:
    progress = ProgressLog()

    video = await download(f"{http_server}/{dash_manifest}", tmp_path, local_config(), progress)

    assert video == tmp_path / "source.mp4"
    assert sorted(os.listdir(tmp_path)) == ["source.mp4"], "per-format parts are cleaned up"
    media = await probe(video)
    assert media.has_video and media.has_audio
    assert media.duration_seconds == pytest.approx(talk.duration_seconds, abs=0.2)
    fractions = progress.fractions
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(0.2 < fraction < 0.8 for fraction in fractions), "the first of two files is about half the work"


def test_progress_of_two_files_adds_up_and_counts_against_the_limit() -> None:
    progress = ProgressLog()
    watcher = _DownloadWatcher(max_bytes=2_500_000, on_progress=progress)
    watcher("[info] abc: Downloading 1 format(s): 137+140")
    watcher(f"{_PROGRESS_MARK} downloading 500000 1000000 NA /tmp/my dir/source.f137.mp4")
    watcher(f"{_PROGRESS_MARK} finished 1000000 1000000 NA /tmp/my dir/source.f137.mp4")
    watcher(f"{_PROGRESS_MARK} downloading 500000 NA 1000000 /tmp/my dir/source.f140.m4a")
    watcher(f"{_PROGRESS_MARK} finished 1000000 1000000 NA /tmp/my dir/source.f140.m4a")
    assert progress.fractions == [0.25, 0.5, 0.75, 1.0]
    assert progress.events[2][1] == "Downloading 1.5 of 2.0 MB"
    with pytest.raises(StageError) as caught:
        watcher(f"{_PROGRESS_MARK} downloading 600000 NA NA /tmp/my dir/source.f141.m4a")
    assert caught.value.code == "source_too_large"


# --- addresses and download failures ------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["ftp://example.com/video.mp4", "file:///etc/passwd", "http:///nohost", "example.com/v"]
)
async def test_only_http_and_https_with_a_host_are_accepted(url: str, tmp_path: Path) -> None:
    with pytest.raises(StageError) as caught:
        await ingest(url, tmp_path, local_config(), ignore_progress)
    assert caught.value.code == "unsupported_url_scheme"
    assert "http://" in caught.value.message
    assert not os.listdir(tmp_path)


def test_valid_urls_pass_through_trimmed() -> None:
    assert validate_source_url("  https://example.com/watch?v=1 ") == "https://example.com/watch?v=1"
    assert validate_source_url("http://127.0.0.1:8000/a.mp4", local_config().source_policy) == (
        "http://127.0.0.1:8000/a.mp4"
    )


async def test_page_without_media_is_no_media_found(http_server: str, http_root: Path, tmp_path: Path) -> None:
    page = "<html><head><title>News</title></head><body><p>No video here.</p></body></html>"
    (http_root / "article.html").write_text(page)
    with pytest.raises(StageError) as caught:
        await download(f"{http_server}/article.html", tmp_path, local_config(), ignore_progress)
    assert caught.value.code == "no_media_found"


async def test_missing_file_is_source_unreachable(http_server: str, tmp_path: Path) -> None:
    with pytest.raises(StageError) as caught:
        await download(f"{http_server}/does-not-exist.mp4", tmp_path, local_config(), ignore_progress)
    assert caught.value.code == "source_unreachable"
    assert "404" in caught.value.message
    assert not caught.value.retryable


async def test_closed_port_is_source_unreachable(tmp_path: Path) -> None:
    with pytest.raises(StageError) as caught:
        await download("http://127.0.0.1:9/video.mp4", tmp_path, local_config(), ignore_progress)
    assert caught.value.code == "source_unreachable"
    assert caught.value.retryable


async def test_announced_size_above_the_limit_is_source_too_large(
    http_server: str, talk: samples.SampleVideo, tmp_path: Path
) -> None:
    with pytest.raises(StageError) as caught:
        await download(f"{http_server}/talk.mp4", tmp_path, local_config(max_download_bytes=100_000), ignore_progress)
    assert caught.value.code == "source_too_large"
    assert "100 kB" in caught.value.message
    assert not any(name.endswith(".mp4") for name in os.listdir(tmp_path))


@pytest.mark.parametrize(
    ("stderr", "code"),
    [
        (
            "ERROR: [generic] x: Unable to download webpage: HTTP Error 403: Forbidden (caused by <HTTPError 403>)",
            "source_unreachable",
        ),
        (
            "ERROR: [generic] x: Unable to download webpage: [Errno -2] Name or service not known "
            "(caused by TransportError('[Errno -2] Name or service not known'))",
            "source_unreachable",
        ),
        (
            "ERROR: [vimeo] 123: No video formats found!; please report this issue on  https://github.com/yt-dlp",
            "no_media_found",
        ),
        ("ERROR: [youtube] abc: Private video. Sign in if you've been granted access to this video", "download_failed"),
        ("Traceback (most recent call last):\n  File \"x.py\", line 1\nKeyError: 'formats'", "download_failed"),
    ],
)
def test_yt_dlp_failures_map_to_readable_errors(stderr: str, code: str) -> None:
    error = classify_failure(stderr, "", local_config())
    assert error.code == code
    assert "ERROR" not in error.message and "Traceback" not in error.message and "caused by" not in error.message
    if code == "download_failed":
        assert "Private video" in error.message or "unexpectedly" in error.message


# --- slow sources: our own size limit, cancellation ---------------------------------------


class _DripHandler(BaseHTTPRequestHandler):
    """Sends an endless MP4-typed body slowly; ``?sized`` announces a (large) Content-Length."""

    protocol_version = "HTTP/1.0"
    stop: threading.Event

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        if "sized" in self.path:
            self.send_header("Content-Length", str(1_000_000_000))
        self.end_headers()
        chunk = b"\0" * 16_384
        try:
            while not self.stop.is_set():
                self.wfile.write(chunk)
                self.wfile.flush()
                time.sleep(0.02)
        except OSError:
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def drip_server() -> Iterator[str]:
    stop = threading.Event()
    handler = type("Handler", (_DripHandler,), {"stop": stop})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def _yt_dlp_children() -> list[int]:
    """Live child processes of this test process that run yt-dlp."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        if ppid == os.getpid() and state != "Z" and b"clipforge.ingest.netguard" in cmdline:
            found.append(int(entry.name))
    return found


async def test_unannounced_size_is_cut_off_at_the_limit(drip_server: str, tmp_path: Path) -> None:
    progress = ProgressLog()
    started = time.monotonic()
    with pytest.raises(StageError) as caught:
        # The time limit only keeps a broken size check from hanging the test.
        config = local_config(max_download_bytes=300_000, download_timeout_seconds=20)
        await download(f"{drip_server}/stream.mp4", tmp_path, config, progress)
    assert caught.value.code == "source_too_large"
    assert time.monotonic() - started < 30
    assert any(message.startswith("Downloaded ") for _, message in progress.events), "unknown total is reported"
    assert _yt_dlp_children() == []


async def test_cancelling_the_download_kills_yt_dlp(drip_server: str, tmp_path: Path) -> None:
    downloading = asyncio.Event()

    def on_progress(fraction: float, message: str) -> None:
        if message.startswith("Downloading "):
            downloading.set()

    task = asyncio.create_task(download(f"{drip_server}/movie.mp4?sized", tmp_path, local_config(), on_progress))
    await asyncio.wait_for(downloading.wait(), timeout=30)
    assert _yt_dlp_children(), "yt-dlp runs as a child process while downloading"

    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - cancelled_at < 5
    assert _yt_dlp_children() == []


async def test_download_time_limit(drip_server: str, tmp_path: Path) -> None:
    with pytest.raises(StageError) as caught:
        await download(
            f"{drip_server}/movie.mp4?sized", tmp_path, local_config(download_timeout_seconds=3), ignore_progress
        )
    assert caught.value.code == "download_timed_out"
    assert caught.value.retryable
    assert _yt_dlp_children() == []


# --- checking what arrived ----------------------------------------------------------------


async def test_video_without_sound_is_refused(http_server: str, silent: Path, tmp_path: Path) -> None:
    with pytest.raises(StageError) as caught:
        await ingest(f"{http_server}/silent.mp4", tmp_path, local_config(), ignore_progress)
    assert caught.value.code == "no_audio_stream"
    assert not (tmp_path / "audio.wav").exists()


async def test_sound_without_picture_is_refused(tmp_path: Path) -> None:
    speech = samples.speak("Just a voice.", tmp_path / "voice.wav")
    with pytest.raises(StageError) as caught:
        await ingest_file(speech, tmp_path / "work", local_config(), ignore_progress)
    assert caught.value.code == "no_video_stream"


async def test_too_long_is_refused_with_both_durations(tmp_path: Path) -> None:
    video = samples.make_tone_video(tmp_path / "tone.mp4", seconds=3)
    with pytest.raises(StageError) as caught:
        await ingest_file(video, tmp_path / "work", local_config(max_duration_seconds=2), ignore_progress)
    assert caught.value.code == "media_too_long"
    assert "3 s" in caught.value.message and "2 s" in caught.value.message


def test_duration_limit_message_uses_minutes() -> None:
    info = MediaInfo(duration_seconds=5 * 3600 + 125, size_bytes=1, container="mp4", has_audio=True, has_video=True)
    with pytest.raises(StageError) as caught:
        check_media(info, local_config())
    assert "5 h 2 min 5 s" in caught.value.message and "4 h 0 min" in caught.value.message


async def test_text_file_named_mp4_is_not_media(tmp_path: Path) -> None:
    fake = tmp_path / "holiday.mp4"
    fake.write_text("this is not a video\n" * 50)
    with pytest.raises(StageError) as caught:
        await probe(fake)
    assert caught.value.code == "not_media"


async def test_ingest_file_extracts_speech_from_a_local_video(tmp_path: Path) -> None:
    video = samples.make_tone_video(tmp_path / "tone.mp4", seconds=2)
    progress = ProgressLog()
    result = await ingest_file(video, tmp_path / "work", local_config(), progress)
    assert result.video_path == video
    assert result.audio_path == tmp_path / "work" / "audio.wav"
    assert result.media.duration_seconds == pytest.approx(2.0, abs=0.1)
    assert progress.fractions[-1] == 1.0


async def test_failed_extraction_is_audio_extraction_failed(silent: Path, tmp_path: Path) -> None:
    # Skipping the checks, so ffmpeg is asked for a sound track that does not exist.
    with pytest.raises(StageError) as caught:
        await extract_audio(silent, tmp_path / "audio.wav", 2.0, ignore_progress)
    assert caught.value.code == "audio_extraction_failed"
