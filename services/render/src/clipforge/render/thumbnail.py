"""Which frame of the hook makes the clip's thumbnail, and taking it out as a JPEG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from clipforge.render.analysis import FrameFacts
from clipforge.shared.process import ProcessResult, run_process

# Too dark or too washed out to show anything, whatever its sharpness.
_DARKEST, _BRIGHTEST = 24.0, 235.0
# The first instant is often a cut or a fade, and a face in the picture makes a better poster.
_SKIP_SECONDS = 0.25
_FACE_BONUS = 1.5


def thumbnail_time(frames: Sequence[FrameFacts], window: float, duration: float) -> float:
    """The sharpest well-exposed moment within the first ``window`` seconds, preferring faces."""
    candidates = [f for f in frames if f.time <= window and _DARKEST <= f.brightness <= _BRIGHTEST and f.sharpness > 0]
    late_enough = [f for f in candidates if f.time >= _SKIP_SECONDS] or candidates
    if not late_enough:
        return clamp_time(min(1.0, duration / 2), duration)
    best = max(late_enough, key=lambda f: f.sharpness * (_FACE_BONUS if f.faces else 1.0))
    return clamp_time(best.time, duration)


def clamp_time(time: float, duration: float) -> float:
    # Keep clear of the very end so a frame is always there to take.
    return max(0.0, min(time, duration - 0.2))


def extract_command(video: Path, at: float, out_path: Path, quality: int) -> list[str]:
    return [
        "ffmpeg",
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-ss",
        f"{at:.3f}",
        "-i",
        str(video),
        "-map",
        "0:v:0",
        "-frames:v",
        "1",
        "-vf",
        "format=yuvj420p",
        "-q:v",
        str(quality),
        "-update",
        "1",
        str(out_path),
    ]


async def extract_thumbnail(video: Path, at: float, out_path: Path, quality: int) -> ProcessResult:
    """One frame of ``video`` at ``at`` seconds as a JPEG."""
    return await run_process(extract_command(video, at, out_path, quality))
