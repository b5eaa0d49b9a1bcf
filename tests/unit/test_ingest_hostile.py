"""Hostile sources and hostile media against the real ingest work (yt-dlp under its network guard,
ffprobe, ffmpeg), served by HTTP servers on loopback that this test runs.

Every case either succeeds with what a user would expect or raises a ``StageError`` with a
specific code; none hangs (each has a short time limit) and none crashes.
Servers bind 127.0.0.1 and 127.0.0.2 (both loopback on Linux): with only 127.0.0.1/32 allowed,
127.0.0.2 stands for "an internal address" a hostile source tries to reach.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import threading
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from clipforge.devstack import samples
from clipforge.ingest.core import IngestConfig, download, ingest, ingest_file
from clipforge.shared.errors import StageError
from clipforge.shared.models import ignore_progress

FIRST_ONLY = ("127.0.0.1/32",)
VP9 = ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"]
HEVC = ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error"]
INTERNAL_HOST = "127.0.0.2"


def config(**limits: float) -> IngestConfig:
    return IngestConfig(allowed_source_networks=FIRST_ONLY, **limits)


# --- a scriptable HTTP server -----------------------------------------------------------------

Route = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Server:
    """Serves ``routes`` (path → handler) on ``host``; records every path requested."""

    host: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:
                server.requests.append(self.path)
                route = server.routes.get(self.path.split("?", 1)[0])
                if route is None:
                    self.send_error(404)
                    return
                try:
                    route(self)
                except OSError:
                    pass  # the client hung up (yt-dlp stopped)

            do_HEAD = do_GET

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((self.host, 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def public() -> Iterator[Server]:
    server = Server("127.0.0.1")
    yield server
    server.close()


@pytest.fixture
def internal() -> Iterator[Server]:
    server = Server(INTERNAL_HOST)
    yield server
    server.close()


def file_route(path: Path, content_type: str = "video/mp4") -> Route:
    return body_route(path.read_bytes(), content_type)


def redirect_route(location: str) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return route


def body_route(body: bytes, content_type: str) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command == "GET":
            handler.wfile.write(body)

    return route


async def failure(url: str, workdir: Path, cfg: IngestConfig, *, within: float = 120) -> StageError:
    started = time.monotonic()
    with pytest.raises(StageError) as caught:
        await ingest(url, workdir, cfg, ignore_progress)
    assert time.monotonic() - started < within
    return caught.value


# --- media made on the spot -----------------------------------------------------------------


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-media")


@pytest.fixture(scope="module")
def speech_wav(media_dir: Path) -> Path:
    return samples.speak("Every hostile file gets a clear answer from ingest.", media_dir / "speech.wav")


def encode(target: Path, inputs: list[str], codecs: list[str]) -> Path:
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", *inputs, *codecs, str(target)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    return target


def picture(seconds: float, size: str = "320x240") -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=15:duration={seconds}"]


@pytest.fixture(scope="module")
def talk(media_dir: Path, speech_wav: Path) -> Path:
    """A few seconds of speech over a test picture, H.264/AAC, moov atom at the end (no faststart)."""
    seconds = samples.probe_duration(speech_wav)
    return encode(
        media_dir / "talk.mp4",
        [*picture(seconds), "-i", str(speech_wav)],
        ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"],
    )


# --- hostile sources ----------------------------------------------------------------------------


async def test_redirect_to_an_internal_address_is_refused_before_connecting(
    public: Server, internal: Server, talk: Path, tmp_path: Path
) -> None:
    internal.routes["/secret.mp4"] = file_route(talk)
    public.routes["/watch"] = redirect_route(f"{internal.url}/secret.mp4")
    error = await failure(f"{public.url}/watch", tmp_path, config())
    assert error.code == "source_address_forbidden"
    assert INTERNAL_HOST in error.message and "loopback" in error.message
    assert public.requests and internal.requests == [], "the internal server was never reached"
    assert not (tmp_path / "audio.wav").exists()


async def test_redirect_to_the_cloud_metadata_address_is_refused(public: Server, tmp_path: Path) -> None:
    public.routes["/watch"] = redirect_route("http://169.254.169.254/latest/meta-data/iam/")
    error = await failure(f"{public.url}/watch", tmp_path, config())
    assert error.code == "source_address_forbidden"
    assert "cloud metadata" in error.message


async def test_redirect_to_a_local_file_is_refused(public: Server, tmp_path: Path) -> None:
    public.routes["/watch"] = redirect_route("file:///etc/passwd")
    error = await failure(f"{public.url}/watch", tmp_path, config())
    assert error.code in {"source_unreachable", "download_failed", "no_media_found"}
    assert "root:" not in error.message
    assert not os.listdir(tmp_path), "nothing was saved"


async def test_a_page_embedding_an_internal_video_is_refused(
    public: Server, internal: Server, talk: Path, tmp_path: Path
) -> None:
    internal.routes["/cam.mp4"] = file_route(talk)
    page = f'<html><body><video src="{internal.url}/cam.mp4" controls></video></body></html>'.encode()
    public.routes["/article"] = body_route(page, "text/html; charset=utf-8")
    error = await failure(f"{public.url}/article", tmp_path, config())
    assert error.code == "source_address_forbidden"
    assert internal.requests == []


async def test_a_playlist_of_internal_segments_is_refused(
    public: Server, internal: Server, talk: Path, tmp_path: Path
) -> None:
    internal.routes["/seg0.ts"] = file_route(talk, "video/mp2t")
    playlist = (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:4.0,\n{internal.url}/seg0.ts\n#EXT-X-ENDLIST\n"
    ).encode()
    public.routes["/live.m3u8"] = body_route(playlist, "application/vnd.apple.mpegurl")
    error = await failure(f"{public.url}/live.m3u8", tmp_path, config())
    assert error.code == "source_address_forbidden"
    assert internal.requests == []


async def test_a_live_stream_is_refused_not_handed_to_ffmpeg(public: Server, tmp_path: Path) -> None:
    playlist = (
        b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:41\n"
        b"#EXTINF:2.0,\nseg41.ts\n#EXTINF:2.0,\nseg42.ts\n"
    )  # no ENDLIST and a moving sequence: a live stream, which never ends
    public.routes["/live.m3u8"] = body_route(playlist, "application/vnd.apple.mpegurl")
    error = await failure(f"{public.url}/live.m3u8", tmp_path, config(download_timeout_seconds=60))
    assert error.code == "unsupported_stream"
    assert "live" in error.message


def _loopback_name() -> str:
    """A host name (not an address, not "localhost") that the resolver maps to a loopback address."""
    for name in (socket.gethostname(), "ip6-localhost", "ip6-loopback", "localhost.localdomain"):
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
        except OSError:
            continue
        if addresses and all(address.startswith("127.") or address == "::1" for address in addresses):
            return name
    raise AssertionError("this machine has no host name that resolves to loopback (see /etc/hosts)")


async def test_a_name_that_resolves_to_an_internal_address_is_refused_when_connecting(
    public: Server, talk: Path, tmp_path: Path
) -> None:
    public.routes["/talk.mp4"] = file_route(talk)
    name = _loopback_name()
    url = f"http://{name}:{public.httpd.server_address[1]}/talk.mp4"
    error = await failure(url, tmp_path, IngestConfig())  # nothing non-public allowed
    assert error.code == "source_address_forbidden"
    assert name in error.message
    assert public.requests == []
    # The same name is fetched when its network is allowed: the guard, not the name, refused it.
    result = await ingest(url, tmp_path / "allowed", IngestConfig(allowed_source_networks=("127.0.0.0/8", "::1/128")),
                          ignore_progress)  # fmt: skip
    assert result.media.has_audio


async def test_a_server_that_never_answers_times_out(public: Server, tmp_path: Path) -> None:
    def silent(handler: BaseHTTPRequestHandler) -> None:
        public.stop.wait(120)  # accepts the connection, never sends a byte

    public.routes["/talk.mp4"] = silent
    error = await failure(f"{public.url}/talk.mp4", tmp_path, config(download_timeout_seconds=4), within=60)
    assert error.code == "download_timed_out"
    assert error.retryable


async def test_a_server_that_drips_forever_without_a_size_times_out(public: Server, tmp_path: Path) -> None:
    def drip(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "video/mp4")
        handler.end_headers()
        while not public.stop.is_set():
            handler.wfile.write(b"\0" * 64)
            handler.wfile.flush()
            time.sleep(0.2)

    public.routes["/talk.mp4"] = drip
    error = await failure(f"{public.url}/talk.mp4", tmp_path, config(download_timeout_seconds=4), within=60)
    assert error.code == "download_timed_out"


async def test_an_empty_file_is_not_media(public: Server, tmp_path: Path) -> None:
    public.routes["/talk.mp4"] = body_route(b"", "video/mp4")
    error = await failure(f"{public.url}/talk.mp4", tmp_path, config())
    assert error.code == "not_media"


async def test_text_served_as_mp4_is_not_media(public: Server, tmp_path: Path) -> None:
    public.routes["/talk.mp4"] = body_route(b"this is a text file, not a video\n" * 100, "video/mp4")
    error = await failure(f"{public.url}/talk.mp4", tmp_path, config())
    assert error.code == "not_media"


async def test_a_download_longer_than_the_limit_is_media_too_long(public: Server, talk: Path, tmp_path: Path) -> None:
    public.routes["/talk.mp4"] = file_route(talk)
    error = await failure(f"{public.url}/talk.mp4", tmp_path, config(max_duration_seconds=1))
    assert error.code == "media_too_long"


async def test_an_error_page_is_source_unreachable_and_not_retried(public: Server, tmp_path: Path) -> None:
    def gone(handler: BaseHTTPRequestHandler) -> None:
        handler.send_error(410, "Gone")

    public.routes["/talk.mp4"] = gone
    error = await failure(f"{public.url}/talk.mp4", tmp_path, config())
    assert error.code == "source_unreachable" and "410" in error.message and not error.retryable


async def test_a_server_error_is_source_unreachable_and_retryable(public: Server, tmp_path: Path) -> None:
    def broken(handler: BaseHTTPRequestHandler) -> None:
        handler.send_error(503, "Service Unavailable")

    public.routes["/talk.mp4"] = broken
    error = await failure(f"{public.url}/talk.mp4", tmp_path, config())
    assert error.code == "source_unreachable" and error.retryable


# --- hostile media ------------------------------------------------------------------------------


async def refused(path: Path, tmp_path: Path, cfg: IngestConfig | None = None) -> StageError:
    with pytest.raises(StageError) as caught:
        await ingest_file(path, tmp_path / "work", cfg or config(), ignore_progress)
    return caught.value


async def test_zero_bytes_is_not_media(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert (await refused(empty, tmp_path)).code == "not_media"


async def test_random_bytes_named_mp4_is_not_media(tmp_path: Path) -> None:
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(os.urandom(200_000))
    assert (await refused(noise, tmp_path)).code == "not_media"


async def test_truncated_mp4_without_its_index_is_not_media(talk: Path, tmp_path: Path) -> None:
    # Without faststart the index (moov) is at the end: half the file has no index at all.
    data = await asyncio.to_thread(talk.read_bytes)
    half = tmp_path / "half.mp4"
    half.write_bytes(data[: len(data) // 2])
    assert (await refused(half, tmp_path)).code == "not_media"


async def test_truncated_faststart_mp4_gives_what_is_there(media_dir: Path, talk: Path, tmp_path: Path) -> None:
    # With the index first, a cut file still plays up to the cut: ingest keeps the readable part.
    faststart = encode(media_dir / "faststart.mp4", ["-i", str(talk)], ["-c", "copy", "-movflags", "+faststart"])
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(faststart.read_bytes()[: int(faststart.stat().st_size * 0.6)])
    result = await ingest_file(cut, tmp_path / "work", config(), ignore_progress)
    with wave.open(str(result.audio_path)) as wav:
        heard = wav.getnframes() / wav.getframerate()
    assert 0 < heard < result.media.duration_seconds


async def test_audio_only_is_no_video_stream(media_dir: Path, speech_wav: Path, tmp_path: Path) -> None:
    m4a = encode(media_dir / "voice.m4a", ["-i", str(speech_wav)], ["-c:a", "aac"])
    error = await refused(m4a, tmp_path)
    assert error.code == "no_video_stream"


async def test_audio_with_cover_art_is_still_audio_only(media_dir: Path, speech_wav: Path, tmp_path: Path) -> None:
    cover = encode(media_dir / "cover.png", ["-f", "lavfi", "-i", "color=red:size=64x64"], ["-frames:v", "1"])
    mp3 = encode(
        media_dir / "song.mp3",
        ["-i", str(speech_wav), "-i", str(cover)],
        ["-map", "0:a", "-map", "1:v", "-c:a", "libmp3lame", "-c:v", "png", "-disposition:v", "attached_pic"],
    )
    assert (await refused(mp3, tmp_path)).code == "no_video_stream"


async def test_video_without_audio_is_no_audio_stream(media_dir: Path, tmp_path: Path) -> None:
    mute = encode(media_dir / "mute.mp4", picture(2), ["-c:v", "libx264", "-preset", "ultrafast"])
    assert (await refused(mute, tmp_path)).code == "no_audio_stream"


async def test_one_second_video_is_ingested(media_dir: Path, tmp_path: Path) -> None:
    short = encode(
        media_dir / "one-second.mp4",
        [*picture(1), "-f", "lavfi", "-i", "sine=frequency=300:duration=1"],
        ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest"],
    )
    result = await ingest_file(short, tmp_path / "work", config(), ignore_progress)
    assert result.media.duration_seconds == pytest.approx(1.0, abs=0.15)


async def test_silence_is_ingested_and_left_to_transcription(media_dir: Path, tmp_path: Path) -> None:
    quiet = encode(
        media_dir / "silence.mp4",
        [*picture(3), "-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo"],
        ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-t", "3"],
    )
    result = await ingest_file(quiet, tmp_path / "work", config(), ignore_progress)
    assert result.media.has_audio
    with wave.open(str(result.audio_path)) as wav:
        frames = wav.readframes(wav.getnframes())
    assert len(frames) > 16_000 * 2 and set(frames) == {0}, "the speech track is seconds of digital silence"


async def test_portrait_video_keeps_its_shape(media_dir: Path, speech_wav: Path, tmp_path: Path) -> None:
    portrait = encode(
        media_dir / "portrait.mp4",
        [*picture(samples.probe_duration(speech_wav), "360x640"), "-i", str(speech_wav)],
        ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"],
    )
    result = await ingest_file(portrait, tmp_path / "work", config(), ignore_progress)
    assert (result.media.width, result.media.height) == (360, 640)


async def test_rotated_phone_video_is_reported_as_stored(media_dir: Path, speech_wav: Path, tmp_path: Path) -> None:
    # Phones store landscape frames with a rotation flag; the facts are ffprobe's, the file plays.
    rotated = encode(
        media_dir / "rotated.mp4",
        [*picture(2, "640x360"), "-i", str(speech_wav)],
        ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", "-metadata:s:v", "rotate=90"],
    )
    result = await ingest_file(rotated, tmp_path / "work", config(), ignore_progress)
    assert result.media.has_video and result.audio_path.stat().st_size > 44


@pytest.mark.parametrize(
    ("name", "codecs", "video_codec", "audio_codec"),
    [
        ("vp9.webm", [*VP9, "-c:a", "libopus"], "vp9", "opus"),
        ("mpeg2.mpg", ["-c:v", "mpeg2video", "-c:a", "mp2"], "mpeg2video", "mp2"),
        ("prores.mov", ["-c:v", "prores_ks", "-profile:v", "0", "-c:a", "pcm_s16le"], "prores", "pcm_s16le"),
        ("hevc.mkv", [*HEVC, "-c:a", "libvorbis"], "hevc", "vorbis"),
    ],
    ids=["vp9-opus-webm", "mpeg2-mp2-mpg", "prores-pcm-mov", "hevc-vorbis-mkv"],
)  # fmt: skip
async def test_unusual_codecs_are_ingested(
    media_dir: Path, speech_wav: Path, tmp_path: Path, name: str, codecs: list[str], video_codec: str, audio_codec: str
) -> None:
    source = encode(media_dir / name, [*picture(2), "-i", str(speech_wav)], [*codecs, "-t", "2"])
    result = await ingest_file(source, tmp_path / "work", config(), ignore_progress)
    assert (result.media.video_codec, result.media.audio_codec) == (video_codec, audio_codec)
    assert result.media.duration_seconds == pytest.approx(2.0, abs=0.3)
    assert result.audio_path.stat().st_size > 16_000 * 2  # more than a second of 16 kHz speech


async def test_unusual_codec_over_http_is_downloaded_as_is(
    public: Server, media_dir: Path, speech_wav: Path, tmp_path: Path
) -> None:
    webm = encode(
        media_dir / "talk.webm",
        [*picture(2), "-i", str(speech_wav)],
        [*VP9, "-c:a", "libopus", "-t", "2"],
    )
    public.routes["/talk.webm"] = file_route(webm, "video/webm")
    video = await download(f"{public.url}/talk.webm", tmp_path, config(), ignore_progress)
    assert video.read_bytes() == webm.read_bytes()
