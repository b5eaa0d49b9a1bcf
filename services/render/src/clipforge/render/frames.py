"""Small grey frames sampled from a stretch of video by ffmpeg, streamed to Python as they decode.

ffmpeg does the decoding, the frame-rate reduction and the downscaling; Python only sees a few
tiny frames a second. The subprocess is killed (its whole process group) when the reading task
is cancelled or fails, so a cancelled job stops decoding at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from clipforge.render.geometry import even

GreyFrame = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class FrameSampling:
    """Which frames to take: ``fps`` frames a second of ``[start, start + duration)``, ``width`` wide."""

    start: float
    duration: float
    fps: float
    width: int

    def size(self, source_width: int, source_height: int) -> tuple[int, int]:
        width = min(even(self.width), even(source_width))
        return width, even(source_height * width / source_width)


@dataclass(frozen=True)
class SampledFrame:
    time: float  # seconds from the start of the sampled stretch
    pixels: GreyFrame
    scale: float  # source pixels per sampled pixel


class FrameSamplingError(RuntimeError):
    """ffmpeg could not decode the stretch."""

    def __init__(self, stderr_tail: str) -> None:
        super().__init__(stderr_tail.splitlines()[-1] if stderr_tail.strip() else "ffmpeg failed")
        self.stderr_tail = stderr_tail


def sampling_command(video: Path, sampling: FrameSampling, size: tuple[int, int]) -> list[str]:
    width, height = size
    return [
        "ffmpeg",
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        # Only a few frames a second are kept, so decode cheaply: no deblocking, and no frames
        # that nothing else refers to (the nearest decoded frame stands in for a skipped one).
        "-skip_loop_filter",
        "all",
        "-skip_frame",
        "noref",
        "-ss",
        f"{sampling.start:.3f}",
        "-t",
        f"{sampling.duration:.3f}",
        "-i",
        str(video),
        "-map",
        "0:v:0",
        "-vf",
        f"fps={sampling.fps:g},scale={width}:{height}:flags=area,format=gray",
        "-f",
        "rawvideo",
        "pipe:1",
    ]


async def sample_frames(
    video: Path, sampling: FrameSampling, source_width: int, source_height: int
) -> AsyncIterator[SampledFrame]:
    """Yield the sampled frames in order. Raises :class:`FrameSamplingError` if ffmpeg fails."""
    width, height = sampling.size(source_width, source_height)
    frame_bytes = width * height
    scale = source_width / width
    proc = await asyncio.create_subprocess_exec(
        *sampling_command(video, sampling, (width, height)),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group, so it can be stopped as a whole
    )
    assert proc.stdout is not None and proc.stderr is not None
    stderr_reader = asyncio.ensure_future(proc.stderr.read())
    index = 0
    try:
        while True:
            try:
                raw = await proc.stdout.readexactly(frame_bytes)
            except asyncio.IncompleteReadError:
                break
            pixels = np.frombuffer(raw, dtype=np.uint8).reshape(height, width)
            yield SampledFrame(time=index / sampling.fps, pixels=pixels, scale=scale)
            index += 1
        returncode = await proc.wait()
        stderr = (await stderr_reader).decode("utf-8", errors="replace").strip()
        if returncode != 0:
            raise FrameSamplingError(stderr or f"ffmpeg exited with {returncode}")
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            # On Python 3.11 wait() returns only once every pipe is closed, and a stdout we
            # stopped reading is paused with frames still in it: drain it to its EOF first.
            await proc.stdout.read()
            await proc.wait()
        stderr_reader.cancel()
