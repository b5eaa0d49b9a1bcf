"""Fetching the source video with yt-dlp, run as a subprocess so cancelling the task kills it."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import sys
from collections import deque
from pathlib import Path

from clipforge.shared.errors import StageError
from clipforge.shared.models import ProgressCallback
from clipforge.shared.process import run_process
from clipforge.shared.urlsafety import SourcePolicy, UnsafeUrl, check_source_url, forbidden_address

from . import netguard
from .config import IngestConfig
from .text import format_duration, format_megabytes, format_size

log = logging.getLogger(__name__)

SOURCE_STEM = "source"

_PROGRESS_MARK = "CLIPFORGE-PROGRESS"
# The filename goes last: it is the only field that may contain spaces.
_PROGRESS_TEMPLATE = (
    f"download:{_PROGRESS_MARK} %(progress.status)s %(progress.downloaded_bytes)s "
    "%(progress.total_bytes)s %(progress.total_bytes_estimate)s %(progress.filename)s"
)
_SOURCE_NAME = re.compile(rf"^{SOURCE_STEM}\.[A-Za-z0-9]+$")
_LEFTOVER_SUFFIXES = frozenset({"part", "ytdl", "temp", "tmp"})
_FORMATS_CHOSEN = re.compile(r"Downloading \d+ format\(s\): (\S+)")
_TOO_LARGE = re.compile(r"File is larger than max-filesize \((\d+) bytes")
_HTTP_ERROR = re.compile(r"HTTP Error (\d{3})(?::\s*([^(]*))?")
_NO_MEDIA_MARKERS = (
    "Unsupported URL",
    "No video formats found",
    "Requested format is not available",
    "There's no video in this",
    "does not contain a video",
)
_NETWORK_MARKERS = (
    "Connection refused",
    "Name or service not known",
    "Temporary failure in name resolution",
    "nodename nor servname",
    "getaddrinfo failed",
    "Failed to resolve",
    "No route to host",
    "Network is unreachable",
    "timed out",
    "Connection reset",
    "Remote end closed connection",
    "TransportError",
    "SSL",
    "certificate verify failed",
)
_OUTPUT_TAIL_LINES = 40


def validate_source_url(url: str, policy: SourcePolicy | None = None) -> str:
    """``url`` trimmed, when the source policy allows it (see ``clipforge.shared.urlsafety``).

    Names are not resolved here: ``netguard`` checks every address yt-dlp connects to.
    """
    try:
        return check_source_url(url, policy or SourcePolicy())
    except UnsafeUrl as refused:
        raise StageError(refused.code, refused.message) from None


class _DownloadWatcher:
    """Reads yt-dlp's stdout: turns progress lines into callbacks, keeps the rest for errors.

    Raises ``source_too_large`` (which stops yt-dlp) once more bytes arrived than allowed, since
    yt-dlp only enforces ``--max-filesize`` when the server announces a size up front.
    """

    def __init__(self, max_bytes: int, on_progress: ProgressCallback) -> None:
        self.max_bytes = max_bytes
        self.on_progress = on_progress
        self.tail: deque[str] = deque(maxlen=_OUTPUT_TAIL_LINES)
        # "Best video + best audio" fetches two files one after the other, then merges them.
        self._file_count = 1
        self._finished_files: dict[str, int] = {}
        self._fraction = 0.0

    def __call__(self, line: str) -> None:
        if not line.startswith(_PROGRESS_MARK + " "):
            self.tail.append(line)
            if chosen := _FORMATS_CHOSEN.search(line):
                self._file_count = max(len(chosen.group(1).split("+")), 1)
            return
        fields = line.split(" ", 5)
        if len(fields) < 6:
            return
        _, status, downloaded_text, total_text, estimate_text, filename = fields
        downloaded = _as_int(downloaded_text)
        if downloaded is None:
            return
        total = _as_int(total_text)
        expected = total or _as_int(estimate_text)
        if status == "finished":
            self._finished_files[filename] = downloaded
        earlier_files = {name: size for name, size in self._finished_files.items() if name != filename}
        earlier = sum(earlier_files.values())
        received = earlier + downloaded
        if received > self.max_bytes or earlier + (total or 0) > self.max_bytes:
            raise source_too_large(max(received, earlier + (total or 0)), self.max_bytes)
        if expected:
            expected = max(expected, downloaded)
            this_file = downloaded / expected
            fraction = (len(earlier_files) + this_file) / max(self._file_count, len(earlier_files) + 1)
            self._fraction = max(self._fraction, min(fraction, 1.0))
            message = f"Downloading {format_megabytes(received)} of {format_megabytes(earlier + expected)} MB"
        else:
            message = f"Downloaded {format_megabytes(received)} MB so far"
        self.on_progress(self._fraction, message)


def _as_int(value: str) -> int | None:
    try:
        return int(float(value))
    except ValueError:
        return None


def source_too_large(size_bytes: int, max_bytes: int) -> StageError:
    return StageError(
        "source_too_large",
        f"The video is too large to download ({format_size(size_bytes)}; the limit is "
        f"{format_size(max_bytes)}). Try a shorter or lower-quality video.",
    )


def empty_source() -> StageError:
    return StageError(
        "not_media", "The link gave an empty file, not a video. Check that the link opens the video itself."
    )


def yt_dlp_command(url: str, dest_dir: Path, config: IngestConfig) -> list[str]:
    return [
        # yt-dlp under a guard that refuses connections to addresses the policy forbids.
        sys.executable, "-m", netguard.__name__, json.dumps(list(config.allowed_source_networks)),
        "--ignore-config",
        # urllib, whatever else is installed (requests): one behaviour, and its errors, everywhere.
        "--compat-options", "prefer-legacy-http-handler",
        "--no-cache-dir",
        "--no-playlist",
        # A page that is only a list of videos still gives us just its first one.
        "--playlist-items", "1",
        "--newline",
        "--progress",
        "--progress-template", _PROGRESS_TEMPLATE,
        "--progress-delta", "0.5",
        "--max-filesize", str(config.max_download_bytes),
        "--socket-timeout", f"{config.socket_timeout_seconds:g}",
        "--format", "b/bv*+ba",
        "--merge-output-format", "mp4",
        # The folder goes in --paths, not in the output template, so a "%" in it stays literal.
        "--paths", str(dest_dir),
        "--output", f"{SOURCE_STEM}.%(ext)s",
        "--",
        url,
    ]  # fmt: skip


async def download(
    url: str,
    dest_dir: Path,
    config: IngestConfig,
    on_progress: ProgressCallback,
) -> Path:
    """Download the video at ``url`` into ``dest_dir/source.<ext>`` and return its path."""
    url = validate_source_url(url, config.source_policy)
    dest_dir = _prepare_dir(dest_dir)
    watcher = _DownloadWatcher(config.max_download_bytes, on_progress)
    on_progress(0.0, "Starting the download")
    try:
        async with asyncio.timeout(config.download_timeout_seconds):
            result = await run_process(yt_dlp_command(url, dest_dir, config), on_stdout_line=watcher, keep_stdout=False)
    except TimeoutError:
        raise StageError(
            "download_timed_out",
            f"Downloading the video took longer than {format_duration(config.download_timeout_seconds)} "
            "and was stopped. Try again later, or use a shorter video.",
            retryable=True,
        ) from None
    stdout_tail = "\n".join(watcher.tail)
    if result.returncode != 0:
        raise classify_failure(result.stderr_tail, stdout_tail, config)
    source = find_source_file(dest_dir)
    if source is None:
        too_large = _TOO_LARGE.search(stdout_tail)
        if too_large:
            raise source_too_large(int(too_large.group(1)), config.max_download_bytes)
        if find_source_file(dest_dir, allow_empty=True) is not None:
            raise empty_source()
        raise StageError(
            "download_failed",
            "The download finished but no video file was saved. Try again, or use a different link.",
        )
    on_progress(1.0, f"Downloaded {format_megabytes(_size(source))} MB")
    return source


def _prepare_dir(dest_dir: Path) -> Path:
    dest_dir = dest_dir.resolve()
    dest_dir.mkdir(parents=True, exist_ok=True)
    return dest_dir


def _size(path: Path) -> int:
    return path.stat().st_size


def find_source_file(dest_dir: Path, *, allow_empty: bool = False) -> Path | None:
    """The finished download: ``source.<ext>``, never a partial or per-format leftover."""
    candidates = [
        path
        for path in dest_dir.iterdir()
        if _SOURCE_NAME.fullmatch(path.name)
        and path.suffix.lstrip(".").lower() not in _LEFTOVER_SUFFIXES
        and path.is_file()
        and (allow_empty or path.stat().st_size > 0)
    ]
    return max(candidates, key=lambda path: path.stat().st_mtime, default=None)


def classify_failure(stderr_tail: str, stdout_tail: str, config: IngestConfig) -> StageError:
    """Turn yt-dlp's complaint into an error a person can act on."""
    if refused := guard_refusal(stderr_tail):
        return refused
    too_large = _TOO_LARGE.search(stdout_tail)
    if too_large:
        return source_too_large(int(too_large.group(1)), config.max_download_bytes)
    reason = _last_error(stderr_tail)
    http_error = _HTTP_ERROR.search(reason)
    if http_error:
        status = int(http_error.group(1))
        status_text = f"{status} {(http_error.group(2) or '').strip()}".strip()
        return StageError(
            "source_unreachable",
            f'The site would not give us the video (it answered "{status_text}"). '
            "Check that the link is correct and that the video is public.",
            retryable=status >= 500 or status == 429,
        )
    if "Did not get any data blocks" in reason:
        return empty_source()
    if any(marker in reason for marker in _NO_MEDIA_MARKERS):
        return StageError(
            "no_media_found",
            "We could not find a video at that address. Check that the link opens a video "
            "(a video page or a video file), not a home page, channel or search page.",
        )
    if any(marker.lower() in reason.lower() for marker in _NETWORK_MARKERS):
        return StageError(
            "source_unreachable",
            "We could not reach the site that hosts the video. Check that the link is correct; "
            "if it is, the site may be down, so try again later.",
            retryable=True,
        )
    log.warning("yt-dlp failed; stderr tail:\n%s", stderr_tail)
    readable = reason or "the downloader stopped unexpectedly"
    return StageError(
        "download_failed",
        f"The video could not be downloaded: {readable}. Try again later, or use a different link.",
    )


