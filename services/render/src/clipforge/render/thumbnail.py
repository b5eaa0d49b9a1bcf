"""The clip's thumbnail: the sharpest well-exposed frame of the hook, as a JPEG.

The frames to choose from are JPEGs of the hook's first seconds, a few a second, written by
the same ffmpeg pass that renders the clip (or, for a stream copy, by one short extraction
beside the copy); the best one is kept as ``clip-NN.jpg`` and the rest deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2

from clipforge.render.faces import sharpness
from clipforge.shared.process import ProcessResult, run_process

HOOK_FPS = 4.0
HOOK_PATTERN = "hook-%02d.jpg"
# Too dark or too washed out to show anything, whatever its sharpness.
_DARKEST, _BRIGHTEST = 24.0, 235.0
# The first instant is often a cut or a fade, and a face in the picture makes a better poster.
_SKIP_SECONDS = 0.25
_FACE_BONUS = 1.5


@dataclass(frozen=True)
class HookFrames:
    """Where the pass writes the hook's frames: ``folder/hook-01.jpg``, ... at ``HOOK_FPS``."""

    folder: Path
    seconds: float

    @property
    def pattern(self) -> Path:
        return self.folder / HOOK_PATTERN

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("hook-*.jpg"))


@dataclass(frozen=True)
class Candidate:
    path: Path
    time: float
    sharpness: float
    brightness: float


def _candidate(path: Path, index: int) -> Candidate | None:
    # Half-size grey decoding: plenty to compare sharpness, and quick.
    pixels = cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_2)
    if pixels is None:
        return None
    return Candidate(path, index / HOOK_FPS, sharpness(pixels), float(pixels.mean()))


def best_frame(files: list[Path], has_face: Callable[[float], bool] = lambda _time: False) -> Path | None:
    """The sharpest well-exposed frame, preferring frames with a face and skipping the first instant."""
    candidates = [c for c in (_candidate(path, index) for index, path in enumerate(files)) if c is not None]
    exposed = [c for c in candidates if _DARKEST <= c.brightness <= _BRIGHTEST] or candidates
    late_enough = [c for c in exposed if c.time >= _SKIP_SECONDS] or exposed
    if not late_enough:
        return None
    return max(late_enough, key=lambda c: c.sharpness * (_FACE_BONUS if has_face(c.time) else 1.0)).path


def keep_best(hook: HookFrames, thumbnail: Path, has_face: Callable[[float], bool] = lambda _time: False) -> bool:
    """Move the best hook frame to ``thumbnail`` and delete the others; False if there was none."""
    files = hook.files()
    best = best_frame(files, has_face)
    if best is not None:
        best.replace(thumbnail)
    for path in files:
        path.unlink(missing_ok=True)
    return best is not None


def hook_command(video: Path, start: float, hook: HookFrames, quality: int) -> list[str]:
    """Only the hook frames, straight from the source (for a stream copy, which decodes nothing)."""
    return [
        "ffmpeg",
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-ss",
        f"{start:.3f}",
        "-t",
        f"{hook.seconds:.3f}",
        "-i",
        str(video),
        "-map",
        "0:v:0",
        "-vf",
        f"fps={HOOK_FPS:g},format=yuvj420p",
        "-q:v",
        str(quality),
        str(hook.pattern),
    ]


async def extract_hook(video: Path, start: float, hook: HookFrames, quality: int) -> ProcessResult:
    return await run_process(hook_command(video, start, hook, quality))
