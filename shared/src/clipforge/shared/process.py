"""Running external programs (ffmpeg, ffprobe, yt-dlp) without blocking the event loop.

A subprocess is started with asyncio, its output read line by line, and it is killed when
the awaiting task is cancelled, so cancelling a job stops the program doing its work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from clipforge.shared.errors import ProcessKilled

log = logging.getLogger(__name__)

_STDERR_TAIL_LINES = 40


@dataclass(frozen=True)
class ProcessResult:
    returncode: int
    stdout_lines: list[str]
    stderr_tail: str


async def run_process(
    argv: Sequence[str],
    *,
    on_stdout_line: Callable[[str], None] | None = None,
    keep_stdout: bool = True,
    kill_grace_seconds: float = 2.0,
) -> ProcessResult:
    """Run ``argv``; call ``on_stdout_line`` for each line of stdout as it arrives.

    Returns the exit code and the tail of stderr (for error messages). Never raises for a
    non-zero exit: the caller decides what a failure means. A program killed by a signal that
    this code did not send raises :class:`ProcessKilled` (a transient failure, retried), since
    its exit code says nothing about the input.
    """
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group: stopping it also stops its children
    )
    assert proc.stdout is not None and proc.stderr is not None
    stdout_lines: list[str] = []
    stderr_lines: list[str] = []

    async def read_stdout() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if keep_stdout:
                stdout_lines.append(line)
            if on_stdout_line is not None:
                on_stdout_line(line)

    async def read_stderr() -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            stderr_lines.append(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
            del stderr_lines[:-_STDERR_TAIL_LINES]

    readers = [asyncio.ensure_future(read_stdout()), asyncio.ensure_future(read_stderr())]
    try:
        await asyncio.gather(*readers)
        returncode = await proc.wait()
    except BaseException:
        for reader in readers:
            reader.cancel()
        await _terminate(proc, kill_grace_seconds)
        raise
    if returncode < 0:
        log.warning("%s was killed by signal %d: %s", argv[0], -returncode, "\n".join(stderr_lines[-3:]))
        raise ProcessKilled(os.path.basename(str(argv[0])), -returncode)
    return ProcessResult(returncode, stdout_lines, "\n".join(stderr_lines))


async def _terminate(proc: asyncio.subprocess.Process, grace_seconds: float) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace_seconds)
    except TimeoutError:
        pass
    # The group may still hold children (ffmpeg started by yt-dlp) even when the leader exited.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()
    log.info("stopped subprocess %s", proc.pid)


class FfmpegProgressParser:
    """Turns ffmpeg's ``-progress pipe:1`` key=value lines into a 0..1 fraction."""

    def __init__(self, total_seconds: float, on_fraction: Callable[[float], None]) -> None:
        self.total_seconds = max(total_seconds, 1e-6)
        self.on_fraction = on_fraction

    def __call__(self, line: str) -> None:
        key, _, value = line.partition("=")
        if key == "out_time_us" and value.strip().lstrip("-").isdigit():
            seconds = int(value) / 1_000_000
            self.on_fraction(min(max(seconds / self.total_seconds, 0.0), 1.0))
        elif key == "progress" and value.strip() == "end":
            self.on_fraction(1.0)


async def run_ffmpeg(
    argv: Sequence[str],
    *,
    total_seconds: float,
    on_fraction: Callable[[float], None] | None = None,
) -> ProcessResult:
    """Run an ffmpeg command line, reporting progress read from ffmpeg itself.

    ``argv`` is a full command (as made by ``ffmpeg-python``'s ``compile()``); progress
    reporting options are added here.
    """
    argv = list(argv)
    full = [argv[0], "-hide_banner", "-nostdin", "-progress", "pipe:1", "-nostats", *argv[1:]]
    parser = FfmpegProgressParser(total_seconds, on_fraction or (lambda _fraction: None))
    return await run_process(full, on_stdout_line=parser, keep_stdout=False)