def guard_refusal(stderr_tail: str) -> StageError | None:
    """The error for the last connection or downloader ``netguard`` refused, if it refused one."""
    for line in reversed(stderr_tail.splitlines()):
        if line.startswith(netguard.FORBIDDEN_MARK + " "):
            _, host, address, reason = line.split(" ", 3)
            refused = forbidden_address(host, ipaddress.ip_address(address), reason)
            return StageError(refused.code, refused.message)
        if line.startswith(netguard.EXTERNAL_MARK + " "):
            return StageError(
                "unsupported_stream",
                "This video is a live stream or uses a streaming method ClipForge does not fetch. "
                "Use a link to a recorded video.",
            )
    return None


_ERROR_PREFIX = re.compile(r"^ERROR:\s*(\[[^\]]+\]\s*)?")
_ERROR_ID_PREFIX = re.compile(r"^[\w.-]+:\s+(?=[A-Z])")
_ERROR_NOISE = re.compile(r"\s*(\(caused by .*\)|;\s*please report this issue.*|Confirm you are on the latest.*)$")


def _last_error(stderr_tail: str) -> str:
    """yt-dlp's last ``ERROR:`` line without its prefixes and bug-report boilerplate."""
    lines = [line.strip() for line in stderr_tail.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    if not errors:
        # Without an ERROR line yt-dlp crashed; its traceback means nothing to the user.
        return ""
    text = _ERROR_PREFIX.sub("", errors[-1])
    if errors[-1].startswith("ERROR: ["):
        text = _ERROR_ID_PREFIX.sub("", text)
    text = _ERROR_NOISE.sub("", text).strip().rstrip(".")
    return text[:300]
